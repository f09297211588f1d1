"""The studentised bootstrap over identities and the ratio estimator's SE it divides by."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from fiubench.metrics import inference as inf
from fiubench.metrics.identity_stats import influence_se, ratio_influence, ratio_se, sums


def test_ratio_se_by_hand():
    # identities with sums 1, 4, 1 over 2, 4, 2 answers: R = 6 / 8, n_bar = 8 / 3
    s, n = np.array([1.0, 4.0, 1.0]), np.array([2.0, 4.0, 2.0])
    r, nbar = 0.75, 8 / 3
    z = [(1 - r * 2) / nbar, (4 - r * 4) / nbar, (1 - r * 2) / nbar]
    assert ratio_influence(s, n) == pytest.approx(z)
    assert ratio_se(s, n) == pytest.approx(math.sqrt(sum(x * x for x in z) / (3 * 2)))
    # equal counts: the SE of a mean of per-identity means, s / sqrt(k)
    x = np.array([0.2, 0.9, 0.4, 0.7])
    assert ratio_se(x * 5, np.full(4, 5.0)) == pytest.approx(x.std(ddof=1) / 2)
    assert math.isnan(influence_se(np.array([0.3])))


def test_sums_leave_undefined_samples_out():
    s, n = sums([np.array([1.0, np.nan, 0.0]), np.array([np.nan])])
    assert s.tolist() == [1.0, 0.0] and n.tolist() == [2.0, 0.0]


def _mean_boot(x: np.ndarray, level: float = inf.LEVEL, seed: int = 0) -> inf.PersonBootstrap:
    ones = np.ones(x.size)

    def se(idx):
        j = idx["people"]
        return ratio_se(x[j], ones[j]) if inf.studentizable(j.size) else float("nan")
    return inf.person_bootstrap(lambda idx: x[idx["people"]].mean(), {"people": x.size}, level=level,
                                n_resamples=4000, seed=seed, se=se)


def test_studentized_interval_is_the_t_interval_on_normal_data():
    x = np.random.default_rng(3).normal(size=40)
    iv = _mean_boot(x).interval()
    assert iv.method == "studentized" and iv.k == {"people": 40}
    half = float(stats.t.ppf(0.975, 39)) * x.std(ddof=1) / math.sqrt(40)
    assert iv.high - iv.estimate == pytest.approx(iv.estimate - iv.low)
    assert iv.high - iv.estimate == pytest.approx(half, rel=0.12)


def test_tost_is_the_dual_of_the_studentized_interval():
    x = np.random.default_rng(5).normal(0.01, 0.05, size=20)
    boot, b90 = _mean_boot(x), _mean_boot(x, level=0.90)
    assert b90.methods[0] == "studentized"
    for margin in (0.02, 0.03, 0.05, 0.08):
        inside = -margin < b90.low[0] and b90.high[0] < margin
        assert (inf.tost_p(boot, margin) < 0.05) == inside, margin


def test_no_spread_stays_exact_and_undefined_se_falls_back_to_bca():
    same = _mean_boot(np.full(6, 0.5)).interval()
    assert same.method == "exact" and same.low == same.high == 0.5
    x = np.random.default_rng(0).normal(size=12)
    boot = inf.person_bootstrap(lambda idx: x[idx["people"]].mean(), {"people": 12}, n_resamples=500,
                                se=lambda idx: float("nan"))
    assert boot.methods == ["BCa"]


def test_studentized_covers_a_skewed_mean_better_than_bca_at_k10():
    """The reason for the change: on a skewed population of per-person means (log-normal)
    the studentised interval covers at least as often as the expanded BCa, and near 95 %."""
    rng = np.random.default_rng(11)
    truth, hits_t, hits_b, n = math.exp(0.125), 0, 0, 150
    for i in range(n):
        x = rng.lognormal(0.0, 0.5, 10)
        hits_t += _mean_boot(x, seed=i).interval().contains(truth)
        b = inf.person_bootstrap(lambda idx, x=x: x[idx["people"]].mean(), {"people": 10}, n_resamples=999, seed=i)
        hits_b += b.interval().contains(truth)
    assert hits_t >= hits_b
    assert hits_t / n >= 0.88  # 150 runs: SE ~ 2 points around the ~0.93 measured


def test_ties_without_spread_in_many_resamples_fall_back_to_bca():
    """Nine people at EM 1.0 and one at 0.95: a third of the resamples have SE* = 0 and
    |t*| has no 95 % quantile, so the interval stays BCa (finite), never (-inf, inf)."""
    x = np.array([1.0] * 9 + [0.95])
    boot = _mean_boot(x)
    assert boot.methods == ["BCa"] and np.isfinite(boot.low[0]) and np.isfinite(boot.high[0])


def test_few_identities_keep_bca_and_bounds_clip_the_studentized_interval():
    x = np.random.default_rng(2).normal(size=6)
    assert _mean_boot(x).methods == ["BCa"]  # 6 < MIN_K_STUDENTIZED: bootstrap-t is erratic there
    rates = np.array([1.0] * 8 + [0.8, 0.6, 0.9, 0.95])
    ones = np.ones(rates.size)

    def boot(bounds):
        return inf.person_bootstrap(lambda idx: rates[idx["people"]].mean(), {"people": rates.size},
                                    n_resamples=2000, se=lambda idx: ratio_se(rates[idx["people"]], ones[idx["people"]]),
                                    bounds=bounds)
    free, clipped = boot(None), boot((0.0, 1.0))
    assert free.methods == clipped.methods == ["studentized"]
    assert free.high[0] > 1.0 and clipped.high[0] == 1.0 and clipped.low[0] == free.low[0]
