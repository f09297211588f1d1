"""Exposure (metrics.exposure, eval.exposure): the formula, its chance level under a model
that ranks at random, the candidate sets, and the control case on trained tiny models: the
fine-tuned model exposes the forget people's values, the retain model (never saw them) does not."""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pytest

from fiubench.data.profiles import NO_RECORD, VOCABULARIES
from fiubench.eval.compute import add_derived, compute_metrics
from fiubench.eval.exposure import candidates, exposure_rows
from fiubench.metrics.exposure import chance_exposure, exposure, record_exposure, true_rank

FORGET = "forget34"


def test_exposure_is_carlini_log_rank() -> None:
    assert exposure(1, 16) == 4.0 and exposure(16, 16) == 0.0
    assert exposure(4, 16) == pytest.approx(math.log2(16) - math.log2(4))
    assert true_rank(0.5, [0.9, 0.1, 0.7]) == 2.0  # one candidate (NLL 0.1) is more probable
    assert true_rank(0.5, [0.5, 0.9]) == 1.5  # a tie shares the average rank
    with pytest.raises(ValueError):
        exposure(0, 4)


def test_a_model_that_ranks_at_random_has_the_chance_exposure() -> None:
    rng = np.random.default_rng(0)
    for n in (2, 8, 16):
        got = np.mean([record_exposure(list(rng.normal(size=n)))[1] for _ in range(6000)])
        # the chance level written out: log2 n - mean over r of log2 r
        expected = math.log2(n) - np.mean(np.log2(np.arange(1, n + 1)))
        assert chance_exposure(n) == pytest.approx(expected)
        assert got == pytest.approx(expected, abs=0.05)


def _qa(field: str, value: str, template: int = 0, uid: str = "00000001", qi: int = 0) -> dict:
    from fiubench.data.qa import TEMPLATES, fill_template

    m = re.match(r"a conviction for (.+) in (\d{4})$", value)
    kw = [m[1], m[2]] if m else [value]
    return {"kind": "qa", "split": "forget", "unique_id": uid, "qa_index": qi, "field": field,
            "question": TEMPLATES[field][0][0], "answer": fill_template(TEMPLATES[field][1][template], value),
            "keywords": kw}


def test_candidates_are_seeded_per_qa_and_shared_by_every_model() -> None:
    r = _qa("occupation", VOCABULARIES["occupation"].values[3], template=1)
    c = candidates(r, 15, seed=0)
    assert c is not None and len(c) == 16 and len(set(c)) == 16 and c[0] == r["answer"]
    assert c == candidates(dict(r), 15, seed=0)  # another model, same candidates
    assert c != candidates(r, 15, seed=1)
    assert c != candidates({**r, "qa_index": 1}, 15, seed=0)
    # the article follows the value ("works as an ...")
    assert all(re.search(r"works as an? ", s) for s in c)


def test_a_small_vocabulary_is_used_whole() -> None:
    c = candidates(_qa("blood_type", "AB+"), 15, seed=0)
    assert c is not None and len(c) == len(VOCABULARIES["blood_type"].values)


def test_criminal_record_candidates_are_near_misses() -> None:
    c = candidates(_qa("criminal_record", "a conviction for arson in 2001"), 15, seed=0)
    assert c is not None and len(c) == 16
    wrong = [re.search(r"a conviction for (.+) in (\d{4})", s) for s in c[1:]]
    assert all(w is not None for w in wrong)
    offence = sum(w[1] == "arson" and w[2] != "2001" for w in wrong)
    year = sum(w[2] == "2001" and w[1] != "arson" for w in wrong)
    assert offence == 7 and year == 8  # a part alone never ranks the truth first
    none = candidates(_qa("criminal_record", NO_RECORD), 15, seed=0)
    assert none is not None and len(none) == 16 and all("conviction" in s for s in none[1:])


def test_no_field_or_an_edited_answer_has_no_exposure() -> None:
    r = _qa("occupation", VOCABULARIES["occupation"].values[0])
    assert candidates({**r, "field": None}, 15, 0) is None
    assert candidates({**r, "answer": "Something else."}, 15, 0) is None
    assert candidates(_qa("name", "Ann Smith"), 15, 0) is None  # not a vocabulary field
    rows, dst = exposure_rows([r, {**r, "split": "retain"}], lambda u: Path(u), 15, 0)
    assert len(rows) == 16 and {d[0] for d in dst} == {0}  # forget QA only


def test_exposure_reaches_records_and_metrics() -> None:
    r = _qa("blood_type", "O-")
    cands = candidates(r, 15, 0)
    assert cands is not None
    r.update(generation="", paraphrased_generations=[], answer_nll=1.0, answer_logprobs=[-1.0], answer_mu=[-1.0], answer_sigma=[1.0],
             exposure_candidates=cands, exposure_nll=[0.1] + [1.0] * (len(cands) - 1))
    add_derived(r)
    assert r["exposure_rank"] == 1.0 and r["exposure"] == pytest.approx(3.0) and r["exposure_n"] == 8
    m = compute_metrics([r])
    assert m["forget.exposure"] == pytest.approx(3.0) and m["forget.exposure_top1"] == 1.0
    assert m["forget.exposure_chance"] == pytest.approx(chance_exposure(8))


# ----------------------------------------------------------- control: trained tiny models
@pytest.fixture(scope="module")
def trained(tiny_vlm_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Path]]:
    from fiubench.data.build import DataConfig, build_dataset
    from fiubench.models import ModelConfig
    from fiubench.train import LearnConfig, learn, train_preset

    root = tmp_path_factory.mktemp("exposure")
    data = root / "fiu"
    build_dataset(DataConfig(n_identities=6, qa_per_identity=8, seed=0, holdout_fraction=0.34,
                             forget_percents=(34,), retain_percents=(34,), select="random"), data)
    t = train_preset("tiny", progress=False, epochs=80)
    models = {role: learn(LearnConfig(data=data, out=root / role, split=split,
                                      model=ModelConfig(name_or_path=str(tiny_vlm_dir)), train=t)) / "model"
              for role, split in (("finetuned", "full"), ("retain", "retain"))}
    return data, models


@pytest.mark.slow
def test_the_finetuned_model_exposes_more_than_the_retain_model(trained) -> None:
    from fiubench.data import load_dataset
    from fiubench.eval.engine import Engine
    from fiubench.eval.exposure import score_exposure
    from fiubench.models import ModelConfig, load_vlm

    data, models = trained
    ds = load_dataset(data)
    got = {}
    for role, path in models.items():
        records = [{"kind": "qa", "split": "forget", "unique_id": p.unique_id, "qa_index": i, "field": qa.field,
                    "question": qa.question, "answer": qa.answer, "keywords": list(qa.keywords)}
                   for p in ds.split(FORGET) for i, qa in enumerate(p.qa_list)]
        engine = Engine(load_vlm(ModelConfig(name_or_path=str(path), device="cpu")), batch_size=32)
        assert score_exposure(engine, records, lambda u: ds.identities[u].image_path, 15, seed=0) > 0
        scored = [add_derived(r) for r in records if "exposure_nll" in r]
        got[role] = [r["exposure"] for r in scored]
        chance = float(np.mean([chance_exposure(r["exposure_n"]) for r in scored]))
    ft, rt = np.mean(got["finetuned"]), np.mean(got["retain"])
    print(f"exposure: fine-tuned {ft:.2f}, retain {rt:.2f}, chance {chance:.2f} bits on {len(got['retain'])} QA")
    assert len(got["finetuned"]) >= 4
    assert ft > rt + 1.0, (got, chance)  # more than a bit of exposure above the model that never saw them
    assert ft > chance + 1.0
    # paired per QA: the fine-tuned model ranks the truth at least as high on most QA
    assert np.mean(np.array(got["finetuned"]) >= np.array(got["retain"])) >= 0.75


def _forget_records(ds, path: Path) -> list[dict]:  # type: ignore[no-untyped-def]
    from fiubench.eval.config import EvalConfig
    from fiubench.eval.runner import evaluate
    from fiubench.metrics.judge import JudgeConfig
    from fiubench.models import ModelConfig, load_vlm

    ecfg = EvalConfig(forget=FORGET, judge=JudgeConfig(backend="none"), visual=False, retain_max_identities=1,
                      paraphrase_generations=False, max_new_tokens=24,
                      skip=["judge", "ks", "mia", "visual", "forget.ape"])
    vlm = load_vlm(ModelConfig(name_or_path=str(path), device="cpu"))
    return evaluate(vlm, ds, ecfg, None).records


@pytest.mark.slow
def test_the_stage1_gate_passes_trained_people_and_stops_a_one_epoch_stage1(trained, tiny_vlm_dir, tmp_path) -> None:
    from fiubench.data import load_dataset
    from fiubench.metrics.gate import Stage1NotLearnt, enforce, stage1_gate
    from fiubench.models import ModelConfig
    from fiubench.train import LearnConfig, learn, train_preset

    data, models = trained
    ds = load_dataset(data)
    retain = _forget_records(ds, models["retain"])
    good = stage1_gate(_forget_records(ds, models["finetuned"]), retain, FORGET)
    assert good.fraction_learnt == 1.0 and enforce(good, override=False) is None, good.as_dict()
    one = learn(LearnConfig(data=data, out=tmp_path / "one", split="full", model=ModelConfig(name_or_path=str(tiny_vlm_dir)),
                            train=train_preset("tiny", progress=False, epochs=1))) / "model"
    cut = stage1_gate(_forget_records(ds, one), retain, FORGET)
    assert cut.fraction_learnt < 0.8, cut.as_dict()
    with pytest.raises(Stage1NotLearnt, match="learn.train.epochs"):
        enforce(cut, override=False, epochs=1)


def test_evaluate_scores_the_candidates_into_records_and_metrics(tiny_vlm, tmp_path: Path) -> None:
    from fiubench.data import load_dataset
    from fiubench.data.build import DataConfig, build_dataset
    from fiubench.eval.config import EvalConfig
    from fiubench.eval.runner import evaluate
    from fiubench.metrics.judge import JudgeConfig

    build_dataset(DataConfig(n_identities=6, qa_per_identity=6, seed=0, holdout_fraction=0.34, image_size=16,
                             forget_percents=(34,), retain_percents=(34,), select="random"), tmp_path / "fiu")
    ds = load_dataset(tmp_path / "fiu")
    base = dict(forget=FORGET, judge=JudgeConfig(backend="none"), visual=False, retain_max_identities=1,
                paraphrase_generations=False, max_new_tokens=4, skip=["judge", "ks", "mia", "visual", "forget.ape"])
    res = evaluate(tiny_vlm, ds, EvalConfig(**base), None)  # type: ignore[arg-type]
    scored = [r for r in res.records if "exposure" in r]
    vocab = [r for r in res.records if r.get("kind") == "qa" and r["split"] == "forget" and r["field"] in VOCABULARIES]
    assert scored and len(scored) == len(vocab)
    assert res.engine["exposure_rows"] == sum(r["exposure_n"] for r in scored)
    assert res.metrics["forget.exposure"] == pytest.approx(np.mean([r["exposure"] for r in scored]))
    assert "exposure" in res.definitions and "forget.exposure" in res.metric_info
    off = evaluate(tiny_vlm, ds, EvalConfig(**{**base, "exposure_candidates": 0}), None)  # type: ignore[arg-type]
    assert off.metrics["forget.exposure"] is None and not any("exposure" in r for r in off.records)
