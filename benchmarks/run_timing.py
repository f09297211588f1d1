"""Where the time of a `fiubench run` goes, from its step markers.

    python benchmarks/run_timing.py runs/tiny [--budget-min 15]

Prints seconds per step kind (data, learn, unlearn, eval) and the total against the
budget (the issue's target: the tiny preset in <= 15 min on a 2-core CPU). Time only
on an otherwise idle machine: concurrent jobs on 2 cores inflate every number.
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("run_dir", type=Path)
    ap.add_argument("--budget-min", type=float, default=15.0)
    args = ap.parse_args()
    per_kind: dict[str, list[float]] = defaultdict(list)
    for marker in sorted((args.run_dir / "steps").glob("*/DONE.json")):
        rec = json.loads(marker.read_text())
        per_kind[rec["step"].split("/")[0]].append(float(rec["seconds"]))
    total = sum(sum(v) for v in per_kind.values())
    for kind, secs in sorted(per_kind.items(), key=lambda kv: -sum(kv[1])):
        print(f"{kind:10s} {len(secs):4d} step(s) {sum(secs):8.1f} s  (mean {sum(secs) / len(secs):6.1f} s)")
    print(f"{'total':10s} {sum(len(v) for v in per_kind.values()):4d} step(s) {total:8.1f} s = "
          f"{total / 60:.1f} min; budget {args.budget_min:.0f} min -> ratio {total / 60 / args.budget_min:.2f}")


if __name__ == "__main__":
    main()
