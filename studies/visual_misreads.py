"""Where does a model read faces worse than another? Per-attribute open answers and misreads.

Usage:
    python studies/visual_misreads.py --after DIR [--before DIR] [--faces 100] [--top 10]
        [--device cpu|cuda]

Asks both models (``--before``: default the shipped tiny base; ``--after``: e.g. a stage-1
model that ``studies/stage1_keeps_seeing.py --out DIR`` kept) the open visual questions
about ``--faces`` unseen procedural faces (those of ``evaluate_visual``), then prints each
attribute's exact match before and after, and the most frequent misreads: questions the
first model answered right and the second wrong, as (attribute, true answer, new answer).
Well-formed wrong values say the model misreads the face; malformed ones, that it lost
the answer's form. The diagnosis in ``fiubench.tiny.keep`` comes from it.
"""

from __future__ import annotations

import argparse
import collections
from pathlib import Path
from typing import Any

import torch


def misreads(items: list[Any], before: list[str], after: list[str], norm: Any,
             ) -> tuple[dict[str, tuple[float, float, int]], collections.Counter]:
    """Per attribute (accuracy before, accuracy after, n); and a count of each
    (attribute, true answer, answer after) that was right before and wrong after."""
    cells: dict[str, list[int]] = {}
    lost: collections.Counter = collections.Counter()
    for it, b, a in zip(items, before, after, strict=True):
        ok_b, ok_a = norm(b) == norm(it.answer), norm(a) == norm(it.answer)
        c = cells.setdefault(it.attribute, [0, 0, 0])
        c[0], c[1], c[2] = c[0] + ok_b, c[1] + ok_a, c[2] + 1
        if ok_b and not ok_a:
            lost[(it.attribute, it.answer, a)] += 1
    return {k: (c[0] / c[2], c[1] / c[2], c[2]) for k, c in sorted(cells.items())}, lost


def main(argv: list[str] | None = None) -> None:
    from fiubench.models import ModelConfig, load_vlm
    from fiubench.tiny.config import BaseBuildConfig
    from fiubench.tiny.evaluate import normalise_answer
    from fiubench.tiny.pools import procedural_pool

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--after", type=Path, required=True, help="the model to diagnose")
    ap.add_argument("--before", type=Path, default=None, help="the model to compare with (default: the tiny base)")
    ap.add_argument("--faces", type=int, default=100)
    ap.add_argument("--top", type=int, default=10)
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args(argv)
    if args.before is None:
        from fiubench.models.loading import tiny_base_dir

        args.before = tiny_base_dir()
    pool = procedural_pool(BaseBuildConfig().seed, "eval", args.faces)
    items = [(img, it) for img, its, _ in pool for it in its if it.kind == "open"]
    answers = []
    for d in (args.before, args.after):
        vlm = load_vlm(ModelConfig(name_or_path=str(d), device=args.device))
        outs: list[str] = []
        for s in range(0, len(items), 64):
            chunk = items[s:s + 64]
            outs += vlm.generate([c[0] for c in chunk], [c[1].question for c in chunk], max_new_tokens=24)
        answers.append(outs)
    by_attr, lost = misreads([it for _, it in items], *answers, normalise_answer)
    print(f"{'attribute':14s} {'before':>6} {'after':>6} {'n':>4}")
    for k, (b, a, n) in by_attr.items():
        print(f"{k:14s} {b:6.2f} {a:6.2f} {n:4d}")
    print(f"right before, wrong after ({sum(lost.values())}); the {args.top} most frequent:")
    for (attr, truth, said), n in lost.most_common(args.top):
        print(f"{n:4d}  {attr}: {truth!r} -> {said!r}")


if __name__ == "__main__":
    torch.set_num_threads(1)
    main()
