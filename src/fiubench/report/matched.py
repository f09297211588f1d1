"""Forget quality at matched utility: the comparison the FIUBench reviewers asked for.

A single (MU, FQ) point per method rewards a method that destroys the model: GA
reaches high forget quality by wrecking utility. Instead each unlearning run gives
a curve of checkpoints (MU_k, FQ_k), k = 0 (the fine-tuned model), 1, 2, ... in
step order; joining them with straight lines gives a piecewise-linear path. With
``MU_ft`` the fine-tuned model's utility and a budget ``r`` (0.8, 0.6), the
admissible part of the path is where ``MU >= t = r * MU_ft``. We report

    FQ@r = max { FQ(s) : s on the path, MU(s) >= t },

the best forget quality an early stop could reach while keeping ``r`` of the
utility. On a segment from (m0, f0) to (m1, f1) crossing the threshold, the
crossing point is at fraction ``a = (m0 - t) / (m0 - m1)`` with
``FQ = f0 + a (f1 - f0)`` (linear interpolation); the maximum of a linear
function over an interval is at an end, so vertices and crossings suffice.
When the path never drops below ``t`` this is the best checkpoint's FQ.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class MatchedPoint:
    """Where on the curve FQ@r is reached (``step`` interpolated like FQ)."""

    forget_quality: float
    utility: float
    step: float


def fq_at_utility(
    points: Sequence[tuple[float, float, float]], threshold: float
) -> MatchedPoint | None:
    """Best FQ on the piecewise-linear path of ``(step, MU, FQ)`` points with MU >= threshold.

    ``points`` are in step order. Returns None when no point is admissible.
    """
    best: MatchedPoint | None = None

    def consider(step: float, mu: float, fq: float) -> None:
        nonlocal best
        if best is None or fq > best.forget_quality:
            best = MatchedPoint(forget_quality=fq, utility=mu, step=step)

    for i, (s0, m0, f0) in enumerate(points):
        if m0 >= threshold:
            consider(s0, m0, f0)
        if i + 1 == len(points):
            break
        s1, m1, f1 = points[i + 1]
        # A strict crossing inside the segment (either direction).
        if (m0 - threshold) * (m1 - threshold) < 0:
            a = (m0 - threshold) / (m0 - m1)
            consider(s0 + a * (s1 - s0), threshold, f0 + a * (f1 - f0))
    return best


def matched_utility(
    points: Sequence[tuple[float, float | None, float | None]],
    reference_utility: float | None,
    ratios: Sequence[float] = (0.8, 0.6),
) -> dict[float, MatchedPoint | None]:
    """FQ@r for each ratio r, relative to ``reference_utility`` (the fine-tuned MU).

    Points with a missing MU or FQ are skipped (never read as 0).
    """
    clean = [(float(s), float(m), float(f)) for s, m, f in points if m is not None and f is not None]
    if reference_utility is None:
        return dict.fromkeys(ratios)
    return {r: fq_at_utility(clean, r * reference_utility) for r in ratios}
