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
    # two-sided MIA term: 1 - 2|0.6 - 0.5| = 0.8
    assert a["forget_quality"] == pytest.approx(0.5 * 0.4 + 0.15 * 0.8 + 0.2 * 0.8 + 0.15 * 0.9)
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
    assert norm_ks(1e-5, "log", 10) == pytest.approx(0.5)
    assert norm_ks(1e-20, "log", 10) == 0.0
    assert norm_ks(1.0, "log", 10) == 1.0
    cfg = AggregateConfig(ks_norm="log", mia_norm="one_sided")
    a = aggregates(FULL, cfg)
    ks = 1 + math.log10(0.4) / 10
    assert a["forget_quality"] == pytest.approx(0.5 * ks + 0.15 * 0.8 + 0.2 * (1 - 0.6) + 0.15 * 0.9)


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
