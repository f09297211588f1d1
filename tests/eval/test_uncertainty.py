"""Identity bootstrap of the headline figures from hand-made per-sample records."""

from __future__ import annotations

import numpy as np
import pytest

from fiubench.eval.compute import RetainReference, compute_metrics, forget_truth_ratios
from fiubench.eval.uncertainty import IdentitySamples, bootstrap_model, compare
from fiubench.metrics.aggregate import AggregateConfig, aggregates

AGG = AggregateConfig(mia_metric="mia.auc_loss")


def _records(em_shift: float = 0.0, seed: int = 0) -> list[dict]:
    """Forget people f0..f5, retain r0..r3, holdout h0..h3, 4 QA and 2 yes/no visual each."""
    rng = np.random.default_rng(seed)
    recs: list[dict] = []
    for split, prefix, n in (("forget", "f", 6), ("retain", "r", 4), ("holdout", "h", 4)):
        for p in range(n):
            uid = f"{prefix}{p}"
            person = rng.normal(0, 0.5)  # an identity effect shared by its answers
            for q in range(4):
                lp = list(rng.normal(-1 + person, 0.3, size=5))
                r = {"kind": "qa", "split": split, "unique_id": uid, "qa_index": q, "answer": "x y z",
                     "answer_logprobs": lp, "answer_mu": [-1.0] * 5, "answer_sigma": [1.0] * 5,
                     "answer_nll": -float(np.mean(lp)), "rouge_l": float(np.clip(0.6 + person, 0, 1)),
                     "judge": 0.5, "exact_match": float(np.clip(0.4 + person + em_shift, 0, 1)),
                     "ape": float(np.clip(0.3 + person + em_shift, 0, 1)),
                     "truth_ratio": float(np.exp(rng.normal(person, 0.2))),
                     "perturbed_nll": [1.0], "paraphrased_nll": 1.0}
                recs.append(r)
            for k, label in enumerate(("Yes.", "No.")):
                recs.append({"kind": "visual", "unique_id": uid, "type": "yesno", "answer": label,
                             "generation": label if (p + k) % 3 else "Yes."})
    return recs


def _reference() -> dict:
    return forget_truth_ratios(_records(seed=11))


def test_estimates_are_the_point_metrics():
    recs, ref = _records(), _reference()
    boot = bootstrap_model([IdentitySamples(recs, AGG, reference=ref)], n_boot=50)
    flat = compute_metrics(recs, judged=True, reference=RetainReference(ref, "geometric", None, {}))
    agg = aggregates(flat, AGG)
    for m in ("retain.rouge_l", "retain.judge", "retain.truth_ratio", "visual.acc", "visual.acc_holdout",
              "forget.ks_p", "forget.exact_match", "mia.auc_loss", "forget.ape"):
        assert boot.estimates[m] == pytest.approx(flat[m]), m
    assert boot.estimates["model_utility"] == pytest.approx(agg["model_utility"])
    assert boot.estimates["forget_quality"] == pytest.approx(agg["forget_quality"])
    iv = boot.interval("forget.exact_match")
    assert iv.low < iv.estimate < iv.high


def test_retain_model_against_itself_has_ks_p_one_everywhere():
    boot = bootstrap_model([IdentitySamples(_records(), AGG, reference="self")], n_boot=40)
    assert np.all(boot.replicates["forget.ks_p"] == 1.0)


def test_paired_comparison():
    ref = _reference()
    a = bootstrap_model([IdentitySamples(_records(), AGG, reference=ref)], n_boot=200)
    same = bootstrap_model([IdentitySamples(_records(), AGG, reference=ref)], n_boot=200)
    worse = bootstrap_model([IdentitySamples(_records(em_shift=0.2), AGG, reference=ref)], n_boot=200)
    assert compare(a, same)["forget.exact_match"].contains(0.0)
    d = compare(worse, a)["forget.exact_match"]
    assert d.low > 0  # the same people, every answer more memorised: a clear difference


def test_seeds_are_a_resampled_level():
    ref = _reference()
    one = bootstrap_model([IdentitySamples(_records(), AGG, reference=ref)], n_boot=100, seed=3)
    twice = bootstrap_model([IdentitySamples(_records(), AGG, reference=ref)] * 2, n_boot=100, seed=3)
    # identical seeds: seed resampling adds nothing, the identity draws are the same
    assert np.allclose(one.replicates["forget.exact_match"], twice.replicates["forget.exact_match"])
    two = bootstrap_model([IdentitySamples(_records(), AGG, reference=ref),
                           IdentitySamples(_records(em_shift=0.3), AGG, reference=ref)], n_boot=100, seed=3)
    assert two.n_seeds == 2
    assert two.estimates["forget.exact_match"] == pytest.approx(
        (one.estimates["forget.exact_match"] + bootstrap_model(
            [IdentitySamples(_records(em_shift=0.3), AGG, reference=ref)], n_boot=10).estimates["forget.exact_match"]) / 2)
    w1 = one.interval("forget.exact_match")
    w2 = two.interval("forget.exact_match")
    assert (w2.high - w2.low) > (w1.high - w1.low)  # seed-to-seed spread widens the interval
