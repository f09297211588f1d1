"""`fiubench audit RUN_DIR`: do this run's verdicts hold? A statistical audit.

    fiubench audit runs/tiny [--sims N] [--n-boot B] [--seed S]

Prints, per forget split: coverage of the person-level intervals and false
better/worse rates in simulations from the run's own people (k = 4, 10, 20, 40), the
calibration check over identities (per split and per QA field) and the power table.
Writes RUN_DIR/audit.json and, when the run has a report, rewrites it with its
"Statistical audit" section.

Exit status: 0 calibrated; 3 (``EXIT_MISCALIBRATED``) the calibration check failed (a
miscalibrated instrument: the truth-ratio and KS figures measure the dataset, not
forgetting); 2 bad input (not a finished run, bad option), as for every command; 1 a
crash (an unexpected error, with its traceback). The audit ran and wrote audit.json
for 0 and 3.
"""

from __future__ import annotations

import argparse
from pathlib import Path

HELP = "statistical audit of a run: interval coverage, false verdicts, calibration, power"
# its own code: 1 is a crash (fiubench.cli.main), 2 bad input (every command, the stage-1 gate)
EXIT_MISCALIBRATED = 3
EPILOG = ("exit status: 0 calibrated; 3 the calibration check failed (miscalibrated instrument); "
          "2 bad input; 1 a crash")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.epilog = EPILOG
    p.add_argument("run_dir", type=Path, help="a finished `fiubench run` directory")
    p.add_argument("--sims", type=int, default=100, metavar="N",
                   help="simulated runs per figure and k (default 100: coverage +- ~2 %%)")
    p.add_argument("--n-boot", type=int, default=499, metavar="B", help="bootstrap resamples per simulated run")
    p.add_argument("--seed", type=int, default=0)


def run(args: argparse.Namespace) -> int:
    from fiubench.errors import ConfigError
    from fiubench.pipeline.audit import run_audit
    from fiubench.report.audit import audit_tables
    from fiubench.report.render import to_markdown

    if not args.run_dir.is_dir():
        raise ConfigError(f"fiubench audit: {args.run_dir}: no such run directory")
    res = run_audit(args.run_dir, n_sims=args.sims, n_boot=args.n_boot, seed=args.seed)
    for t in audit_tables(res):
        print(to_markdown(t))
    if (args.run_dir / "report").is_dir():
        from fiubench.cli import report

        report.run(argparse.Namespace(run_dir=args.run_dir, db=None, out=None, run=None, title=None))
    print("calibration: " + ("ok" if res["calibrated"] else f"FAILED (exit {EXIT_MISCALIBRATED})"))
    return 0 if res["calibrated"] else EXIT_MISCALIBRATED
