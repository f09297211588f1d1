"""Do the verdicts hold? Coverage and false-verdict rates under a known truth.

    python benchmarks/verdict_coverage.py [RUN_DIR] [--sims 400] [--n-boot 999] [--k 10]

Simulates from a finished run's own per-sample records (without RUN_DIR: runs the
smoke preset into a temporary directory first, ~1 minute on an idle machine, whose
handful of people only exercises the path). Per forget split, for k = 4, 10, 20, 40
identities drawn with replacement from the run's forget identities
(:mod:`fiubench.metrics.verdict_sim`):

* coverage of the 95 % person-level BCa interval of forget EM (the fine-tuned model's,
  and fine-tuned - retain paired) and of the fine-tuned model's mean ln R;
* the false better/worse rate of the verdict (sign-flip + TOST) between two random
  halves of each person's answers of one model (exchangeable, truth 0).

Targets (issue 31) at the default k (--k, 10 = the default run's forget identities):
coverage >= 0.93 and false better/worse <= 6 %. Prints the rows and PASS/FAIL per
target; exits 1 when a target fails.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

COVERAGE_TARGET = 0.93
FALSE_TARGET = 0.06


def _smoke_run(tmp: Path) -> Path:
    from fiubench.pipeline.run import run_pipeline
    from fiubench.presets import load_run_config

    out = tmp / "smoke"
    run_pipeline(load_run_config("smoke", None), out, report=False, log=lambda _m: None)
    return out


def _sources(run_dir: Path) -> list[tuple[str, int, dict, dict]]:
    from fiubench.pipeline.audit import _split_groups, sim_sources

    out = []
    for split, info in _split_groups(run_dir).items():
        k, _retain, sources, nulls = sim_sources(split, info)
        out.append((split, k, sources, nulls))
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("run_dir", type=Path, nargs="?")
    p.add_argument("--sims", type=int, default=400)
    p.add_argument("--n-boot", type=int, default=999)
    p.add_argument("--k", type=int, default=10, help="the default k the targets apply at")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    from fiubench.eval.audit import simulations
    from fiubench.metrics.verdict_sim import KS

    ks = tuple(sorted({*KS, args.k}))
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = args.run_dir or _smoke_run(Path(tmp))
        ok = True
        for split, n_people, sources, nulls in _sources(run_dir):
            print(f"## {run_dir} {split}: {n_people} forget identities; {args.sims} simulated runs per row")
            t0 = time.perf_counter()
            res = simulations(sources, nulls, ks=ks, n_sims=args.sims, n_boot=args.n_boot, seed=args.seed)
            print(f"{'figure':52s} {'k':>3s} {'coverage':>9s} {'±SE':>6s} {'width':>7s}")
            for c in res["coverage"]:
                flag = ""
                if c["k"] == args.k:
                    passed = c["coverage"] >= COVERAGE_TARGET
                    ok &= passed
                    flag = "PASS" if passed else f"FAIL (< {COVERAGE_TARGET})"
                print(f"{c['figure']:52s} {c['k']:3d} {c['coverage']:9.3f} {c['coverage_se']:6.3f} "
                      f"{c['mean_width']:7.3f} {flag}")
            print(f"{'figure':52s} {'k':>3s} {'false b/w':>9s} {'±SE':>6s} {'equiv':>7s} {'undec':>7s}")
            for n in res["null"]:
                flag = ""
                if n["k"] == args.k:
                    passed = n["false_better_worse"] <= FALSE_TARGET
                    ok &= passed
                    flag = "PASS" if passed else f"FAIL (> {FALSE_TARGET})"
                print(f"{n['figure']:52s} {n['k']:3d} {n['false_better_worse']:9.3f} {n['false_se']:6.3f} "
                      f"{n['equivalent']:7.3f} {n['undecided']:7.3f} {flag}")
            print(f"({time.perf_counter() - t0:.0f} s)")
    print("all targets met" if ok else "TARGET MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
