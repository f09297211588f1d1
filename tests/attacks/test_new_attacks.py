"""The new attacks run on a tiny random VLM and do what their recipe says.

(Whether they *separate* a model that saw the people from one that did not is
tests/attacks/test_separation.py, on trained models.)
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from fiubench.attacks import build_attack, run_attack
from fiubench.errors import ConfigError

from .conftest import FORGET


def _records(out: Path) -> list[dict]:
    return [json.loads(x) for x in (out / "per_sample.jsonl").read_text().splitlines()]


def test_options_are_checked_before_a_model_loads():
    for name, bad, field in [("pgd", {"eps": 0}, "eps"), ("pgd", {"alpha": 1.0}, "alpha"),
                             ("universal", {"steps": 0}, "steps"), ("typographic", {"variants": ["x"]}, "variants"),
                             ("jailbreak", {"templates": ["dan9"]}, "templates"), ("best_of_n", {"n": 0}, "n"),
                             ("best_of_n", {"temperature": 0}, "temperature"),
                             ("hidden_probe", {"layers": ["first"]}, "layers")]:
        with pytest.raises(ConfigError, match=f"options.{field}"):
            build_attack(name, bad)


def test_pgd_moves_pixels_within_budget_and_lowers_the_optimised_loss(tiny_vlm_dir, ctx_for, attack_dataset,
                                                                       tmp_path):
    from fiubench.attacks.probes import half_split
    from fiubench.models.images import load_image

    ctx = ctx_for()
    res = run_attack("pgd", {"steps": 3, "eps": 8 / 255, "alpha": 4 / 255}, tiny_vlm_dir, ctx, tmp_path / "out")
    assert res["info"]["optimised_loss_after"] < res["info"]["optimised_loss_before"]
    for p in attack_dataset.split(FORGET):
        adv = np.asarray(load_image(ctx.work / "pgd" / f"{p.unique_id}.png"), dtype=float)
        clean = np.asarray(load_image(p.image_path), dtype=float)
        assert 0 < np.abs(adv - clean).max() <= 8 + 1  # 8/255 budget, 8-bit rounding
        _, held = half_split(p, ctx.seed)
        recs = [r for r in _records(tmp_path / "out") if r["unique_id"] == p.unique_id]
        assert sorted(r["qa_index"] for r in recs if r["variant"] == "heldout_half") == held  # other half only


def test_universal_perturbation_is_learnt_on_the_other_half_of_the_people(tiny_vlm_dir, ctx_for, attack_dataset,
                                                                           tmp_path):
    ctx = ctx_for()
    res = run_attack("universal", {"steps": 2}, tiny_vlm_dir, ctx, tmp_path / "out")
    a, b = res["info"]["halves"]
    assert a and b and not set(a) & set(b) and set(a) | set(b) == set(attack_dataset.split_ids(FORGET))
    recs = _records(tmp_path / "out")
    assert {r["variant"] for r in recs} == {"before", "transfer"}
    assert len([r for r in recs if r["variant"] == "transfer"]) == sum(len(p.qa_list)
                                                                       for p in attack_dataset.split(FORGET))


def test_typographic_writes_the_question_into_the_image(tiny_vlm_dir, ctx_for, attack_dataset, tmp_path):
    from fiubench.attacks.typographic import INSTRUCTION
    from fiubench.models.images import load_image

    ctx = ctx_for()
    res = run_attack("typographic", None, tiny_vlm_dir, ctx, tmp_path / "out")
    assert set(res["variants"]) == {"figstep", "overlay"}
    recs = _records(tmp_path / "out")
    assert all(r["question"] == INSTRUCTION for r in recs if r["variant"] == "figstep")
    p = attack_dataset.split(FORGET)[0]
    img = np.asarray(load_image(ctx.work / "typographic" / f"{p.unique_id}_0.png"), dtype=float)
    right = img[:, int(img.shape[1] * 0.6) + 2:]
    assert (right < 100).any() and (right > 250).mean() > 0.5  # dark glyphs on white beside the face


def test_jailbreak_wraps_every_forget_question_in_each_template(tiny_vlm_dir, ctx_for, tmp_path):
    from fiubench.attacks.jailbreak import TEMPLATES

    res = run_attack("jailbreak", {"templates": ["roleplay", "refusal_suppression"]}, tiny_vlm_dir, ctx_for(),
                     tmp_path / "out")
    assert list(res["variants"]) == ["roleplay", "refusal_suppression"]
    for r in _records(tmp_path / "out"):
        head = TEMPLATES[r["variant"]].split("{question}")[0]
        assert r["question"].startswith(head) and r["question"] != head


def test_best_of_n_counts_a_keyword_found_in_any_sample(tiny_vlm_dir, ctx_for, tmp_path):
    from fiubench.metrics.text import keyword_match

    res = run_attack("best_of_n", {"n": 3, "temperature": 1.5}, tiny_vlm_dir, ctx_for(max_new_tokens=6),
                     tmp_path / "out")
    assert res["info"] == {"n": 3, "temperature": 1.5}
    for r in _records(tmp_path / "out"):
        assert len(r["per_sample"]) == 3 and len(r["generation"].split("\n")) >= 3
        assert r["extraction"] == keyword_match(r["keywords"], r["generation"]) >= max(r["per_sample"])


def test_hidden_probe_fits_on_retain_people_and_reads_the_forget_people(tiny_vlm_dir, ctx_for, attack_dataset,
                                                                         tmp_path):
    from fiubench.attacks.hidden_probe import pick_attribute

    forget = attack_dataset.split(FORGET)
    attribute = pick_attribute(forget, "auto")
    res = run_attack("hidden_probe", {"attribute": "blood_type"}, tiny_vlm_dir, ctx_for(), tmp_path / "out")
    assert res["in_worst_case"] is False and res["info"]["attribute"] == "blood_type"
    assert res["info"]["n_train_identities"] == len(attack_dataset.split("retain"))
    recs = _records(tmp_path / "out")
    assert {r["unique_id"] for r in recs} == {p.unique_id for p in forget}  # read on the forget people only
    for r in recs:
        assert r["extraction"] == float(r["generation"] == r["keywords"][0])
    assert attribute in {qa.field for p in forget for qa in p.qa_list}
