"""A dataset edited in place between runs reruns exactly the steps that read what
changed (no stale result), and `fiubench run` keeps the judge's verdicts on disk."""

from __future__ import annotations

import json
import shutil

import pytest
from PIL import Image

from fiubench.pipeline.run import run_pipeline
from fiubench.presets import load_run_config

from .conftest import micro_config

pytestmark = pytest.mark.slow


def _run(cfg, out) -> dict[str, str]:
    lines: list[str] = []
    run_pipeline(cfg, out, report=False, log=lines.append)
    from .conftest import steps

    return dict(steps("\n".join(lines)))


def test_edited_dataset_reruns_exactly_the_affected_steps(micro_dataset, tmp_path, fake_openai):
    srv = fake_openai("ok")
    ds = tmp_path / "ds"
    shutil.copytree(micro_dataset, ds)
    cfg = load_run_config(None, micro_config(tmp_path, {
        "dataset": str(ds),
        "eval": {"judge": {"backend": "openai", "model": "judge-m", "base_url": srv.url}},
    }))
    out = tmp_path / "run"
    first = _run(cfg, out)
    assert set(first.values()) == {"running"}
    asked = len(srv.requests)
    assert asked > 0
    assert (out / "cache" / "judge_verdicts.jsonl").is_file()

    learn = {"learn/finetuned", "learn/retain"}
    evals_ref = {"eval/retain/forget10", "eval/finetuned/forget10"}
    ckpt_evals = {n for n in first if n.startswith("eval/ga/")}
    # the bootstrap intervals read every evaluation of the split: they follow any rerun one
    derived = {n for n in first if n.startswith("uncertainty/")}
    gates = {n for n in first if n.startswith("gate/")}  # the stage-1 gate reads the two reference evaluations

    # 1. refusal sentences (read by unlearning only)
    refusals = json.loads((ds / "prompt.json").read_text())
    (ds / "prompt.json").write_text(json.dumps([*refusals, "I would rather not say."]))
    second = _run(cfg, out)
    assert {n for n, w in second.items() if w == "running"} == {"unlearn/ga/forget10", *ckpt_evals, *derived}
    # GA ignores refusals: same model, same answers -> every verdict from the disk cache
    assert len(srv.requests) == asked

    # 2. one visual question's answer (read by evaluation only)
    lines = (ds / "visual_qa.jsonl").read_text().splitlines()
    rec = json.loads(lines[0])
    rec["answer"] = rec["answer"] + " (edited)"
    lines[0] = json.dumps(rec)
    (ds / "visual_qa.jsonl").write_text("\n".join(lines) + "\n")
    third = _run(cfg, out)
    assert {n for n, w in third.items() if w == "running"} == evals_ref | ckpt_evals | derived | gates
    assert all(third[n] == "cached" for n in learn | {"unlearn/ga/forget10"})
    assert len(srv.requests) == asked

    # 3. an image edited in place (a holdout face: evaluated for MIA, never trained)
    split = json.loads((ds / "split.json").read_text())
    uid = split["holdout"][0]
    row = next(json.loads(x) for x in (ds / "full.json").read_text().splitlines() if json.loads(x)["unique_id"] == uid)
    img_path = ds / row["image_path"]
    with Image.open(img_path) as im:
        im = im.convert("RGB")
        im.putpixel((0, 0), (255 - im.getpixel((0, 0))[0], 0, 0))
        im.save(img_path)
    fourth = _run(cfg, out)
    assert {n for n, w in fourth.items() if w == "running"} == evals_ref | ckpt_evals | derived | gates
    assert all(fourth[n] == "cached" for n in learn | {"unlearn/ga/forget10"})

    # 4. nothing changed: everything cached
    assert set(_run(cfg, out).values()) == {"cached"}
