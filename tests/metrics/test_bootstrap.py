"""Identity-level bootstrap and the identity-permutation KS test, on hand-made data."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import ks_2samp
from sklearn.metrics import roc_auc_score

from fiubench.metrics import bootstrap as bs
from fiubench.metrics.ks import identity_permutation_ks, ks_statistic


def _mean_stat(values_by_unit):
    """Statistic: mean over all answers, identities weighted by their draw counts."""
    units = np.concatenate([[i] * len(v) for i, v in enumerate(values_by_unit)])
    vals = np.concatenate(values_by_unit)

    def stat(w):
        return {"mean": bs.weighted_mean(vals, bs.unit_weights(units, w["people"]))}
    return stat


def test_draws_are_resamples_and_reproducible():
    a = bs.resample_counts({"people": 7, "seed": 3}, 50, seed=1)
    b = bs.resample_counts({"people": 7, "seed": 3}, 50, seed=1)
    assert (a["people"].sum(axis=1) == 7).all() and (a["seed"].sum(axis=1) == 3).all()
    assert all(np.array_equal(a[k], b[k]) for k in a)
    # identity draws do not depend on the size of a group sorted after them
    c = bs.resample_counts({"people": 7, "seed": 1}, 50, seed=1)
    assert np.array_equal(a["people"], c["people"])


def test_interval_covers_the_true_mean():
    """Clustered data (identity effect + answer noise): the 95 % interval covers the truth
    in most of 60 independent datasets."""
    rng = np.random.default_rng(0)
    covered = 0
    for _ in range(60):
        people = [rng.normal(0.5 + rng.normal(0, 0.2), 0.05, size=20) for _ in range(15)]
        est, reps = bs.bootstrap({"people": 15}, _mean_stat(people), n_boot=300, seed=1)
        covered += bs.percentile_interval(est["mean"], reps["mean"]).contains(0.5)
    assert covered >= 50  # nominal 57 of 60; an answer-level bootstrap covers far fewer


def test_identities_are_resampled_as_units():
    """Repeating every answer of a person 20 times adds no evidence: the interval equals the
    one with a single answer per person, and is much wider than an answer-level bootstrap."""
    rng = np.random.default_rng(3)
    one = [np.array([v]) for v in rng.normal(0, 1, size=10)]
    twenty = [np.repeat(v, 20) for v in one]
    e1, r1 = bs.bootstrap({"people": 10}, _mean_stat(one), n_boot=400, seed=5)
    e2, r2 = bs.bootstrap({"people": 10}, _mean_stat(twenty), n_boot=400, seed=5)
    i1, i2 = bs.percentile_interval(e1["mean"], r1["mean"]), bs.percentile_interval(e2["mean"], r2["mean"])
    assert i1.low == pytest.approx(i2.low) and i1.high == pytest.approx(i2.high)
    answers = [np.array([v]) for v in np.concatenate(twenty)]  # every answer its own unit
    e3, r3 = bs.bootstrap({"people": 200}, _mean_stat(answers), n_boot=400, seed=5)
    i3 = bs.percentile_interval(e3["mean"], r3["mean"])
    assert (i2.high - i2.low) > 3 * (i3.high - i3.low)


def test_paired_difference_excludes_zero_only_for_a_real_difference():
    rng = np.random.default_rng(1)
    base = [rng.normal(rng.normal(0, 1), 0.1, size=20) for _ in range(12)]  # big between-person spread
    better = [v + 0.3 for v in base]  # same people, every answer +0.3
    noise = [v + rng.normal(0, 0.05, size=v.size) for v in base]
    runs = {name: bs.bootstrap({"people": 12}, _mean_stat(d), n_boot=500, seed=2)
            for name, d in (("base", base), ("better", better), ("noise", noise))}

    def diff(a, b):
        return bs.difference_interval(runs[a][0]["mean"], runs[a][1]["mean"], runs[b][0]["mean"], runs[b][1]["mean"])

    d = diff("better", "base")
    assert d.estimate == pytest.approx(0.3) and not bs.indistinguishable(d)
    assert bs.indistinguishable(diff("noise", "base"))
    # unpaired, the same +0.3 drowns in the between-person spread
    ia = bs.percentile_interval(runs["better"][0]["mean"], runs["better"][1]["mean"])
    ib = bs.percentile_interval(runs["base"][0]["mean"], runs["base"][1]["mean"])
    assert ia.low < ib.high


def test_weighted_auc_matches_sklearn():
    rng = np.random.default_rng(4)
    m, n = rng.normal(0.3, 1, 30).round(1), rng.normal(0, 1, 25).round(1)  # rounding: ties
    wm, wn = rng.integers(0, 4, 30), rng.integers(0, 4, 25)
    ref = roc_auc_score([1] * 30 + [0] * 25, np.concatenate([m, n]), sample_weight=np.concatenate([wm, wn]))
    assert bs.weighted_auc(m, wm, n, wn) == pytest.approx(ref)
    assert bs.weighted_auc(m, np.zeros(30), n, wn) is None


def test_undefined_replicates_are_ignored():
    assert bs.percentile_interval(None, np.zeros(3)) is None
    assert bs.percentile_interval(1.0, np.array([np.nan, np.nan])) is None
    iv = bs.percentile_interval(0.5, np.array([np.nan, 0.4, 0.6]))
    assert 0.4 <= iv.low <= iv.high <= 0.6


def test_ks_statistic_matches_scipy():
    rng = np.random.default_rng(2)
    a, b = rng.normal(0, 1, 40).round(1), rng.normal(0.5, 1, 33).round(1)
    assert ks_statistic(a, b) == pytest.approx(ks_2samp(a, b).statistic)


def test_identity_permutation_ks():
    rng = np.random.default_rng(7)
    # Two people, 20 answers each, the model's answers far from the reference's: ks_2samp
    # sees 40 vs 40 answers and p ~ 1e-20; with people as units p cannot go below 2/4.
    model = [rng.normal(3, 0.1, 20), rng.normal(3, 0.1, 20)]
    ref = [rng.normal(0, 0.1, 20), rng.normal(0, 0.1, 20)]
    assert ks_2samp(np.concatenate(model), np.concatenate(ref)).pvalue < 1e-10
    res = identity_permutation_ks(model, ref)
    assert res.exact and res.n_permutations == 4 and res.p_value == pytest.approx(0.5)
    # Fourteen people: a real difference is detected (Monte Carlo branch) ...
    model = [rng.normal(1, 0.3, 20) for _ in range(14)]
    ref = [rng.normal(0, 0.3, 20) for _ in range(14)]
    res = identity_permutation_ks(model, ref, n_permutations=300, seed=0)
    assert not res.exact and res.p_value < 0.01
    # ... and a model identical to the reference is not
    assert identity_permutation_ks(ref, ref).p_value == 1.0
    # person-level differences with the same pooled distribution: not evidence either way
    shuffled = [ref[(i + 1) % 14] for i in range(14)]
    assert identity_permutation_ks(shuffled, ref, n_permutations=300).p_value > 0.05
