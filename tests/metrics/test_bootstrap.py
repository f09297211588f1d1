"""The weighted AUC and the identity-permutation KS test, on hand-made data (person-level
intervals: ``tests/metrics/test_inference.py``)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import ks_2samp
from sklearn.metrics import roc_auc_score

from fiubench.metrics import bootstrap as bs
from fiubench.metrics.ks import identity_permutation_ks, ks_statistic


def test_weighted_auc_matches_sklearn():
    rng = np.random.default_rng(4)
    m, n = rng.normal(0.3, 1, 30).round(1), rng.normal(0, 1, 25).round(1)  # rounding: ties
    wm, wn = rng.integers(0, 4, 30), rng.integers(0, 4, 25)
    ref = roc_auc_score([1] * 30 + [0] * 25, np.concatenate([m, n]), sample_weight=np.concatenate([wm, wn]))
    assert bs.weighted_auc(m, wm, n, wn) == pytest.approx(ref)
    assert bs.weighted_auc(m, np.zeros(30), n, wn) is None


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
