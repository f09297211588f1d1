"""``fiubench learn``: stage 1, fine-tune a VLM on the identities of a split."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

HELP = "stage 1: fine-tune a VLM on the identities (full or retain)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    from fiubench.train.cliargs import add_model_args, add_train_args

    p.add_argument("--data", type=Path, default=None, help="dataset directory (fiubench data build)")
    p.add_argument("--split", default=None, help="split to learn: full (fine-tuned model) or retain (retain model)")
    p.add_argument("--out", type=Path, default=None, help="run directory")
    p.add_argument("--visual-replay", type=int, default=None, metavar="N",
                   help="mix N visual-attribute QA about procedural (non-benchmark) faces into "
                        "training so a small VLM keeps answering visual questions (default 0; "
                        "the tiny preset of `fiubench run` uses 240)")
    p.add_argument("--visual-keep", type=int, default=None, metavar="N",
                   help="train N yes/no questions about procedural faces per step under the tiny base's "
                        "stage-C loss, so a small VLM keeps *comparing* what it sees (default 0; "
                        "fiubench.tiny.keep)")
    p.add_argument("--train-phrasings", type=int, default=None, metavar="N",
                   help="also train each QA under N question phrasings that no evaluation question or "
                        "paraphrase uses (fiubench.data.phrasings; default 0; needs a built dataset, "
                        "not the official release)")
    p.add_argument("--preset", default=None, choices=["tiny", "paper"],
                   help="training recipe: tiny (memorises on the embedded tiny VLM, default) or paper "
                        "(FIUBench: lr 2e-5, 10 epochs, bf16)")
    add_model_args(p, required=False)
    add_train_args(p)


def run(args: argparse.Namespace) -> int:
    import json

    from fiubench import tiny
    from fiubench.errors import ConfigError
    from fiubench.train import LearnConfig, learn
    from fiubench.train.cliargs import model_overrides, read_yaml, train_overrides
    from fiubench.train.config import LEARN_PRESETS
    from fiubench.utils.config import from_dict

    raw = read_yaml(args.config)
    preset = args.preset or raw.pop("preset", None) or "tiny"
    if preset not in LEARN_PRESETS:
        raise ConfigError(f"preset: unknown {preset!r}; known: {', '.join(LEARN_PRESETS)}")
    raw.pop("preset", None)
    for key in ("data", "split", "out"):
        if getattr(args, key) is not None:
            raw[key] = str(getattr(args, key))
    if args.visual_replay is not None:
        raw["visual_replay"] = args.visual_replay
    if args.visual_keep is not None:
        raw["visual_keep"] = args.visual_keep
    if args.train_phrasings is not None:
        raw["train_phrasings"] = args.train_phrasings
    for key in ("data", "out"):
        if key not in raw:
            raise ConfigError(f"--{key} is required")
    raw["model"] = model_overrides(args, raw.get("model") or {})
    train = {k: list(v) if isinstance(v, tuple) else v for k, v in LEARN_PRESETS[preset].items()}
    raw["train"] = train_overrides(args, {**train, **(raw.get("train") or {})})
    cfg = from_dict(LearnConfig, raw, where="learn")
    # the tiny base's replay and keep term, injected: train/ never imports fiubench.tiny
    out = learn(cfg, overwrite=args.overwrite, terms=tiny.training_terms(cfg), replay=tiny.visual_replay)
    summary = json.loads((out / "summary.json").read_text())
    print(f"learned {cfg.split}: {summary['steps']} steps, final loss {summary['final_loss']:.4f}, "
          f"{summary['wall_time_s']:.1f} s -> {out / 'model'}", file=sys.stderr)
    return 0
