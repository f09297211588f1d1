"""The robustness summary against values computed by hand."""

from __future__ import annotations

import pytest

from fiubench.attacks.runner import summarise_attacks
from fiubench.metrics.aggregate import AggregateConfig, aggregates
from fiubench.metrics.robustness import (
    attack_value,
    is_informative,
    recovery,
    robust_forget_quality,
    worst_case,
)


def test_informative_recovery_and_worst_case_by_hand():
    assert is_informative(0.8, 0.1, 0.02) is True
    assert is_informative(0.11, 0.1, 0.02) is False  # within the margin: measures nothing
    assert is_informative(None, 0.1, 0.02) is None
    assert recovery(0.45, 0.8, 0.1) == pytest.approx(0.5)  # (0.45-0.1)/(0.8-0.1)
    assert recovery(0.05, 0.8, 0.1) == 0.0 and recovery(0.9, 0.8, 0.1) == 1.0  # clipped
    assert recovery(0.5, 0.1, 0.1) is None  # the fine-tuned model does not leak: undefined
    assert attack_value({"a": 0.3, "b": 0.6}, {"a": True, "b": False}) == 0.3
    assert attack_value({"a": 0.3, "b": 0.6}, {"a": False, "b": False}) == 0.6  # shown, never counted
    assert worst_case({"x": 0.2, "y": None, "z": 0.5}) == ("z", 0.5)
    assert worst_case({}) == (None, None)


def _res(**variants):
    return {"variants": variants}


def test_summary_counts_only_informative_attacks_in_the_worst_case():
    ft = {"quant": _res(int8=0.9, int4=0.7), "text": _res(no_image=0.05)}
    rt = {"quant": _res(int8=0.1, int4=0.1), "text": _res(no_image=0.05)}
    ga = {"quant": _res(int8=0.2, int4=0.5), "text": _res(no_image=0.6)}
    s = summarise_attacks({"finetuned": ft, "retain": rt, "ga": ga}, ft, rt, margin=0.02)
    assert s["uninformative"] == ["text"]
    m = s["metrics"]["ga"]
    assert m["attack.quant"] == 0.5 and m["attack.quant.int4"] == 0.5
    assert m["attack.text"] == 0.6  # shown...
    assert m["attack.worst"] == 0.5 and s["worst_attack"]["ga"] == "quant"  # ...but not counted
    assert m["attack.quant.recovery"] == pytest.approx((0.5 - 0.1) / (0.7 - 0.1))
    assert m["attack.quant.informative"] == 1.0 and m["attack.text.informative"] == 0.0
    assert s["metrics"]["finetuned"]["attack.worst"] == 0.9


def test_summary_without_baselines_counts_everything():
    s = summarise_attacks({"model": {"a": _res(v=0.3), "b": _res(v=0.4)}})
    assert s["metrics"]["model"]["attack.worst"] == 0.4
    assert s["metrics"]["model"]["attack.a.informative"] is None


def test_robust_fq_raises_em_and_ape_to_the_worst_case():
    cfg = AggregateConfig()
    metrics = {"forget.ks_p": 0.5, "forget.exact_match": 0.1, "forget.ape": 0.3, "mia.auc_min_k_pp": 0.5,
               "retain.rouge_l": 1, "retain.judge": 1, "retain.truth_ratio": 1, "visual.acc": 1}
    # MIA term two-sided (metrics version 2): 1 - 2|0.5 - 0.5| = 1
    by_hand = 0.5 * 0.5 + 0.15 * (1 - 0.4) + 0.2 * (1 - 2 * abs(0.5 - 0.5)) + 0.15 * (1 - 0.4)
    assert robust_forget_quality(metrics, 0.4, cfg) == pytest.approx(by_hand)
    plain = aggregates(metrics, cfg)["forget_quality"]
    assert robust_forget_quality(metrics, 0.05, cfg) == pytest.approx(plain)  # weaker than EM/APE: no change
    assert robust_forget_quality(metrics, None, cfg) == pytest.approx(plain)
