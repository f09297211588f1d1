"""Can each asked face attribute be seen at 64 px? Pixels it changes, and what a tower learns of it.

Usage:
    python studies/attribute_visibility.py [--people 40] [--stage-a 1000] [--vision-features default|full]

For every attribute the visual QA asks about (``fiubench.data.visual.ASKED``), prints:
- the pixels of a 64 px face that change by more than 24 levels when that attribute alone
  changes (``pixels_changed``; min / 5th percentile / median over ``--people`` faces and
  every pair of values under which it is asked): a cue the renderer draws below one
  output pixel shows up here as a minimum near 0;
- with ``--stage-a N`` (default 1000; 0 skips it, ~1 min on one core), the held-out
  accuracy of stage A of ``fiubench base build`` (the tiny vision tower trained N steps to
  classify every attribute, tested on 300 unseen faces), beside the majority-class share
  (what a tower that sees nothing scores).

Measured with it: renderer 1 drew the age cues ~0.5 px wide (young vs middle-aged:
0-6 changed pixels) and stage A learned age at 0.46 (majority 0.34); renderer 2, 0.75.
"""

from __future__ import annotations

import argparse
import random
import tempfile
from collections import Counter
from pathlib import Path

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--people", type=int, default=40, help="faces per attribute (default 40)")
    ap.add_argument("--stage-a", type=int, default=1000, help="stage-A steps (0: pixels only)")
    ap.add_argument("--vision-features", choices=("default", "full"), default="default")
    args = ap.parse_args()

    from fiubench.data.faces import RENDER_VERSION, sample_attributes
    from fiubench.data.visual import ASKED, pixels_changed

    rng = random.Random(7)
    people = [sample_attributes(rng) for _ in range(args.people)]
    draws = [sample_attributes(random.Random(f"majority:{i}")) for i in range(5000)]
    majority = {a: Counter(getattr(d, a) for d in draws).most_common(1)[0][1] / len(draws) for a in ASKED}

    tower: dict[str, float] = {}
    if args.stage_a > 0:
        from fiubench.tiny.build import train_base
        from fiubench.tiny.config import BaseBuildConfig

        cfg = BaseBuildConfig(steps=0, vision_steps=args.stage_a, evaluate=False,
                              vision_features=args.vision_features)
        with tempfile.TemporaryDirectory() as tmp:
            tower = train_base(cfg, Path(tmp) / "a", log=lambda s: None)["vision_attribute_accuracy"]

    print(f"renderer {RENDER_VERSION}, {args.people} faces; pixels changing by > 24 levels at 64 px")
    print(f"{'attribute':<12} {'pairs':>5} {'min':>5} {'p5':>6} {'median':>7}"
          + (f" {'stage A':>8} {'majority':>8}" if tower else ""))
    for a in ASKED:
        c = np.array(pixels_changed(people, a))
        row = f"{a:<12} {len(c):>5} {c.min():>5} {np.percentile(c, 5):>6.1f} {np.median(c):>7.1f}"
        if tower:
            row += f" {tower[a]:>8.2f} {majority[a]:>8.2f}"
        print(row)


if __name__ == "__main__":
    main()
