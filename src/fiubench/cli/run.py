"""`fiubench run`: the whole benchmark in one command, with a report.

    fiubench run [--preset tiny|smoke|paper|...] [--config FILE] [--out DIR] [--no-report]

Default: the `tiny` preset into ./runs/<name>. Rerunning skips finished steps; a
killed run continues where it stopped; a changed config redoes what it changes.
"""

from __future__ import annotations

import argparse
from pathlib import Path

HELP = "the whole benchmark in one command, with a report"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--preset", help="shipped preset: tiny (default), smoke, paper, ... (`fiubench config list`)")
    p.add_argument("--config", type=Path, help="YAML run config, applied on top of its base: preset")
    p.add_argument("--out", type=Path, help="run directory (default ./runs/<config name>)")
    p.add_argument("--no-report", action="store_true", help="stop after filling results.sqlite")


def run(args: argparse.Namespace) -> int:
    from fiubench.presets import load_run_config

    cfg = load_run_config(args.preset, args.config)  # every key checked before anything heavy
    out = args.out or Path("runs") / cfg.name
    from fiubench.pipeline.run import run_pipeline

    result = run_pipeline(cfg, out, report=not args.no_report)
    print(result)
    return 0
