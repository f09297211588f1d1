"""``fiubench sweep``: ``fiubench run`` with hyperparameter selection on validation identities.

    fiubench sweep [--preset P] [--config FILE] [--lr 1e-4 3e-4 ...] [--epochs ...] [--max-steps ...]
                   [--random N] [--min-utility-ratio 0.9] [--out DIR] [--jobs N | --executor ray]

Every method tries each setting on the validation identities (``forget_val`` +
``retain_val``), the best under the selection rule (docs/methods.md) then runs on the
evaluated forget splits, and the report's selection table says how each setting was
chosen. Flags fill the config's ``search:`` section; a dataset built by the run gets
validation identities (``data.val_percent: 10``) and reports utility on
``retain_test`` unless the config says otherwise.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

HELP = "tune each method on validation identities, then run the chosen settings (no peeking)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    from fiubench.cli import run as cli_run

    cli_run.add_arguments(p)  # --preset, --config, --out, --no-report, --jobs, --executor...
    g = p.add_argument_group("search (fills the config's search: section)")
    g.add_argument("--lr", type=float, nargs="+", help="unlearning learning rates to try")
    g.add_argument("--epochs", type=int, nargs="+", help="unlearning epochs to try")
    g.add_argument("--max-steps", type=int, nargs="+", help="unlearning optimiser steps to try")
    g.add_argument("--random", type=int, metavar="N", help="random search: N settings per method from the grid")
    g.add_argument("--min-utility-ratio", type=float, help="utility floor as a fraction of the fine-tuned model's")


def overrides(args: argparse.Namespace, raw: dict[str, Any]) -> dict[str, Any]:
    """The run-config keys the flags set (on top of ``raw``, the merged config)."""
    search: dict[str, Any] = {}
    for flag, key in (("lr", "lr"), ("epochs", "epochs"), ("max_steps", "max_steps"),
                      ("min_utility_ratio", "min_utility_ratio")):
        if getattr(args, flag) is not None:
            search[key] = getattr(args, flag)
    if args.random is not None:
        search.update(strategy="random", n_trials=args.random)
    elif (raw.get("search") or {}).get("strategy", "none") == "none":
        search["strategy"] = "grid"
    over: dict[str, Any] = {"search": search}
    if raw.get("dataset") is None and not (raw.get("data") or {}).get("val_percent"):
        over["data"] = {"val_percent": 10}
    if (raw.get("eval") or {}).get("retain_split", "retain") == "retain":
        over["eval"] = {"retain_split": "retain_test"}
    return over


def run(args: argparse.Namespace) -> int:
    from fiubench.cli import run as cli_run
    from fiubench.errors import ConfigError
    from fiubench.presets import load_run_config, raw_config

    raw = raw_config(args.preset, args.config)
    cfg = load_run_config(args.preset, args.config, overrides(args, raw))
    if not (cfg.search.lr or cfg.search.epochs or cfg.search.max_steps or cfg.search.method_options):
        raise ConfigError("sweep: nothing to search; give --lr/--epochs/--max-steps or a search: section")
    if args.out is None:
        args.out = Path("runs") / f"{cfg.name}-sweep"
    return cli_run.run(args, cfg)
