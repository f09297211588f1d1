"""Time the default `fiubench data build` (400 identities x 20 QA + 40 holdout) vs the 60 s target.

Usage: python benchmarks/bench_data_build.py [--repeats N] [--image-size S]
Prints the wall time of each build, of face rendering alone, and the ratio to the target.
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from pathlib import Path

from fiubench.data.build import DataConfig, build_dataset
from fiubench.data.faces import render_face, sample_attributes

TARGET_S = 60.0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--image-size", type=int, default=64)
    args = ap.parse_args()
    cfg = DataConfig(image_size=args.image_size)
    times = []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.repeats):
            t = time.perf_counter()
            build_dataset(cfg, Path(tmp) / f"ds{i}")
            times.append(time.perf_counter() - t)
    rng = random.Random(0)
    attrs = [sample_attributes(rng) for _ in range(200)]
    t = time.perf_counter()
    for i, a in enumerate(attrs):
        render_face(a, args.image_size, seed=i)
    per_face_ms = (time.perf_counter() - t) / len(attrs) * 1000
    best = min(times)
    print(f"default build ({cfg.n_identities} x {cfg.qa_per_identity} QA + {cfg.n_holdout()} holdout, "
          f"{args.image_size}px): " + ", ".join(f"{x:.2f}s" for x in times))
    print(f"best {best:.2f}s, median {statistics.median(times):.2f}s; target {TARGET_S:.0f}s; "
          f"ratio best/target = {best / TARGET_S:.3f}")
    print(f"render_face: {per_face_ms:.2f} ms per face at {args.image_size}px")


if __name__ == "__main__":
    main()
