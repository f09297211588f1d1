"""Person-level inference: intervals on effect sizes, sign-flip tests, TOST, Holm, verdicts.

Null cases are simulated: an exchangeable method must come out "better"/"worse" at no
more than about the nominal rate, a clearly different one must come out better/worse.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from fiubench.metrics import inference as inf


def _people(rng, k, shift=0.0, m=10, spread=0.7, noise=0.5):
    """Two models on the same k people: a person effect shared by both models' answers."""
    mu = rng.normal(0, spread, size=k)
    a = [rng.normal(mu[i] + shift, noise, size=m) for i in range(k)]
    b = [rng.normal(mu[i], noise, size=m) for i in range(k)]
    return a, b


def _mean_comparison(a, b, n_resamples=499, seed=0):
    k = len(a)

    def diff(idx):
        return inf.pooled_mean(a, idx["forget"]) - inf.pooled_mean(b, idx["forget"])

    def swapped(swap):
        x, y = inf.mix(a, b, swap["forget"])
        return inf.pooled_mean(x) - inf.pooled_mean(y)

    boot = inf.person_bootstrap(diff, {"forget": k}, n_resamples=n_resamples, seed=seed)
    p = inf.sign_flip_p(swapped, {"forget": k}, n_resamples=n_resamples, seed=seed)[0]
    return inf.compare_boot("forget.exact_match", boot, p, margin=0.5, higher_is_better=True)


def test_interval_is_on_the_estimate_and_reports_k():
    rng = np.random.default_rng(0)
    units = [rng.normal(i % 3, 1, size=8) for i in range(12)]
    boot = inf.person_bootstrap(lambda idx: inf.pooled_mean(units, idx["forget"]), {"forget": 12}, n_resamples=999)
    iv = boot.interval()
    assert iv.estimate == pytest.approx(np.concatenate(units).mean())
    assert iv.low < iv.estimate < iv.high and iv.method == "BCa"
    assert iv.k == {"forget": 12} and iv.k_label == "k=12"
    # the BCa p-values are the interval's duals: at its bounds they are (1 - level) / 2
    assert boot.p_above(iv.low) == pytest.approx(0.025, abs=0.01)
    assert boot.p_below(iv.high) == pytest.approx(0.025, abs=0.01)
    assert inf.k_label({"forget": 10, "holdout": 20}) == "k=10 forget + 20 holdout"


def test_a_statistic_without_spread_is_exact_and_an_undefined_one_is_none():
    boot = inf.person_bootstrap(lambda idx: np.array([1.0, np.nan]), {"forget": 5}, n_resamples=99)
    iv = boot.interval(0)
    assert (iv.low, iv.high, iv.method) == (1.0, 1.0, "exact")
    assert boot.interval(1) is None
    assert boot.p_above(0.5) == 0.0 and boot.p_above(1.5) == 1.0


def test_groups_are_resampled_separately():
    """Members and non-members are different people: each group keeps its own size."""
    seen = []

    def stat(idx):
        seen.append((idx["forget"].size, idx["holdout"].size))
        return float(idx["forget"].mean() - idx["holdout"].mean())

    inf.person_bootstrap(stat, {"forget": 4, "holdout": 7}, n_resamples=50)
    assert set(seen) >= {(4, 7)} and all(f in (3, 4) and h in (6, 7) for f, h in seen)  # jackknife drops one


def test_holm_and_bh():
    p = [0.01, 0.04, 0.03, np.nan, 0.005]
    holm = inf.adjust(p, "holm")
    # by hand: sorted 0.005, 0.01, 0.03, 0.04 -> 4*.005, 3*.01, 2*.03, 1*.04, running max
    assert holm[[4, 0, 2, 1]] == pytest.approx([0.02, 0.03, 0.06, 0.06])
    assert np.isnan(holm[3])
    bh = inf.adjust(p, "bh")
    assert bh[[0, 1, 2, 4]] == pytest.approx(stats.false_discovery_control([0.01, 0.04, 0.03, 0.005]))
    with pytest.raises(ValueError, match="holm or bh"):
        inf.adjust(p, "bonferoni")


def test_verdict_rules():
    assert inf.verdict(0.2, 0.01, 0.9, higher_is_better=True) == "better"
    assert inf.verdict(0.2, 0.01, 0.9, higher_is_better=False) == "worse"
    assert inf.verdict(0.01, 0.5, 0.01, higher_is_better=True) == "equivalent"
    assert inf.verdict(0.01, 0.5, 0.2, higher_is_better=True) == "undecided"
    assert inf.verdict(0.01, float("nan"), float("nan"), higher_is_better=True) == "undecided"


def test_better_or_worse_needs_the_interval_to_agree_with_the_test():
    """A sharp-null rejection with an interval around 0 is no difference in the figure."""
    assert inf.verdict(0.04, 0.002, 0.9, True) == "better"
    assert inf.verdict(0.04, 0.002, 0.9, True, interval=(-0.11, 0.18)) == "undecided"
    assert inf.verdict(0.04, 0.002, 0.9, True, interval=(0.01, 0.08)) == "better"
    c = inf.Comparison("forget.exact_match", 0.08, -0.14, 0.29, 0.95, {"forget": 10}, 0.05, False, 0.001, 0.9)
    assert inf.decide([c])[0].verdict == "undecided"


def test_exchangeable_method_is_rarely_called_better_or_worse():
    """Null case: 200 simulated runs of a method exchangeable with the reference at k = 10
    people (answers correlated within a person). Nominal rate 5 %."""
    rng = np.random.default_rng(11)
    verdicts = [_mean_comparison(*_people(rng, 10), n_resamples=299, seed=s).verdict for s in range(200)]
    false = np.mean([v in ("better", "worse") for v in verdicts])
    assert false <= 0.08, false
    assert "equivalent" in verdicts  # a margin of 0.5 person-sd is reachable at k = 10


def test_clearly_different_method_is_better():
    rng = np.random.default_rng(5)
    verdicts = [_mean_comparison(*_people(rng, 10, shift=1.0), n_resamples=299, seed=s).verdict for s in range(20)]
    assert verdicts.count("better") >= 18


def test_answer_level_test_would_fail_the_null_case():
    """Control for the test above: treating answers as independent (ks_2samp over the
    pooled answers) rejects far more often than 5 % on the same kind of data."""
    rng = np.random.default_rng(3)
    rej = []
    for _ in range(100):
        mu = rng.normal(0, 0.7, size=10)
        a = np.concatenate([rng.normal(m, 0.3, 10) for m in mu])
        mu2 = rng.normal(0, 0.7, size=10)
        b = np.concatenate([rng.normal(m, 0.3, 10) for m in mu2])
        rej.append(stats.ks_2samp(a, b).pvalue < 0.05)
    assert np.mean(rej) > 0.2


def test_holm_over_a_table_keeps_the_familywise_rate():
    """Six exchangeable comparisons per table: with Holm, at most ~5 % of tables hold any
    false better/worse (without it, up to ~26 %)."""
    rng = np.random.default_rng(8)
    any_false = []
    for t in range(40):
        comps = [_mean_comparison(*_people(rng, 8), n_resamples=199, seed=t) for _ in range(6)]
        any_false.append(any(c.verdict in ("better", "worse") for c in inf.decide(comps)))
    assert np.mean(any_false) <= 0.1


def test_person_ks_null_and_resolution():
    rng = np.random.default_rng(1)
    perm, asym = [], []
    for _ in range(60):
        a, b = _people(rng, 8, m=20)
        r = inf.person_ks_test(a, b, n_resamples=256)
        perm.append(r.p_permutation < 0.05)
        asym.append(r.p_asymptotic < 0.05)
    assert np.mean(perm) <= 0.1 and np.mean(asym) <= 0.1
    # two methods that differ from the reference by different amounts: the exact test
    # sits at its floor (2 / 2^10) for both, the asymptotic p and D still order them
    a, ref = _people(rng, 10, shift=1.0, m=20)
    far = [x + 1.0 for x in a]
    near, farther = inf.person_ks_test(a, ref, n_resamples=1024), inf.person_ks_test(far, ref, n_resamples=1024)
    assert near.exact and near.p_permutation == pytest.approx(2 / 1024) == farther.p_permutation
    assert farther.d > near.d and farther.p_asymptotic < near.p_asymptotic < 2 / 1024
    same = inf.person_ks_test(ref, ref, n_resamples=1024)
    assert same.d == 0.0 and same.p_permutation == 1.0 and same.p_asymptotic == 1.0


def test_ks_distance_matches_scipy():
    rng = np.random.default_rng(2)
    a, b = rng.normal(0, 1, 40).round(1), rng.normal(0.5, 1, 33).round(1)
    assert inf.ks_distance(a, b) == pytest.approx(stats.ks_2samp(a, b).statistic)


def test_too_few_people_cannot_be_equivalent():
    """Two people: even identical-looking models are 'undecided', never 'equivalent'."""
    rng = np.random.default_rng(0)
    a, b = _people(rng, 2)
    c = _mean_comparison(a, [x.copy() for x in a])
    assert c.estimate == 0.0 and c.p_equivalent < 0.05 and c.verdict == "undecided"
    big = _mean_comparison(*_people(rng, inf.MIN_K_EQUIVALENT, noise=0.05))
    assert big.verdict == "equivalent"


def test_one_person_gives_no_evidence():
    a, b = [np.array([1.0, 2.0])], [np.array([5.0, 6.0])]
    p = inf.sign_flip_p(lambda swap: inf.pooled_mean(inf.mix(a, b, swap["forget"])[0]) - 5.5, {"forget": 1})
    assert p[0] == 1.0
    assert inf.person_ks_test(a, b).p_permutation == 1.0
