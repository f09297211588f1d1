"""Informative forget-quality terms (metrics.informative): the interval rule per term, the
person-level comparison it reads on synthetic people (a term on which the fine-tuned model
equals the retain model comes out uninformative, the null case), and FQ with the
uninformative weight shared out, checked against the weights written out by hand."""

from __future__ import annotations

import numpy as np
import pytest

from fiubench.metrics.aggregate import AggregateConfig, aggregates
from fiubench.metrics.informative import (
    check_term,
    informative_forget_quality,
    shared_out_weights,
    term_checks,
)


def test_the_rule_per_term() -> None:
    assert check_term("em", 0.3, 0.1, 0.5, 0.01, 0.05)[0] is True
    assert check_term("ape", 0.02, -0.003, 0.042, 0.2, 0.05)[0] is False  # the default run's APE
    assert check_term("mia", -0.3, -0.5, -0.1, 0.01, 0.05)[0] is True  # the fine-tuned model is more detectable
    assert check_term("mia", 0.3, 0.1, 0.5, 0.01, 0.05)[0] is False  # less detectable than never-seen
    assert check_term("ks", 0.4, 0.3, 0.5, 0.002, 0.05)[0] is True
    assert check_term("ks", 0.4, 0.3, 0.5, 0.5, 0.05)[0] is False  # D > 0 always: judged on the test
    assert check_term("em", None, None, None, None, 0.05)[0] is None  # no comparison: unknown


def test_shared_out_fq_matches_the_weights_written_out() -> None:
    m = {"forget.ks_p": 0.4, "forget.exact_match": 0.2, "mia.auc_min_k_pp": 0.6, "forget.ape": 0.1}
    agg = AggregateConfig()
    full = aggregates(m, agg, skip=["judge", "visual", "retain.rouge_l", "retain.truth_ratio"])["forget_quality"]
    assert informative_forget_quality(m, agg, dict.fromkeys(("ks", "em", "mia", "ape"), True)) == pytest.approx(full)
    assert informative_forget_quality(m, agg, {"ape": None}) == pytest.approx(full)  # unknown keeps its weight
    # the KS term under whatever normalisation is the default; the others written out
    ks = aggregates(m, agg, skip=["judge", "visual", "retain.rouge_l", "retain.truth_ratio"])[
        "components"]["forget_quality"]["ks"]
    t = {"ks": ks, "em": 1 - 0.2, "mia": 1 - 2 * abs(0.6 - 0.5), "ape": 1 - 0.1}
    by_hand = (0.5 * t["ks"] + 0.15 * t["em"] + 0.2 * t["mia"]) / (0.5 + 0.15 + 0.2)
    assert informative_forget_quality(m, agg, {"ape": False}) == pytest.approx(by_hand)
    assert shared_out_weights(agg.fq_weights, {"ape": False, "em": None})["em"] == agg.fq_weights["em"]
    assert informative_forget_quality(m, agg, dict.fromkeys(("ks", "em", "mia", "ape"), False)) is None


def _people(rng: np.random.Generator, split: str, n: int, em: float, start: int) -> list[dict]:
    out = []
    for p in range(n):
        for q in range(4):
            lp = list(rng.normal(-2.0, 0.5, size=6))
            out.append({"kind": "qa", "split": split, "unique_id": f"{start + p:08d}", "qa_index": q,
                        "exact_match": float(rng.random() < em), "ape": float(rng.random() < 0.05),
                        "truth_ratio": float(rng.lognormal()), "answer_logprobs": lp,
                        "answer_mu": [-2.0] * 6, "answer_sigma": [0.5] * 6})
    return out


def test_on_synthetic_people_a_term_equal_to_the_retain_models_is_uninformative() -> None:
    from fiubench.eval.uncertainty import IdentitySamples, ModelFigures, compare_models

    rng = np.random.default_rng(0)
    retain = _people(rng, "forget", 10, 0.05, 0) + _people(rng, "holdout", 10, 0.0, 100)
    # the fine-tuned model says the keywords (EM 0.95) but nothing else differs from the retain model
    finetuned = _people(rng, "forget", 10, 0.95, 0) + _people(rng, "holdout", 10, 0.0, 100)
    ref = {(r["unique_id"], r["qa_index"]): r["truth_ratio"] for r in retain if r["split"] == "forget"}
    agg = AggregateConfig()
    skip = ["judge", "visual", "retain.rouge_l", "retain.truth_ratio"]
    ft = ModelFigures([IdentitySamples(finetuned, agg, reference=ref)], skip)
    rt = ModelFigures([IdentitySamples(retain, agg, reference="self")], skip)
    rows = {c.metric: {"estimate": c.estimate, "low": c.low, "high": c.high, "p_differs": c.p_differs,
                       "k": c.k_label} for c in compare_models(ft, rt, n_resamples=500, n_permutations=500)}
    checks = term_checks(rows, alpha=0.05)
    assert checks["em"].informative is True and checks["em"].k == "k=10"
    assert checks["ape"].informative is False
    assert checks["mia"].informative is False
