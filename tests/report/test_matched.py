"""Forget quality at matched utility against hand-computed interpolations."""

from __future__ import annotations

import pytest

from fiubench.report.matched import fq_at_utility, matched_utility

# (step, MU, FQ): the fine-tuned model first.
MONOTONE = [(0, 0.5, 0.1), (6, 0.45, 0.3), (12, 0.3, 0.6), (18, 0.2, 0.8)]


def test_monotone_curve_interpolates_at_the_crossing() -> None:
    # t = 0.8 * 0.5 = 0.4; segment 6->12 crosses at a = (0.45-0.4)/(0.45-0.3) = 1/3:
    # FQ = 0.3 + (0.6-0.3)/3 = 0.4 at step 6 + 6/3 = 8.
    p = fq_at_utility(MONOTONE, 0.4)
    assert p is not None
    assert p.forget_quality == pytest.approx(0.4)
    assert p.step == pytest.approx(8.0)
    assert p.utility == pytest.approx(0.4)


def test_threshold_on_a_vertex_is_admissible() -> None:
    # t = 0.6 * 0.5 = 0.3 exactly at the step-12 checkpoint: FQ 0.6 there.
    res = matched_utility(MONOTONE, 0.5, ratios=(0.8, 0.6))
    assert res[0.6] is not None and res[0.6].forget_quality == pytest.approx(0.6)
    assert res[0.6].step == pytest.approx(12.0)
    assert res[0.8] is not None and res[0.8].forget_quality == pytest.approx(0.4)


def test_non_monotone_curve_takes_the_best_admissible_point() -> None:
    # t = 0.4. Crossings: 0->6 at a = 0.5 (FQ 0.5, step 3); 6->12 at a = 2/3
    # (FQ 0.9 - 0.4*2/3 = 0.6333, step 10). Vertex 12: FQ 0.5. Best: 0.6333.
    pts = [(0, 0.5, 0.1), (6, 0.3, 0.9), (12, 0.45, 0.5)]
    p = fq_at_utility(pts, 0.4)
    assert p is not None
    assert p.forget_quality == pytest.approx(0.9 - 0.4 * 2 / 3)
    assert p.step == pytest.approx(10.0)


def test_never_drops_below_gives_best_checkpoint_and_missing_values_are_skipped() -> None:
    pts = [(0, 0.5, 0.1), (6, 0.49, None), (12, 0.48, 0.2)]
    res = matched_utility(pts, 0.5, ratios=(0.8,))
    assert res[0.8] is not None and res[0.8].forget_quality == pytest.approx(0.2)


def test_no_reference_utility_gives_none() -> None:
    assert matched_utility(MONOTONE, None, ratios=(0.8,)) == {0.8: None}
    assert fq_at_utility([(0, 0.1, 0.5)], 0.4) is None
