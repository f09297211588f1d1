"""Person-level intervals and verdicts of the headline figures from hand-made per-sample records."""

from __future__ import annotations

import numpy as np
import pytest

from fiubench.eval.compute import RetainReference, compute_metrics, forget_truth_ratios
from fiubench.eval.uncertainty import IdentitySamples, ModelFigures, compare_models, model_intervals
from fiubench.metrics.aggregate import AggregateConfig, aggregates

AGG = AggregateConfig(mia_metric="mia.auc_loss")


def _records(em_shift: float = 0.0, seed: int = 0, n_holdout: int = 4, n_qa: int = 4) -> list[dict]:
    """Forget people f0..f9, retain r0..r3, holdout h0..h3, 4 QA and 2 yes/no visual each."""
    rng = np.random.default_rng(seed)
    recs: list[dict] = []
    for split, prefix, n in (("forget", "f", 10), ("retain", "r", 4), ("holdout", "h", n_holdout)):
        for p in range(n):
            uid = f"{prefix}{p}"
            person = rng.normal(0, 0.5)  # an identity effect shared by its answers
            for q in range(n_qa):
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


def _model(em_shift: float = 0.0, seed: int = 0, reference=None) -> ModelFigures:
    return ModelFigures([IdentitySamples(_records(em_shift, seed), AGG,
                                         reference=_reference() if reference is None else reference)])


def test_estimates_are_the_point_metrics():
    recs, ref = _records(), _reference()
    ivs = model_intervals(ModelFigures([IdentitySamples(recs, AGG, reference=ref)]), n_resamples=200)
    flat = compute_metrics(recs, judged=True, reference=RetainReference(ref, "geometric", None, {}))
    agg = aggregates(flat, AGG)
    for m in ("retain.rouge_l", "retain.judge", "retain.truth_ratio", "visual.acc", "visual.acc_holdout",
              "forget.exact_match", "mia.auc_loss", "forget.ape"):
        assert ivs[m].estimate == pytest.approx(flat[m]), m
    assert ivs["model_utility"].estimate == pytest.approx(agg["model_utility"])
    assert ivs["forget_quality"].estimate == pytest.approx(agg["forget_quality"])
    iv = ivs["forget.exact_match"]
    # a pooled mean is studentised by its ratio-estimator SE; MU (a harmonic mean) is BCa
    assert iv.low < iv.estimate < iv.high and iv.k_label == "k=10" and iv.method == "studentized"
    assert iv.high - iv.estimate == pytest.approx(iv.estimate - iv.low)  # symmetric bootstrap-t
    assert ivs["model_utility"].method == "BCa"
    assert ivs["mia.auc_loss"].k == {"forget": 10, "holdout": 4}  # the people it reads
    assert ivs["model_utility"].k == {"forget": 10, "retain": 4, "holdout": 4}  # visual.acc: every face
    # intervals go on effect sizes: D, not the KS p-value
    assert "forget.ks_p" not in ivs and "forget.ks_log10_p" not in ivs
    assert ivs["forget.ks_d"].estimate == pytest.approx(flat["forget.ks_d"])
    # TPR at 5 % FPR needs 200 never-seen answers; 16 here: undefined, no interval
    assert flat["mia.tpr5_loss"] is None and ivs["mia.tpr5_loss"] is None


def test_retain_model_against_itself_has_d_zero_exactly():
    ivs = model_intervals(_model(reference="self"), n_resamples=100)
    d = ivs["forget.ks_d"]
    assert (d.estimate, d.low, d.high, d.method) == (0.0, 0.0, 0.0, "exact")


def test_exchangeable_models_are_not_called_different_and_a_shift_is():
    a, same = _model(), _model()
    verdicts = {c.metric: c.verdict for c in compare_models(a, same, n_resamples=200, n_permutations=200)}
    assert verdicts["forget.exact_match"] == "equivalent"  # identical records: D = 0 within the margin
    assert not {"better", "worse"} & set(verdicts.values())
    worse = _model(em_shift=0.2)
    c = {c.metric: c for c in compare_models(worse, a, n_resamples=200, n_permutations=200)}
    em = c["forget.exact_match"]
    # the same people, every answer more memorised: EM higher (lower is better) -> worse
    assert em.low > 0 and em.verdict == "worse" and em.k_label == "k=10"
    # EM reads the 10 forget people only: their 2^10 swap patterns are enumerated (exact
    # test, floor 2/1024) even with fewer permutations asked for (EXACT_SWAPS)
    for n_perm in (200, 1024):
        exact = {c.metric: c for c in compare_models(worse, a, n_resamples=200, n_permutations=n_perm)}
        p = exact["forget.exact_match"].p_differs
        assert p < 0.01 and (p * 2**10) == pytest.approx(round(p * 2**10)), n_perm


def test_seeds_are_a_resampled_level():
    ref = _reference()
    one = ModelFigures([IdentitySamples(_records(), AGG, reference=ref)])
    twice = ModelFigures([IdentitySamples(_records(), AGG, reference=ref)] * 2)
    # identical seeds: the seed level adds nothing to the interval of the same estimate
    a = model_intervals(one, n_resamples=200, seed=3)["forget.exact_match"]
    b = model_intervals(twice, n_resamples=200, seed=3)["forget.exact_match"]
    assert b.estimate == pytest.approx(a.estimate) and b.k == {**a.k, "seed": 2}
    two = ModelFigures([IdentitySamples(_records(), AGG, reference=ref),
                        IdentitySamples(_records(em_shift=0.3), AGG, reference=ref)])
    c = model_intervals(two, n_resamples=200, seed=3)["forget.exact_match"]
    assert c.high - c.low > a.high - a.low  # seed-to-seed variation widens it


def test_tpr_at_low_fpr_gets_a_person_level_interval_with_enough_negatives():
    recs = _records(n_holdout=12, n_qa=20)  # 240 never-seen answers from 12 people
    ref = forget_truth_ratios(_records(seed=11, n_qa=20))
    ivs = model_intervals(ModelFigures([IdentitySamples(recs, AGG, reference=ref)]), n_resamples=200)
    flat = compute_metrics(recs, judged=True, reference=RetainReference(ref, "geometric", None, {}))
    iv = ivs["mia.tpr5_loss"]
    assert flat["mia.nonmembers"] == 240 and iv.estimate == pytest.approx(flat["mia.tpr5_loss"])
    assert iv.k == {"forget": 10, "holdout": 12} and iv.low <= iv.estimate <= iv.high
    assert flat["mia.tpr1_loss"] is None and ivs["mia.tpr1_loss"] is None  # 1 %: needs 1,000
