"""``fiubench unlearn``: stage 2, run an unlearning method on a forget split."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

HELP = "stage 2: run an unlearning method on a forget split"


def add_arguments(p: argparse.ArgumentParser) -> None:
    from fiubench.train.cliargs import add_model_args, add_train_args

    p.add_argument("--data", type=Path, default=None, help="dataset directory")
    p.add_argument("--method", default=None, help="unlearning method (see `fiubench methods`; default ga)")
    p.add_argument("--method-opt", action="append", default=[], metavar="KEY=VALUE",
                   help="a method option, e.g. beta=0.1 (repeatable)")
    p.add_argument("--forget", default=None, help="forget split (default forget5)")
    p.add_argument("--retain", default=None, help="retain split paired with forget batches (default retain)")
    p.add_argument("--out", type=Path, default=None, help="run directory")
    p.add_argument("--loss-threshold", default=None,
                   help="early stop when the step loss falls below this; 'none' disables "
                        "(default: the method's, -20 for GA/GD/KL as in the paper)")
    p.add_argument("--reference", choices=("auto", "copy"), default=None,
                   help="reference model of KL/NPO/RMU...: 'auto' (default) uses the LoRA run's model with its "
                        "adapter disabled when that is the fine-tuned model, else a second copy; 'copy' always "
                        "loads the copy")
    add_model_args(p, required=False)
    add_train_args(p)


def run(args: argparse.Namespace) -> int:
    import json

    from fiubench.errors import ConfigError
    from fiubench.methods.registry import parse_option_value
    from fiubench.train import UnlearnConfig, unlearn
    from fiubench.train.cliargs import model_overrides, read_yaml, train_overrides
    from fiubench.utils.config import from_dict

    raw = read_yaml(args.config)
    for key in ("data", "method", "forget", "retain", "out", "reference"):
        if getattr(args, key) is not None:
            raw[key] = str(getattr(args, key))
    for key in ("data", "out"):
        if key not in raw:
            raise ConfigError(f"--{key} is required")
    raw["model"] = model_overrides(args, raw.get("model") or {})
    if "name_or_path" not in raw["model"]:
        raise ConfigError("--model is required (the fine-tuned model directory from `fiubench learn`)")
    opts = dict(raw.get("method_options") or {})
    for item in args.method_opt:
        if "=" not in item:
            raise ConfigError(f"--method-opt {item!r}: expected KEY=VALUE")
        k, v = item.split("=", 1)
        opts[k.strip()] = parse_option_value(v)
    raw["method_options"] = opts
    if args.loss_threshold is not None:
        if args.loss_threshold.strip().lower() in ("none", "off", "null"):
            raw["early_stop"] = False
        else:
            try:
                raw["loss_threshold"] = float(args.loss_threshold)
            except ValueError as e:
                raise ConfigError(f"--loss-threshold: expected a number or 'none', got {args.loss_threshold!r}") from e
    raw["train"] = train_overrides(args, raw.get("train") or {})
    cfg = from_dict(UnlearnConfig, raw, where="unlearn")
    out = unlearn(cfg, overwrite=args.overwrite)
    s = json.loads((out / "summary.json").read_text())
    stop = " (early stop)" if s.get("stopped_early") else ""
    print(f"unlearned {cfg.forget} with {s['method']}: {s['steps']} steps{stop}, final loss "
          f"{s['final_loss']:.4f}, {s['wall_time_s']:.1f} s -> {out / 'model'}", file=sys.stderr)
    return 0
