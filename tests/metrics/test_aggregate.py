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
    assert a["forget_quality"] == pytest.approx(0.5 * 0.4 + 0.15 * 0.8 + 0.2 * 0.4 + 0.15 * 0.9)
    assert a["dropped"] == []


def test_ks_log_norm_and_mia_advantage():
    assert norm_ks(1e-5, "log", 10) == pytest.approx(0.5)
    assert norm_ks(1e-20, "log", 10) == 0.0
    assert norm_ks(1.0, "log", 10) == 1.0
    cfg = AggregateConfig(ks_norm="log", mia_norm="advantage")
    a = aggregates(FULL, cfg)
    ks = 1 + math.log10(0.4) / 10
    assert a["forget_quality"] == pytest.approx(0.5 * ks + 0.15 * 0.8 + 0.2 * (1 - 0.2) + 0.15 * 0.9)


def test_missing_headline_is_error_unless_skipped():
    m = dict(FULL, **{"retain.judge": None, "forget.ks_p": None})
    with pytest.raises(ConfigError, match="retain.judge"):
        aggregates(m, AggregateConfig())
    with pytest.raises(ConfigError, match="--skip ks"):
        aggregates(m, AggregateConfig(), skip=["judge"])
    a = aggregates(m, AggregateConfig(), skip=["judge", "ks"])
    assert a["model_utility"] == pytest.approx((0.9 + 0.7 + 1.0) / 3)
    # FQ without KS: remaining weights renormalised to 1
    assert a["forget_quality"] == pytest.approx((0.15 * 0.8 + 0.2 * 0.4 + 0.15 * 0.9) / 0.5)
    assert a["dropped"] == ["forget.ks_p", "retain.judge"]


def test_bad_skip_and_config():
    with pytest.raises(ConfigError, match="Did you mean"):
        expand_skip(["judgee"])
    with pytest.raises(ConfigError, match="fq_weights"):
        from_dict(AggregateConfig, {"fq_weights": {"ks": 1.0}})
