"""`fiubench report RUN_DIR`: (re)write the report of a run from its results.sqlite.

    fiubench report runs/tiny [--db PATH] [--out DIR] [--run NAME]

Writes DIR (default RUN_DIR/report): index.html (self-contained), report.md,
tables/*.csv and *.tex, plots/*.png.
"""

from __future__ import annotations

import argparse
from pathlib import Path

HELP = "write the report (HTML, Markdown, CSV, LaTeX)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_dir", type=Path, help="a `fiubench run` directory (holding results.sqlite)")
    p.add_argument("--db", type=Path, help="results database (default RUN_DIR/results.sqlite)")
    p.add_argument("--out", type=Path, help="report directory (default RUN_DIR/report)")
    p.add_argument("--run", help="only this run of the database (default: all)")
    p.add_argument("--title", default=None, help="page title")


def run(args: argparse.Namespace) -> int:
    from fiubench.errors import FiubenchError
    from fiubench.report.build import write_report

    db = args.db or args.run_dir / "results.sqlite"
    if not db.is_file():
        raise FiubenchError(f"{db}: no results database (run `fiubench run --out {args.run_dir}` first, or pass --db)")
    methods = None
    cfg_file = args.run_dir / "run_config.yaml"
    if cfg_file.is_file():
        import yaml

        methods = (yaml.safe_load(cfg_file.read_text(encoding="utf-8")) or {}).get("methods")
    title = args.title or f"FIUBench report: {args.run_dir.resolve().name}"
    index = write_report(db, args.out or args.run_dir / "report", run=args.run, methods=methods, title=title)
    print(index)
    return 0
