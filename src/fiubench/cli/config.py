"""`fiubench config`: show or validate a run configuration (nothing heavy is loaded).

    fiubench config show [--preset P] [--config FILE]   # the resolved YAML
    fiubench config validate FILE [FILE ...]           # exit 2 with a did-you-mean error
    fiubench config list                               # the shipped presets
"""

from __future__ import annotations

import argparse
from pathlib import Path

HELP = "show or validate a run configuration"


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    show = sub.add_parser("show", help="print the resolved run configuration as YAML")
    show.add_argument("--preset", help="a shipped preset (default tiny; see `fiubench config list`)")
    show.add_argument("--config", type=Path, help="a YAML run config (applied on top of its base: preset)")
    val = sub.add_parser("validate", help="check run config file(s) without running anything")
    val.add_argument("files", nargs="+", type=Path, metavar="FILE")
    sub.add_parser("list", help="list the shipped presets and sweep configs")


def run(args: argparse.Namespace) -> int:
    from fiubench.pipeline.run import config_yaml
    from fiubench.presets import list_presets, load_run_config

    if args.action == "list":
        for name in list_presets():
            cfg = load_run_config(name)
            n = len(cfg.variants())
            print(f"{name:18s} {', '.join(cfg.methods)} on {', '.join(cfg.forget_splits)}"
                  + (f" x {n} variants" if n > 1 else ""))
        return 0
    if args.action == "show":
        print(config_yaml(load_run_config(args.preset, args.config)), end="")
        return 0
    for f in args.files:
        cfg = load_run_config(None, f)
        print(f"{f}: ok ({len(cfg.methods)} method(s) x {len(cfg.forget_splits)} split(s) x "
              f"{len(cfg.variants())} variant(s))")
    return 0
