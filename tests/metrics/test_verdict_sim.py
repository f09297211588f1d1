"""The simulation core of the audit (metrics.verdict_sim) and the person-level calibration
check, on small synthetic record sets with a known truth."""

from __future__ import annotations

import math

import numpy as np
import pytest

from fiubench.metrics import verdict_sim as vs
from fiubench.metrics.calibration import person_calibration


def _people(n: int, answers: int, seed: int, shift: float = 0.0) -> list[np.ndarray]:
    """Clustered 0/1 answers: each person has their own rate (Beta(0.5, 0.5)), so the
    answers of one person are dependent, as in a run."""
    rng = np.random.default_rng(seed)
    return [rng.binomial(1, min(1.0, p + shift), size=answers).astype(float) for p in rng.beta(0.5, 0.5, size=n)]


def test_exchangeable_halves_give_nominal_false_verdicts() -> None:
    units = _people(30, 20, 1)
    n = 200
    r = vs.null_verdicts(units, 10, n_sims=n, n_boot=99, n_permutations=99, seed=3)
    se = math.sqrt(0.05 * 0.95 / n)
    assert r.false_better_worse <= 0.05 + 3 * se
    assert r.equivalent + r.undecided + r.false_better_worse == pytest.approx(1.0)


def test_a_real_difference_is_found_and_an_identical_model_is_equivalent() -> None:
    """Controls: the same verdict machinery says "better" for a true shift of 0.4, and
    "equivalent" for two identical models (difference 0 on every person)."""
    a, b = _people(20, 20, 5, shift=0.4), _people(20, 20, 5)
    assert vs.paired_verdict(a, b, n_boot=199, n_permutations=199) == "better"
    assert vs.paired_verdict(b, a, n_boot=199, n_permutations=199) == "worse"
    assert vs.paired_verdict(b, b, n_boot=199, n_permutations=199) == "equivalent"
    r = vs.coverage(a, 10, other=b, n_sims=30, n_boot=199, seed=1)
    assert r.truth > 0.2 and r.coverage > 0.8


def test_coverage_near_nominal() -> None:
    units = _people(40, 20, 2)
    n = 100
    r = vs.coverage(units, 20, n_sims=n, n_boot=499, seed=4)
    assert r.coverage >= 0.95 - 3 * math.sqrt(0.05 * 0.95 / n)
    assert 0 < r.mean_width < 1


def test_power_formulas_are_consistent_and_hold_in_simulation() -> None:
    se, k = 0.08, 10
    d = vs.min_detectable(se, k)
    assert d == pytest.approx(2.8016 * se, rel=1e-3)
    assert vs.min_detectable(se, k, 40) == pytest.approx(d / 2)
    assert vs.identities_needed(se, k, d) in (k, k + 1)
    # simulate the paired test at that difference: power ~ 0.8
    rng = np.random.default_rng(0)
    sd = se * math.sqrt(k) * 3  # per-person sd of the difference at k' = 90 people
    k2 = 90
    delta = vs.min_detectable(sd / math.sqrt(k2), k2)
    x = rng.normal(delta, sd, size=(4000, k2))
    z = x.mean(axis=1) / (sd / math.sqrt(k2))
    assert abs(float(np.mean(np.abs(z) > 1.96)) - 0.8) < 0.03


def _lnr(n: int, per: int, seed: int, bias: float = 0.0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.normal(bias + rng.normal(0, 0.2), 0.5, size=per) for _ in range(n)]


def test_person_calibration_passes_a_calibrated_instrument_and_names_a_biased_field() -> None:
    f, h = _lnr(15, 12, 1), _lnr(30, 12, 2)
    fields = {"blood_type": [u[:6] for u in f + h], "address": [u[6:] for u in f + h]}
    ok = person_calibration(f, h, fields=fields, n_boot=499, n_permutations=499)
    assert ok.ok, ok.problems
    assert {m.verdict for m in ok.fields} <= {"calibrated", "undecided"}
    bad = {"blood_type": [u[:6] - 1.0 for u in f + h], "address": fields["address"]}
    cal = person_calibration(f, h, fields=bad, n_boot=499, n_permutations=499)
    assert not cal.ok
    assert any("blood_type" in p for p in cal.problems) and not any("address" in p for p in cal.problems)


def test_person_calibration_flags_forget_people_that_differ() -> None:
    cal = person_calibration(_lnr(15, 12, 1, bias=-1.5), _lnr(30, 12, 2), n_boot=499, n_permutations=499)
    assert cal.p_split < 0.05 and not cal.ok
    with pytest.raises(ValueError, match="both"):
        person_calibration([], _lnr(3, 2, 0))


def test_small_k_expansion_covers_a_continuous_mean_at_k_10() -> None:
    """BCa alone covered ~87 % here at k = 10 (nominal 95 %); the expanded level
    (sqrt(k / (k - 1)) t_{k-1}, Hesterberg 2015) brings it back to nominal."""
    from scipy import stats

    from fiubench.metrics.inference import expanded_level

    z = stats.t.ppf(0.975, 9) * math.sqrt(10 / 9)
    assert expanded_level(0.95, 10) == pytest.approx(2 * stats.norm.cdf(z) - 1)
    assert expanded_level(0.95, 2) == 0.95 and expanded_level(0.95, 1000) == pytest.approx(0.95, abs=1e-3)
    rng = np.random.default_rng(7)
    units = [rng.normal(rng.normal(-1, 0.8), 0.6, size=10) for _ in range(40)]
    n = 100
    r = vs.coverage(units, 10, n_sims=n, n_boot=499, seed=2)
    assert r.coverage >= 0.95 - 3 * math.sqrt(0.05 * 0.95 / n)
