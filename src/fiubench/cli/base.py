"""`fiubench base build`: (re)train the embedded tiny base VLM from scratch."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

HELP = "build the embedded tiny base VLM"


def default_out() -> Path:
    home = os.environ.get("FIUBENCH_HOME")
    return (Path(home) if home else Path.home() / ".cache" / "fiubench") / "tiny-base"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    b = sub.add_parser("build", help="train the tiny base on procedural faces (never the benchmark's)")
    b.add_argument("--out", type=Path, default=None,
                   help=f"output checkpoint directory (default: {default_out()})")
    b.add_argument("--install", action="store_true",
                   help="write into the package assets (what ModelConfig(name_or_path='tiny') loads)")
    b.add_argument("--seed", type=int, default=0)
    b.add_argument("--steps", type=int, default=None, help="optimizer steps (default 700)")
    b.add_argument("--batch-size", type=int, default=None)
    b.add_argument("--faces", type=int, default=None, help="training faces (default 800)")
    b.add_argument("--eval-faces", type=int, default=None, help="unseen faces for the accuracy (default 50)")
    b.add_argument("--identity-people", type=int, default=None,
                   help="benchmark identities for the knows-nobody check (default 20)")
    b.add_argument("--threads", type=int, default=None,
                   help="torch CPU threads (default 1: reproducible, and fastest on a busy machine)")
    b.add_argument("--lr", type=float, default=None)
    b.add_argument("--curriculum", choices=("contrastive", "benchmark"), default=None,
                   help="training QA: the dataset's own visual QA mix (benchmark, default) or balanced "
                        "hard-negative yes/no pairs + choice questions (contrastive)")
    b.add_argument("--vision-steps", type=int, default=None,
                   help="vision pre-training steps (attribute classification; default 0 = none)")
    b.add_argument("--vision-faces", type=int, default=None, help="faces for vision pre-training (default 3000)")
    b.add_argument("--loss", choices=("token", "example"), default=None,
                   help="stage-B loss average: over all answer tokens (token, default) or per example "
                        "(example: a one-token yes/no answer weighs as much as a long description)")
    b.add_argument("--short-answers", action="store_true", default=None,
                   help="contrastive curriculum: add one-word open and choice answers")
    b.add_argument("--stated-pairs", action="store_true", default=None,
                   help="contrastive curriculum: add each yes/no pair behind a statement of the true value")
    b.add_argument("--lm-layers", type=int, default=None, help="language-model layers (default 2)")
    b.add_argument("--lm-hidden", type=int, default=None, help="language-model width (default 128)")
    b.add_argument("--lm-heads", type=int, default=None,
                   help="attention heads per language-model layer (default 4; must divide --lm-hidden)")
    b.add_argument("--vision-hidden", type=int, default=None, help="vision-tower width (default 64)")
    b.add_argument("--vision-layers", type=int, default=None, help="vision-tower layers (default 2)")
    b.add_argument("--vision-patch", type=int, choices=(4, 8, 16, 32), default=None,
                   help="vision-tower patch size in pixels of the 64 px image (default 16: 16 image "
                        "tokens; 8: 64 finer ones)")
    b.add_argument("--vision-features", choices=("default", "full"), default=None,
                   help="image tokens the language model reads: the 16 patches (default) or CLS + "
                        "patches (full; stage A then trains CLS to hold every attribute)")
    b.add_argument("--device", default=None,
                   help="cpu (default) or cuda[:N]: a GPU builds ~20x faster (weights not bit-identical)")
    b.add_argument("--caption-fraction", type=float, default=None,
                   help="share of each batch that is dense descriptions (default 0.5)")
    b.add_argument("--distil-steps", type=int, default=None,
                   help="stage C: yes/no distilled from the same questions after a statement of the true "
                        "value in text (fiubench.tiny.distil; default 0 = off)")
    b.add_argument("--init", type=str, default=None,
                   help="start from this checkpoint (an earlier build) instead of random weights; "
                        "--steps 0 then skips stage B")
    b.add_argument("--distil-weight", type=float, default=None,
                   help="stage C: weight of the hidden-state match (default 3.0)")
    b.add_argument("--distil-open-fraction", type=float, default=None,
                   help="stage C: share of each batch that is open questions (default 0.25)")
    b.add_argument("--distil-caption-fraction", type=float, default=None,
                   help="stage C: share of each batch that is stage B's dense descriptions of the same "
                        "faces (default 0)")
    b.add_argument("--train-vision", action="store_true", default=None,
                   help="stages B and C train the vision tower too (default: frozen once stage A or "
                        "--init has trained it)")
    b.add_argument("--overwrite", action="store_true", help="replace an existing --out directory")


def run(args: argparse.Namespace) -> int:
    from fiubench.errors import FiubenchError
    from fiubench.tiny import BaseBuildConfig, base_dir, build_base
    from fiubench.utils.io import atomic_write_json
    from fiubench.utils.provenance import provenance

    if args.install and args.out is not None:
        raise FiubenchError("base build: give --out or --install, not both")
    out = base_dir() if args.install else (args.out or default_out())
    if out.exists() and any(out.iterdir()) and not (args.overwrite or args.install):
        raise FiubenchError(f"base build: {out} already exists (pass --overwrite to replace it)")
    cfg = BaseBuildConfig(seed=args.seed)
    for arg, field in (("steps", "steps"), ("batch_size", "batch_size"), ("faces", "n_faces"),
                       ("eval_faces", "n_eval_faces"), ("identity_people", "n_identity_people"),
                       ("threads", "threads"), ("lr", "lr"), ("curriculum", "curriculum"),
                       ("vision_steps", "vision_steps"), ("vision_faces", "vision_faces"), ("loss", "loss"),
                       ("lm_layers", "lm_layers"), ("short_answers", "short_answers"),
                       ("stated_pairs", "stated_pairs"), ("caption_fraction", "caption_fraction"),
                       ("distil_steps", "distil_steps"), ("distil_weight", "distil_weight"),
                       ("init", "init"), ("lm_hidden", "lm_hidden"), ("vision_hidden", "vision_hidden"),
                       ("vision_layers", "vision_layers"), ("device", "device"),
                       ("vision_features", "vision_features"), ("vision_patch", "vision_patch"),
                       ("lm_heads", "lm_heads"),
                       ("distil_open_fraction", "distil_open_fraction"),
                       ("distil_caption_fraction", "distil_caption_fraction"),
                       ("train_vision", "train_vision_in_qa")):
        value = getattr(args, arg)
        if value is not None:
            setattr(cfg, field, value)
    cfg.validate()
    metrics = build_base(cfg, out)
    record: dict = {"metrics": metrics, "provenance": provenance(cfg, cfg.seed)}
    if cfg.init is not None and (Path(cfg.init) / "base_build.json").is_file():
        # the chain of builds this one continues, so the base can be rebuilt from scratch
        import json

        record["init_build"] = json.loads((Path(cfg.init) / "base_build.json").read_text())
    atomic_write_json(out / "base_build.json", record)
    print(f"\nbase written to {out}")
    print(f"  visual QA on {metrics['visual_questions']} questions about {cfg.n_eval_faces} unseen faces:")
    print(f"    open   exact match {metrics['visual_open_accuracy']:.3f}  (chance {metrics['visual_open_chance']:.3f})")
    print(f"    yes/no accuracy    {metrics['visual_yesno_accuracy']:.3f}  (chance 0.500)")
    print(f"    answers ended by end-of-turn: {metrics['stopped_before_limit']:.3f}")
    weak = {k: v for k, v in metrics["visual_accuracy_by_attribute"].items() if v < 0.8}
    if weak:
        print("    below 0.8: " + ", ".join(f"{k} {v:.2f}" for k, v in weak.items()))
    print(f"  identity questions about {cfg.n_identity_people} benchmark people ({metrics['identity_questions']} QA):")
    print(f"    multiple choice (true vs 3 perturbed) {metrics['identity_mc_accuracy']:.3f}  (chance 0.250)")
    print(f"    keyword exact match of answers        {metrics['identity_keyword_em']:.3f}  (knows nobody: ~0)")
    seconds = sum(metrics.get(k, 0.0) for k in ("vision_seconds", "train_seconds", "distil_seconds"))
    print(f"  trained in {seconds:.0f} s")
    return 0
