"""The evaluator's verdicts mean what their names say: definitions stored and checked,
MIA figures against the retain model, open visual questions scored on the attribute."""

from __future__ import annotations

import dataclasses
import json
import random
from pathlib import Path

import pytest

from fiubench.errors import ConfigError
from fiubench.eval import EvalConfig, EvalResult, evaluate
from fiubench.metrics.judge import JudgeConfig
from fiubench.metrics.ks import DefinitionMismatch
from fiubench.metrics.version import METRICS_VERSION


def cfg(**kw) -> EvalConfig:  # type: ignore[no-untyped-def]
    base = dict(forget="forget5", judge=JudgeConfig(backend="none"), skip=["judge"], max_new_tokens=4,
                visual_max_new_tokens=3)
    base.update(kw)
    return EvalConfig(**base)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def retain_result(eval_vlm, eval_dataset):  # type: ignore[no-untyped-def]
    return evaluate(eval_vlm, eval_dataset, cfg(), retain_reference="self")


def test_definitions_and_version_are_stored(retain_result, tmp_path):
    r = retain_result
    assert r.metrics_version == METRICS_VERSION
    assert r.definitions["truth_ratio"] == "geometric" and r.definitions["mia_term"] == "two_sided"
    assert "/ 26" in r.definitions["ks_term"] and "word boundaries" in r.definitions["exact_match"]
    r.save(tmp_path / "e")
    data = json.loads((tmp_path / "e" / "results.json").read_text())
    assert data["metrics_version"] == METRICS_VERSION and data["definitions"]["truth_ratio"] == "geometric"
    assert data["provenance"]["metrics_version"] == METRICS_VERSION
    back = EvalResult.load(tmp_path / "e")
    assert back.metrics_version == METRICS_VERSION and back.truth_ratio_mean == "geometric"
    # TPR at low FPR beside the AUC of every attack; the retain model's own leak is 0
    # (only with >= 10 / x never-seen answers: a handful here, so n/a)
    n = int(r.metrics["mia.nonmembers"])
    for a in ("loss", "zlib", "min_k", "min_k_pp"):
        for suffix, fpr in (("tpr1", 0.01), ("tpr5", 0.05)):
            assert (r.metrics[f"mia.{suffix}_{a}"] is None) == (n < 10 / fpr)
        assert r.metrics[f"mia.leak_{a}"] == 0.0
    assert r.metrics["mia.fq_term"] == pytest.approx(1 - 2 * abs(r.metrics["mia.auc_min_k_pp"] - 0.5))


def test_ks_refuses_a_reference_of_another_definition(eval_vlm, eval_dataset, retain_result):
    with pytest.raises(DefinitionMismatch) as e:
        evaluate(eval_vlm, eval_dataset, cfg(truth_ratio_mean="arithmetic"), retain_reference=retain_result)
    assert "'geometric'" in str(e.value) and "'arithmetic'" in str(e.value)
    old = dataclasses.replace(retain_result, metrics_version=1, definitions={})
    old.provenance = {**old.provenance, "config": {**old.provenance["config"], "truth_ratio_mean": "arithmetic"}}
    with pytest.raises(DefinitionMismatch, match="arithmetic"):
        evaluate(eval_vlm, eval_dataset, cfg(), retain_reference=old)
    old.provenance["config"]["truth_ratio_mean"] = "geometric"
    with pytest.raises(DefinitionMismatch, match="metrics version 1"):
        evaluate(eval_vlm, eval_dataset, cfg(), retain_reference=old)


def test_cli_refuses_mixed_reference_before_loading(eval_ckpt, eval_data_dir, retain_result, tmp_path, capsys):
    from fiubench.cli.main import main

    ref = retain_result.save(tmp_path / "ref")
    out = tmp_path / "o"
    rc = main(["eval", "--model", str(eval_ckpt), "--data", str(eval_data_dir), "--judge", "none", "--skip", "judge",
               "--truth-ratio-mean", "arithmetic", "--retain-eval", str(ref), "--out", str(out)])
    assert rc == 2 and not out.exists()
    err = capsys.readouterr().err
    assert "geometric" in err and "arithmetic" in err and "Traceback" not in err


def test_privacy_leak_is_relative_to_the_retain_auc(eval_vlm, eval_dataset, retain_result):
    fake = dataclasses.replace(retain_result, metrics={**retain_result.metrics, "mia.auc_loss": 0.4})
    r = evaluate(eval_vlm, eval_dataset, cfg(), retain_reference=fake)
    assert r.metrics["mia.leak_loss"] == pytest.approx((r.metrics["mia.auc_loss"] - 0.4) / 0.4)


# ---- open visual questions --------------------------------------------------------------
def _visual_dataset(root: Path, dataset_writer) -> Path:  # type: ignore[no-untyped-def]
    """The eval fixture's identities with the data layer's real visual questions (full sentences)."""
    from fiubench.data.faces import sample_attributes
    from fiubench.data.visual import visual_questions

    root = dataset_writer(root)
    rows = []
    rng = random.Random(0)
    for line in (root / "full.json").read_text().splitlines():
        uid = json.loads(line)["unique_id"]
        for it in visual_questions(sample_attributes(rng), rng):
            rows.append({"unique_id": uid, "question": it.question, "answer": it.answer, "kind": it.kind,
                         "attribute": it.attribute})
    (root / "visual_qa.jsonl").write_text("".join(json.dumps(x) + "\n" for x in rows))
    return root


def test_every_open_visual_answer_fits_the_budget(eval_vlm):
    """Every sentence the data layer can produce for an open visual question fits the
    generation budget under the tokenizer; the old fixed budget of 8 is refused."""
    from fiubench.data.faces import ATTRIBUTE_VALUES
    from fiubench.data.visual import ASKED, _statement
    from fiubench.eval.runner import open_visual_budget

    answers = [_statement(a, v) for a in ASKED for v in ATTRIBUTE_VALUES[a] if not (a == "hair_color" and v == "none")]
    tok = eval_vlm.tokenizer
    lengths = [len(tok(a, add_special_tokens=False)["input_ids"]) for a in answers]
    budget = open_visual_budget(tok, answers, None)
    assert all(n + 1 <= budget for n in lengths)
    assert max(lengths) + 1 > 8  # the old budget cut answers: this check is not vacuous
    with pytest.raises(ConfigError, match="eval.visual_open_max_new_tokens"):
        open_visual_budget(tok, answers, 8)
    assert open_visual_budget(tok, answers, max(lengths) + 1) == max(lengths) + 1


def test_open_em_scores_the_attribute_of_a_perfect_answerer(eval_vlm, tmp_path, dataset_writer, monkeypatch):
    """A generator that answers every open visual question with its reference sentence,
    cut at the new-token budget it is given, must score open_em = 1: with the old
    8-token budget and whole-sentence matching it scored far lower."""
    from fiubench.data import load_dataset
    from fiubench.eval.engine import Engine

    ds = load_dataset(_visual_dataset(tmp_path / "vis", dataset_writer))
    gold = {(v.image_path, v.question): v.answer for v in ds.visual_qa}
    tok = eval_vlm.tokenizer
    budgets = []

    def oracle(self, pairs, max_new_tokens):  # type: ignore[no-untyped-def]
        budgets.append(max_new_tokens)
        out = []
        for p, q in pairs:
            ids = tok(gold.get((p, q), "no"), add_special_tokens=False)["input_ids"][:max_new_tokens]
            out.append(tok.decode(ids, skip_special_tokens=True))
        return out

    monkeypatch.setattr(Engine, "generate", oracle)
    r = evaluate(eval_vlm, ds, cfg(skip=["judge", "ks"]))
    opens = [x for x in r.records if x.get("kind") == "visual" and x["type"] == "open"]
    assert opens and all(x["span"] and x["span"] != x["answer"].lower() for x in opens)
    assert r.metrics["visual.open_em"] == 1.0
    assert r.engine["visual_open_max_new_tokens"] in budgets
    # what the old setting gave: whole sentence after 8 new tokens
    from fiubench.metrics.accuracy import open_match

    old = [open_match(x["answer"], tok.decode(tok(x["answer"], add_special_tokens=False)["input_ids"][:8]))
           for x in opens]
    assert sum(old) < len(old)
