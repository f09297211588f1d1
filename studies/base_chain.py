"""Build a tiny base as a chain of stage-C links and measure every link on unseen faces.

Usage:
    python studies/base_chain.py --out DIR [--init DIR | --scratch] [--links 6]
        [--faces 3000] [--caption-fraction 0.25] [--open-fraction 0.125] [--steps 3000]
        [--device cpu|cuda] [--threads 1] [--gap-faces 100] [--until OPEN YESNO]

The tiny base's stage C (``fiubench.tiny.distil``) raises yes/no accuracy slowly,
over 12000-21000 steps, and was run on a CPU as links of 3000 steps, each a
``fiubench base build --init PREV --steps 0 --distil-steps 3000`` (``fiubench.tiny.build``
holds the table). This script runs such a chain and, after each link, asks the
benchmark's visual questions about ``--gap-faces`` unseen faces and as many training
faces (``base_fit_gap.py``), so the link to install is chosen on more faces than the
build's own 50. Link ``DIR/c1`` starts from ``--init`` (default: the shipped base), or
with ``--scratch`` from stage A 1000 + stage B 2000 steps on ``--faces`` faces (the
recipe that reads 0.83 open on 300 unseen faces before stage C). A finished link is
skipped, so a stopped chain resumes; ``DIR/chain.json`` holds every link's figures.
``--until OPEN YESNO`` stops at the first link at or above both on the unseen faces.
On a GPU (``--device cuda``) a link takes about a minute; on one CPU core ~15 min.
Install the chosen link with ``fiubench base build --install --init PREV`` and that
link's options (printed at the end).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import subprocess
import sys
import time
from pathlib import Path


def _fit_gap():
    spec = importlib.util.spec_from_file_location("base_fit_gap", Path(__file__).with_name("base_fit_gap.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)  # type: ignore[union-attr]
    return mod.fit_gap


def link_args(args: argparse.Namespace, out: Path, init: Path | None) -> list[str]:
    """``fiubench base build`` arguments of one link."""
    a = ["--out", str(out), "--threads", str(args.threads), "--device", args.device, "--faces", str(args.faces),
         "--distil-steps", str(args.steps), "--distil-weight", "3", "--batch-size", str(args.batch_size),
         "--eval-faces", str(args.eval_faces), "--distil-open-fraction", str(args.open_fraction),
         "--distil-caption-fraction", str(args.caption_fraction)]
    if init is None:  # the shipped recipe's stages A and B, on --faces faces
        return a + ["--vision-steps", str(args.vision_steps), "--curriculum", "contrastive", "--loss", "example",
                    "--steps", str(args.stage_b_steps), "--vision-features", "full"]
    return a + ["--init", str(init), "--steps", "0"]


def main(argv: list[str] | None = None) -> list[dict]:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, required=True, help="chain directory (links c1, c2, ...)")
    start = ap.add_mutually_exclusive_group()
    start.add_argument("--init", type=Path, default=None, help="first link's start (default: the shipped base)")
    start.add_argument("--scratch", action="store_true", help="first link runs stages A and B from scratch")
    ap.add_argument("--links", type=int, default=6)
    ap.add_argument("--steps", type=int, default=3000, help="stage-C steps per link")
    ap.add_argument("--faces", type=int, default=3000)
    ap.add_argument("--caption-fraction", type=float, default=0.25, help="--distil-caption-fraction")
    ap.add_argument("--open-fraction", type=float, default=0.125, help="--distil-open-fraction")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--eval-faces", type=int, default=50, help="the build's own evaluation faces")
    ap.add_argument("--gap-faces", type=int, default=100, help="unseen (and training) faces measured per link")
    ap.add_argument("--vision-steps", type=int, default=1000, help="--scratch: stage A steps")
    ap.add_argument("--stage-b-steps", type=int, default=2000, help="--scratch: stage B steps")
    ap.add_argument("--until", type=float, nargs=2, metavar=("OPEN", "YESNO"), default=None,
                    help="stop at the first link at or above both on the unseen faces")
    args = ap.parse_args(argv)

    from fiubench.models.loading import tiny_base_dir
    from fiubench.utils.io import atomic_write_json

    fit_gap = _fit_gap()
    args.out.mkdir(parents=True, exist_ok=True)
    prev = None if args.scratch else (args.init or tiny_base_dir())
    rows: list[dict] = []
    print(f"{'link':>4} {'C steps':>7}  {'own open':>8} {'yes/no':>6}  {'unseen open':>11} {'yes/no':>6}  "
          f"{'train open':>10} {'yes/no':>6}  {'s':>5}", flush=True)
    for i in range(1, args.links + 1):
        out = args.out / f"c{i}"
        cmd = link_args(args, out, prev)
        t = time.perf_counter()
        if not (out / "model.safetensors").is_file():
            log = args.out / f"c{i}.log"
            with log.open("w") as fh:
                rc = subprocess.run([sys.executable, "-m", "fiubench.cli.main", "base", "build", *cmd],
                                    stdout=fh, stderr=subprocess.STDOUT).returncode
            if rc:
                raise SystemExit(f"base_chain: link c{i} failed (exit {rc}); its log: {log}")
        own = json.loads((out / "base_build.json").read_text())["metrics"]
        gap = fit_gap(out, args.gap_faces, device=args.device)
        row = {"link": f"c{i}", "stage_c_steps": i * args.steps, "command": ["fiubench", "base", "build", *cmd],
               "own": {k: own.get(f"visual_{k}_accuracy") for k in ("open", "yesno")},
               **{name.split()[0]: {k: m[f"visual_{k}_accuracy"] for k in ("open", "yesno")}
                  for name, m in gap.items()},
               "seconds": round(time.perf_counter() - t, 1)}
        rows.append(row)
        atomic_write_json(args.out / "chain.json", rows)

        def fmt(v):
            return "   -  " if v is None else f"{v:6.3f}"
        print(f"{row['link']:>4} {row['stage_c_steps']:>7}  {fmt(row['own']['open']):>8} {fmt(row['own']['yesno'])}  "
              f"{fmt(row['unseen']['open']):>11} {fmt(row['unseen']['yesno'])}  "
              f"{fmt(row['training']['open']):>10} {fmt(row['training']['yesno'])}  {row['seconds']:5.0f}", flush=True)
        prev = out
        if args.until and row["unseen"]["open"] >= args.until[0] and row["unseen"]["yesno"] >= args.until[1]:
            print(f"{row['link']} reaches {args.until[0]} open / {args.until[1]} yes/no on {args.gap_faces} unseen "
                  f"faces; install it: copy {out} to {tiny_base_dir()}, or rebuild it there with "
                  f"{' '.join(row['command']).replace(' --out ' + str(out), ' --install')}")
            break
    return rows


if __name__ == "__main__":
    main()
