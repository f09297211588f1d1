"""The robustness summary against values computed by hand, with its null cases."""

from __future__ import annotations

import numpy as np
import pytest

from fiubench.attacks.summary import summarise_attacks
from fiubench.metrics.aggregate import AggregateConfig, aggregates
from fiubench.metrics.robustness import (
    adjusted,
    adjusted_interval,
    difference_interval,
    is_informative,
    robust_forget_quality,
)

IDS = [f"p{i}" for i in range(12)]


def _res(**variants: list[float]) -> dict:
    """A result.json with per-identity extraction for each variant (12 identities)."""
    return {"variants": {v: float(np.mean(xs)) for v, xs in variants.items()},
            "per_identity": {v: dict(zip(IDS, xs, strict=True)) for v, xs in variants.items()}}


def _const(x: float) -> list[float]:
    return [x] * len(IDS)


def _noisy(x: float, seed: int) -> list[float]:
    rng = np.random.default_rng(seed)
    return list(np.clip(x + rng.normal(0, 0.1, len(IDS)), 0, 1))


def test_adjusted_score_and_interval_by_hand():
    assert adjusted(0.45, 0.8, 0.1) == pytest.approx((0.45 - 0.1) / (0.8 - 0.1))
    assert adjusted(0.05, 0.8, 0.1) == pytest.approx(-0.05 / 0.7)  # below the retain level: not clipped
    assert adjusted(0.5, 0.1, 0.1) is None  # the fine-tuned model does not leak more: undefined
    m, f, r = _noisy(0.4, 1), _noisy(0.8, 2), _noisy(0.1, 3)
    iv = adjusted_interval(dict(zip(IDS, m, strict=True)), dict(zip(IDS, f, strict=True)),
                           dict(zip(IDS, r, strict=True)), n_boot=300)
    assert iv.estimate == pytest.approx((np.mean(m) - np.mean(r)) / (np.mean(f) - np.mean(r)))
    assert iv.low < iv.estimate < iv.high


def test_informative_needs_an_interval_above_zero():
    gap = difference_interval(dict(zip(IDS, _noisy(0.8, 0), strict=True)), dict(zip(IDS, _noisy(0.1, 1), strict=True)))
    assert is_informative(gap) is True
    # null: the fine-tuned and retain models exchangeable per person -> the interval straddles 0
    same = _noisy(0.3, 4)
    other = list(np.array(same)[np.random.default_rng(5).permutation(len(IDS))])
    gap = difference_interval(dict(zip(IDS, same, strict=True)), dict(zip(IDS, other, strict=True)))
    assert gap.low <= 0 <= gap.high and is_informative(gap) is False
    assert is_informative(None) is None


def test_worst_case_is_chosen_on_the_adjusted_score_and_names_one_attack():
    # prefill: high raw extraction but the retain model extracts a lot too (chance);
    # quant: lower raw extraction, far more of the fine-tuned model's excess leak recovered
    ft = {"prefill": _res(prefix=_const(0.9)), "quant": _res(int8=_const(0.8), int4=_const(0.8))}
    rt = {"prefill": _res(prefix=_const(0.6)), "quant": _res(int8=_const(0.0), int4=_const(0.0))}
    npo = {"prefill": _res(prefix=_const(0.65)), "quant": _res(int8=_const(0.2), int4=_const(0.4))}
    s = summarise_attacks({"finetuned": ft, "retain": rt, "npo": npo}, ft, rt, n_boot=200)
    m = s["metrics"]["npo"]
    assert s["worst_attack"]["npo"] == "quant" and s["worst_variant"]["npo"] == "int4"
    assert m["attack.worst"] == pytest.approx(0.5) and m["attack.worst_extraction"] == pytest.approx(0.4)
    assert m["attack.quant"] == pytest.approx(0.4) and m["attack.quant.recovery"] == pytest.approx(0.5)
    assert m["attack.prefill.recovery"] == pytest.approx((0.65 - 0.6) / 0.3)
    assert m["attack.quant.is_worst"] == 1.0 and "attack.prefill.is_worst" not in m
    # control: the retain model is at 0, the fine-tuned model at 1, neither marked
    assert s["metrics"]["retain"]["attack.worst"] == pytest.approx(0.0)
    assert s["metrics"]["finetuned"]["attack.worst"] == pytest.approx(1.0)
    assert s["metrics"]["retain"]["attack.marked"] == 0.0


def test_an_attack_where_finetuned_equals_retain_is_uninformative_and_never_counted():
    ft = {"quant": _res(int8=_noisy(0.8, 0)), "text": _res(no_image=_noisy(0.3, 1))}
    rt = {"quant": _res(int8=_noisy(0.1, 2)), "text": _res(no_image=_noisy(0.3, 1))}
    ga = {"quant": _res(int8=_noisy(0.2, 3)), "text": _res(no_image=_const(0.9))}
    s = summarise_attacks({"ga": ga}, ft, rt, n_boot=200)
    assert s["uninformative"] == ["text"] and s["informative"]["quant"]["int8"] is True
    m = s["metrics"]["ga"]
    assert m["attack.text"] == pytest.approx(0.9) and m["attack.text.recovery"] is None  # shown, not counted
    assert s["worst_attack"]["ga"] == "quant" and m["attack.text.informative"] == 0.0


def test_a_model_below_the_retain_level_is_marked_and_gets_no_robust_fq():
    ft = {"prefill": _res(prefix=_noisy(0.8, 0))}
    rt = {"prefill": _res(prefix=_noisy(0.3, 1))}
    broken = {"prefill": _res(prefix=_const(0.0))}
    s = summarise_attacks({"ga": broken}, ft, rt, n_boot=200)
    m = s["metrics"]["ga"]
    assert m["attack.worst"] < 0 and m["attack.worst_high"] < 0
    assert m["attack.below_retain"] == 1.0 and m["attack.marked"] == 1.0
    metrics = {"forget.ks_p": 0.5, "forget.exact_match": 0.0, "forget.ape": 0.0, "mia.auc_min_k_pp": 0.5}
    assert robust_forget_quality(metrics, m["attack.worst"], AggregateConfig(), marked=True) is None


def test_utility_collapse_under_the_worst_attack_marks_the_model():
    ft = {"quant": {**_res(int4=_const(0.8)), "under_attack": {"int4": {"model_utility": 0.6}}}}
    rt = {"quant": {**_res(int4=_const(0.0)), "under_attack": {"int4": {"model_utility": 0.6}}}}
    ok = {"quant": {**_res(int4=_const(0.1)), "under_attack": {"int4": {"model_utility": 0.5}}}}
    dead = {"quant": {**_res(int4=_const(0.1)), "under_attack": {"int4": {"model_utility": 0.1}}}}
    s = summarise_attacks({"ok": ok, "dead": dead}, ft, rt, n_boot=50)
    assert s["metrics"]["ok"]["attack.utility_collapse"] == 0.0 and s["metrics"]["ok"]["attack.marked"] == 0.0
    assert s["metrics"]["dead"]["attack.utility_collapse"] == 1.0 and s["metrics"]["dead"]["attack.marked"] == 1.0
    assert s["metrics"]["dead"]["attack.quant.int4.model_utility"] == 0.1  # utility under attack, stored


def test_a_variant_that_lowers_the_finetuned_models_extraction_is_not_counted():
    ft = _res(lr_low=_noisy(0.85, 0), lr_high=_noisy(0.3, 1), before=_noisy(0.8, 2))
    ft["variants"].pop("before")
    rt = _res(lr_low=_noisy(0.1, 3), lr_high=_noisy(0.05, 4))
    model = _res(lr_low=_noisy(0.2, 5), lr_high=_noisy(0.28, 6))
    s = summarise_attacks({"m": {"relearn": model}}, {"relearn": ft}, {"relearn": rt}, n_boot=200)
    assert s["lowered"] == {"relearn": ["lr_high"]}
    assert s["worst_variant"]["m"] == "lr_low"  # lr_high's higher recovery does not count


def test_summary_without_baselines_shows_extraction_but_no_adjusted_score():
    s = summarise_attacks({"model": {"a": _res(v=_const(0.3)), "b": _res(v=_const(0.4))}})
    m = s["metrics"]["model"]
    assert m["attack.b"] == pytest.approx(0.4) and m["attack.worst"] is None and m["attack.a.informative"] is None


def test_robust_fq_raises_em_and_ape_to_the_clipped_worst_recovery():
    cfg = AggregateConfig()
    metrics = {"forget.ks_p": 0.5, "forget.exact_match": 0.1, "forget.ape": 0.3, "mia.auc_min_k_pp": 0.5,
               "retain.rouge_l": 1, "retain.judge": 1, "retain.truth_ratio": 1, "visual.acc": 1}
    plain = aggregates(metrics, cfg)["forget_quality"]
    # EM 0.1 -> 0.4 and APE 0.3 -> 0.4 lower the (1 - EM) and (1 - APE) terms, weights 0.15 each
    by_hand = plain - 0.15 * (0.4 - 0.1) - 0.15 * (0.4 - 0.3)
    assert robust_forget_quality(metrics, 0.4, cfg) == pytest.approx(by_hand)
    assert robust_forget_quality(metrics, 0.05, cfg) == pytest.approx(plain)  # weaker than EM/APE: no change
    assert robust_forget_quality(metrics, -0.3, cfg) == pytest.approx(plain)  # below retain: clipped to 0
    assert robust_forget_quality(metrics, None, cfg) == pytest.approx(plain)
    full = plain - 0.15 * (1 - 0.1) - 0.15 * (1 - 0.3)
    assert robust_forget_quality(metrics, 1.7, cfg) == pytest.approx(full)  # clipped to 1
