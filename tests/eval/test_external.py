"""POPE / MME readers in their published formats, and their accuracy in an evaluation."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from fiubench.errors import DataError
from fiubench.eval.external import load_mme, load_pope


def _img(path):  # type: ignore[no-untyped-def]
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.zeros((64, 64, 3), dtype=np.uint8)).save(path)


def test_pope_reader(tmp_path):
    _img(tmp_path / "imgs" / "a.jpg")
    f = tmp_path / "pope.jsonl"
    f.write_text(json.dumps({"question_id": 1, "image": "a.jpg", "text": "Is there a dog?", "label": "no"}) + "\n"
                 + json.dumps({"image": "a.jpg", "question": "Is there a cat?", "label": "Yes"}) + "\n")
    items = load_pope(f, tmp_path / "imgs")
    assert [(i.question, i.label) for i in items] == [("Is there a dog?", "no"), ("Is there a cat?", "yes")]
    assert load_pope(f, tmp_path / "imgs", limit=1)[0].image_path == tmp_path / "imgs" / "a.jpg"
    f.write_text(json.dumps({"image": "missing.jpg", "text": "q", "label": "no"}) + "\n")
    with pytest.raises(DataError, match="missing.jpg"):
        load_pope(f, tmp_path / "imgs")
    f.write_text(json.dumps({"image": "a.jpg", "text": "q", "label": "maybe"}) + "\n")
    with pytest.raises(DataError, match=r"pope.jsonl:1: label"):
        load_pope(f, tmp_path / "imgs")


def test_mme_reader(tmp_path):
    _img(tmp_path / "mme" / "color" / "images" / "x.png")
    (tmp_path / "mme" / "color.txt").write_text("x.png\tIs it red?\tYes\nx.png\tIs it black?\tNo\n")
    items = load_mme(tmp_path / "mme")
    assert [(i.task, i.label) for i in items] == [("color", "yes"), ("color", "no")]
    (tmp_path / "mme" / "bad.txt").write_text("x.png only two fields\n")
    with pytest.raises(DataError, match="bad.txt:1"):
        load_mme(tmp_path / "mme")


def test_pope_and_mme_in_evaluation(eval_vlm, eval_dataset, tmp_path):
    from fiubench.eval import EvalConfig, evaluate
    from fiubench.metrics.judge import JudgeConfig

    _img(tmp_path / "a.jpg")
    pope = tmp_path / "pope.jsonl"
    pope.write_text("".join(json.dumps({"image": "a.jpg", "text": f"Is there a {o}?", "label": lab}) + "\n"
                            for o, lab in (("dog", "yes"), ("cat", "no"))))
    _img(tmp_path / "mme" / "count" / "y.png")
    (tmp_path / "mme" / "count.txt").write_text("y.png\tAre there two?\tYes\ny.png\tAre there three?\tNo\n")
    cfg = EvalConfig(forget="forget5", judge=JudgeConfig(backend="none"), skip=["judge", "ks"],
                     max_new_tokens=2, visual_max_new_tokens=2, paraphrase_generations=False,
                     pope=pope, mme=tmp_path / "mme")
    cfg.skip.append("forget.ape")
    r = evaluate(eval_vlm, eval_dataset, cfg)
    # a random model answers neither yes nor no: accuracy is a real 0, not a blank
    pope_recs = [x for x in r.records if x["kind"] == "pope"]
    assert len(pope_recs) == 2 and r.metrics["pope.acc"] is not None
    assert r.metrics["mme.acc"] is not None and r.metrics["mme.acc_plus"] is not None
    assert r.metric_info["pope.acc"]["higher_is_better"] is True
