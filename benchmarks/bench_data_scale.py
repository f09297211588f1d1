"""Does `fiubench data build --identities N` scale linearly, with bounded memory?

Usage: python benchmarks/bench_data_scale.py [--sizes 400 4000 40000] [--image-size 64]

Each size is built by `fiubench data build` in a fresh process (so that its peak
resident memory is its own). Prints, per size: wall time, time per identity, the
time ratio to the smallest size next to the size ratio (linear scaling: equal), and
the peak memory and its growth (bounded memory: far below the size ratio).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

CHILD = """
import json, resource, sys, time
from fiubench.cli.main import main
t = time.perf_counter()
rc = main(["data", "build", "--identities", sys.argv[1], "--image-size", sys.argv[2], "--out", sys.argv[3]])
dt = time.perf_counter() - t
print(json.dumps({"rc": rc, "seconds": dt, "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def build(n: int, image_size: int, out: Path) -> dict:
    proc = subprocess.run([sys.executable, "-c", CHILD, str(n), str(image_size), str(out)],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"build of {n} identities failed:\n{proc.stderr[-3000:]}")
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    if res["rc"] != 0:
        raise SystemExit(f"build of {n} identities exited {res['rc']}:\n{proc.stderr[-3000:]}")
    res["bytes"] = sum(f.stat().st_size for f in out.rglob("*") if f.is_file())
    return res


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[400, 4000, 40000])
    ap.add_argument("--image-size", type=int, default=64)
    args = ap.parse_args(argv)
    sizes = sorted(args.sizes)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in sizes:
            res = build(n, args.image_size, Path(tmp) / f"ds{n}")
            rows.append((n, res))
            print(f"{n:>7} identities: {res['seconds']:8.1f} s  ({res['seconds'] / n * 1000:.2f} ms/identity), "
                  f"peak memory {res['peak_mib']:.0f} MiB, output {res['bytes'] / 2**20:.1f} MiB", flush=True)
    n0, r0 = rows[0]
    print(f"\nrelative to {n0} identities (linear time: time ratio = size ratio; bounded memory: "
          "memory ratio far below it):")
    for n, r in rows[1:]:
        print(f"  {n:>7}: size x{n / n0:.0f}  time x{r['seconds'] / r0['seconds']:.2f}  "
              f"(per identity x{(r['seconds'] / n) / (r0['seconds'] / n0):.2f})  "
              f"peak memory x{r['peak_mib'] / r0['peak_mib']:.2f}")


if __name__ == "__main__":
    main()
