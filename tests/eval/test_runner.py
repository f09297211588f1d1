"""End-to-end evaluation on a tiny random VLM: invariants, files, errors."""

from __future__ import annotations

import json
import math

import pytest

from fiubench.errors import ConfigError
from fiubench.eval import EvalConfig, EvalResult, evaluate
from fiubench.metrics.judge import JudgeConfig


def cfg(**kw) -> EvalConfig:  # type: ignore[no-untyped-def]
    base = dict(forget="forget5", judge=JudgeConfig(backend="none"), skip=["judge"], max_new_tokens=6,
                visual_max_new_tokens=3)
    base.update(kw)
    return EvalConfig(**base)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def reference(eval_vlm, eval_dataset):  # type: ignore[no-untyped-def]
    """The model evaluated without a KS reference (KS skipped)."""
    return evaluate(eval_vlm, eval_dataset, cfg(skip=["judge", "ks"]))


def test_batch_size_1_reencoding_agrees_with_batch_16_cached(eval_vlm, eval_dataset, reference):
    """Batch 1 through the model layer (processor + vision tower for every row) vs the
    batched, feature-caching fast path: same generations, metrics equal to 1e-5."""
    a = evaluate(eval_vlm, eval_dataset, cfg(batch_size=1, reuse_image_features=False, skip=["judge", "ks"]))
    b = reference  # batch_size=16, reuse_image_features=True
    assert b.engine["fast_path"] and not a.engine["fast_path"]
    assert b.engine["image_encodes"] == 7  # each face encoded once per evaluation
    assert a.metrics.keys() == b.metrics.keys()
    for k, v in a.metrics.items():
        w = b.metrics[k]
        assert (v is None) == (w is None), k
        if v is not None:
            assert w == pytest.approx(v, abs=1e-5), k
    for ra, rb in zip(a.records, b.records, strict=True):
        assert ra.get("generation") == rb.get("generation")
        assert ra.get("paraphrased_generations") == rb.get("paraphrased_generations")
        for key in ("answer_logprobs", "answer_mu", "answer_sigma", "perturbed_nll"):
            if key in ra:
                assert max(abs(x - y) for x, y in zip(ra[key], rb[key], strict=True)) < 1e-5


def test_ks_against_itself_is_one(eval_vlm, eval_dataset, reference):
    r = evaluate(eval_vlm, eval_dataset, cfg(), retain_reference=reference)
    assert r.metrics["forget.ks_p"] == 1.0 and r.metrics["forget.ks_log10_p"] == 0.0
    assert r.aggregates["dropped"] == ["retain.judge"]
    mu_parts = r.aggregates["components"]["model_utility"]
    assert r.metrics["model_utility"] == pytest.approx(
        (mu_parts["retain.rouge_l"] + mu_parts["retain.truth_ratio"] + mu_parts["visual.acc"]) / 3
    )


def test_self_reference_is_the_retain_models_own_ks(eval_vlm, eval_dataset, reference):
    """retain_reference="self": the retain model is scored against its own truth ratios
    in the same pass, identical to evaluating it against a saved copy of itself."""
    r = evaluate(eval_vlm, eval_dataset, cfg(), retain_reference="self")
    assert r.metrics["forget.ks_p"] == 1.0 and r.metrics["forget.ks_log10_p"] == 0.0
    assert r.provenance["retain_reference"].startswith("self")
    twin = evaluate(eval_vlm, eval_dataset, cfg(), retain_reference=reference)
    own = {k: v for k, v in r.metrics.items() if not k.startswith("calibration.")}
    assert own == pytest.approx(twin.metrics)
    assert not any(k.startswith("calibration.") for k in twin.metrics)  # only the retain model's


def test_retain_model_gets_the_calibration_check(eval_vlm, eval_dataset):
    """The retain model (self reference) gets calibration.* (the person-level check of
    fiubench audit) from its forget vs holdout ln R; without holdout identities the check
    cannot run (None, not silently absent)."""
    import dataclasses

    from fiubench.eval.compute import log_r, retain_calibration
    from fiubench.metrics.calibration import CALIBRATION_METRICS

    r = evaluate(eval_vlm, eval_dataset, cfg(), retain_reference="self")
    from fiubench.metrics.truth_ratio import truth_ratio

    qa = [x for x in r.records if x["kind"] == "qa"]
    assert all(x["truth_ratio"] is not None for x in qa if x["split"] == "holdout")  # never-seen people too
    hold = [x for x in qa if x["split"] == "holdout"]
    assert len(hold) == 4
    # the check uses the geometric R whatever the config
    assert [log_r(x) for x in hold] == pytest.approx(
        [math.log(truth_ratio(x["paraphrased_nll"], x["perturbed_nll"], "geometric")) for x in hold])
    assert {k: r.metrics[k] for k in CALIBRATION_METRICS} == pytest.approx(retain_calibration(r.records).metrics())
    assert r.metrics["calibration.holdout_people"] == len({x["unique_id"] for x in hold})
    assert r.metric_info["calibration.forget_mean_log_r"]["higher_is_better"] is None
    no_hold = dataclasses.replace(eval_dataset, splits={k: v for k, v in eval_dataset.splits.items() if k != "holdout"})
    r2 = evaluate(eval_vlm, no_hold, cfg(skip=["judge", "mia"]), retain_reference="self")
    assert all(r2.metrics[k] is None for k in CALIBRATION_METRICS)


def test_records_and_metric_values_are_consistent(reference, eval_dataset):
    recs = [r for r in reference.records if r["kind"] == "qa"]
    assert {r["split"] for r in recs} == {"forget", "retain", "holdout"}
    forget = [r for r in recs if r["split"] == "forget"]
    assert len(forget) == 4 and all(len(r["paraphrased_generations"]) == 3 for r in forget)
    assert all(len(r["perturbed_nll"]) == 3 for r in forget)
    holdout = [r for r in recs if r["split"] == "holdout"]
    assert holdout and all(len(r["perturbed_nll"]) == 3 and r["truth_ratio"] > 0 for r in holdout)
    # metric = mean of the per-sample values, recomputed here by hand
    assert reference.metrics["forget.probability"] == pytest.approx(
        sum(math.exp(-r["answer_nll"]) for r in forget) / 4)
    assert reference.metrics["forget.truth_ratio"] == pytest.approx(
        sum(min(r["truth_ratio"], 1 / r["truth_ratio"]) for r in forget) / 4)
    # the answer NLL is the mean of the stored per-token log-probs (answer + end-of-turn)
    r0 = forget[0]
    assert r0["answer_nll"] == pytest.approx(-sum(r0["answer_logprobs"]) / len(r0["answer_logprobs"]))
    assert len(r0["answer_mu"]) == len(r0["answer_logprobs"])
    # visual questions of every evaluated face, forgotten ones included
    vis = {r["unique_id"] for r in reference.records if r["kind"] == "visual"}
    assert {"00000001", "00000002"} <= vis
    for k in ("mia.auc_loss", "mia.auc_zlib", "mia.auc_min_k", "mia.auc_min_k_pp"):
        assert 0.0 <= reference.metrics[k] <= 1.0


def test_holdout_answers_are_generated_only_when_asked(eval_vlm, eval_dataset, reference):
    """Holdout QA enter through log-probs only: by default no generation is spent on them,
    and every metric is the same as when they are generated."""
    hold = [r for r in reference.records if r["kind"] == "qa" and r["split"] == "holdout"]
    assert hold and all(r.get("generation") is None and r["exact_match"] is None for r in hold)
    full = evaluate(eval_vlm, eval_dataset, cfg(skip=["judge", "ks"], holdout_generations=True))
    hold_full = [r for r in full.records if r["kind"] == "qa" and r["split"] == "holdout"]
    assert all(isinstance(r["generation"], str) and r["exact_match"] is not None for r in hold_full)
    assert full.metrics == reference.metrics


def test_missing_headline_inputs_are_errors(eval_vlm, eval_dataset, reference):
    with pytest.raises(ConfigError, match="--retain-eval"):
        evaluate(eval_vlm, eval_dataset, cfg(skip=["judge"]))
    with pytest.raises(ConfigError, match="judge"):
        evaluate(eval_vlm, eval_dataset, cfg(skip=["ks"]))
    import copy

    other = copy.deepcopy(reference)
    other.provenance["config"]["forget"] = "forget10"
    with pytest.raises(ConfigError, match="forget split 'forget10'"):
        evaluate(eval_vlm, eval_dataset, cfg(), retain_reference=other)
    other = copy.deepcopy(reference)
    other.records = [r for r in other.records if r.get("unique_id") != "00000001"]
    with pytest.raises(ConfigError, match="differ"):
        evaluate(eval_vlm, eval_dataset, cfg(), retain_reference=other)


def test_save_load_and_reuse_as_reference(eval_vlm, eval_dataset, eval_ckpt, reference, tmp_path):
    out = reference.save(tmp_path / "ref")
    data = json.loads((out / "results.json").read_text())
    assert set(data) >= {"metrics", "metric_info", "aggregates", "judge", "provenance"}
    assert data["metric_info"]["forget.exact_match"] == {
        "higher_is_better": False, "split": "forget", "label": "keyword exact match (forget)"}
    assert data["provenance"]["config"]["forget"] == "forget5"
    assert "torch" in data["provenance"]["packages"]
    loaded = EvalResult.load(out)
    assert loaded.forget_truth_ratios() == reference.forget_truth_ratios()
    r = evaluate(eval_vlm, eval_dataset, cfg(), retain_reference=out, checkpoint=eval_ckpt)
    assert r.metrics["forget.ks_p"] == 1.0
    sha = r.provenance["model_checkpoint_sha256"]
    assert list(sha) == ["model.safetensors"] and len(sha["model.safetensors"]) == 64
    with pytest.raises(Exception, match="already exists"):
        reference.save(out)


def test_similarity_judge_runs(eval_vlm, eval_dataset, reference):
    r = evaluate(eval_vlm, eval_dataset, cfg(judge=JudgeConfig(backend="similarity"), skip=[]),
                 retain_reference=reference)
    assert 0.0 <= r.metrics["retain.judge"] <= 1.0
    assert r.judge["backend"] == "similarity" and r.judge["malformed"] == 0
    assert "similarity, offline" in r.metric_info["retain.judge"]["label"]
    assert r.aggregates["dropped"] == []
