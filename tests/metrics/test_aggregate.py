import math

import pytest

from fiubench.errors import ConfigError
from fiubench.metrics.aggregate import AggregateConfig, aggregates, expand_skip, norm_ks
from fiubench.utils.config import from_dict

FULL = {
    "retain.rouge_l": 0.9, "retain.judge": 0.8, "retain.truth_ratio": 0.7, "visual.acc": 1.0,
    "forget.ks_p": 0.4, "forget.exact_match": 0.2, "mia.auc_min_k_pp": 0.6, "forget.ape": 0.1,
}


def test_model_utility_is_arithmetic_mean_and_fq_weights():
    a = aggregates(FULL, AggregateConfig())
    assert a["model_utility"] == pytest.approx((0.9 + 0.8 + 0.7 + 1.0) / 4)
    # KS term on the paper's scale: 1 + log10(0.4) / 26; two-sided MIA term: 1 - 2|0.6 - 0.5| = 0.8
    ks = 1 + math.log10(0.4) / 26
    assert a["forget_quality"] == pytest.approx(0.5 * ks + 0.15 * 0.8 + 0.2 * 0.8 + 0.15 * 0.9)
    assert a["components"]["forget_quality"]["mia"] == pytest.approx(0.8)
    assert a["dropped"] == []


def test_reverse_detectability_does_not_raise_fq():
    """A model whose forget AUC is 0.1 (GA-style: forget answers *less* likely than
    never-seen ones) is as detectable as one with AUC 0.9: its MIA term and FQ must be
    no better. The one-sided (paper) term would have given it 0.9."""
    cfg = AggregateConfig()
    low = aggregates(dict(FULL, **{"mia.auc_min_k_pp": 0.1}), cfg)
    high = aggregates(dict(FULL, **{"mia.auc_min_k_pp": 0.9}), cfg)
    chance = aggregates(dict(FULL, **{"mia.auc_min_k_pp": 0.5}), cfg)
    t = {k: a["components"]["forget_quality"]["mia"] for k, a in (("low", low), ("high", high), ("chance", chance))}
    assert t["low"] <= t["high"] and t["low"] == pytest.approx(0.2) and t["chance"] == 1.0
    assert low["forget_quality"] <= high["forget_quality"] < chance["forget_quality"]
    legacy = aggregates(dict(FULL, **{"mia.auc_min_k_pp": 0.1}), AggregateConfig(mia_norm="one_sided"))
    assert legacy["components"]["forget_quality"]["mia"] == pytest.approx(0.9)


def test_ks_log_norm_and_one_sided_mia():
    assert norm_ks(1e-13, "paper_log", 26) == pytest.approx(0.5)
    assert norm_ks(1e-30, "paper_log", 26) == 0.0
    assert norm_ks(0.0, "paper_log", 26) == 0.0  # an underflowed p is the floor, not an error
    assert norm_ks(1.0, "paper_log", 26) == 1.0
    assert norm_ks(0.4, "raw_p") == 0.4
    with pytest.raises(ValueError, match="p-value"):
        norm_ks(float("nan"))
    cfg = AggregateConfig(mia_norm="one_sided")  # paper_log, s = 26 is the default
    a = aggregates(FULL, cfg)
    ks = 1 + math.log10(0.4) / 26
    assert a["forget_quality"] == pytest.approx(0.5 * ks + 0.15 * 0.8 + 0.2 * (1 - 0.6) + 0.15 * 0.9)
    assert "26" in a["components"]["ks_term"]
    raw = aggregates(FULL, AggregateConfig(ks_norm="raw_p"))
    assert raw["components"]["forget_quality"]["ks"] == 0.4


# The paper's Table 2 (LLaVA-Phi-3-mini, forget5; /work/shared/reference/fiubench.md),
# percent: KS as log10 p, EM, MIA (upstream's score, used one-sided as 1 - MIA), APE, FQ.
PAPER_TABLE2 = {
    "Retain": (0.00, 13.3, 12.3, 14.7, 93.3),
    "GA": (-0.03, 14.0, 13.0, 15.4, 92.9),
    "GD": (-5.80, 18.9, 12.6, 19.0, 80.7),
    "KL": (-21.7, 41.2, 42.1, 46.8, 36.8),
    "PO": (-4.70, 6.9, 64.2, 6.8, 76.0),
}


@pytest.mark.parametrize("row", sorted(PAPER_TABLE2))
def test_paper_table2_fq(row):
    """The default KS term (s = 26) with the paper's one-sided MIA term gives back the
    paper's FQ column from its other columns. The paper's MIA number is not an AUC, but
    it enters FQ as 1 - MIA exactly as a one-sided AUC term would."""
    log10_p, em, mia, ape, fq = PAPER_TABLE2[row]
    m = dict(FULL, **{"forget.ks_p": 10.0**log10_p, "forget.exact_match": em / 100,
                      "mia.auc_min_k_pp": mia / 100, "forget.ape": ape / 100})
    got = aggregates(m, AggregateConfig(mia_norm="one_sided"))["forget_quality"]
    assert got * 100 == pytest.approx(fq, abs=0.5)
    # the raw p term (versions 1-2) misses every row with log10 p < -1 by many points
    raw = aggregates(m, AggregateConfig(mia_norm="one_sided", ks_norm="raw_p"))["forget_quality"]
    assert (abs(raw * 100 - fq) > 5) == (log10_p < -1)


def test_retain_model_ks_term_is_one_by_construction():
    """Against itself KS gives D = 0, p = 1: T_ks = 1 under either normalisation."""
    from fiubench.metrics.ks import ks_test

    r = [0.3, 0.9, 1.2, 0.5, 2.0, 0.7]
    p = ks_test(r, r).p_value
    assert p == 1.0
    assert norm_ks(p) == 1.0 and norm_ks(p, "raw_p") == 1.0


def test_missing_headline_is_error_unless_skipped():
    m = dict(FULL, **{"retain.judge": None, "forget.ks_p": None})
    with pytest.raises(ConfigError, match="retain.judge"):
        aggregates(m, AggregateConfig())
    with pytest.raises(ConfigError, match="--skip ks"):
        aggregates(m, AggregateConfig(), skip=["judge"])
    a = aggregates(m, AggregateConfig(), skip=["judge", "ks"])
    assert a["model_utility"] == pytest.approx((0.9 + 0.7 + 1.0) / 3)
    # FQ without KS: remaining weights renormalised to 1
    assert a["forget_quality"] == pytest.approx((0.15 * 0.8 + 0.2 * 0.8 + 0.15 * 0.9) / 0.5)
    assert a["dropped"] == ["forget.ks_p", "retain.judge"]


def test_bad_skip_and_config():
    with pytest.raises(ConfigError, match="Did you mean"):
        expand_skip(["judgee"])
    with pytest.raises(ConfigError, match="fq_weights"):
        from_dict(AggregateConfig, {"fq_weights": {"ks": 1.0}})
