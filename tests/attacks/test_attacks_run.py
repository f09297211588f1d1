"""Every attack runs on a tiny random VLM and asks what its recipe says it asks.

(Whether an attack *separates* a model that saw the people from one that did not is
tests/attacks/test_separation.py, on trained models.)
"""

from __future__ import annotations

import json

import pytest

from fiubench.attacks import attack_names, build_attack, run_attack
from fiubench.errors import ConfigError, FiubenchError

from .conftest import FORGET


def test_registry_lists_every_attack_and_rejects_typos():
    assert set(attack_names()) == {"relearn", "quantization", "text_only", "image_perturbation",
                                   "profile_dump", "prefill", "pgd", "universal", "typographic", "jailbreak",
                                   "best_of_n", "hidden_probe"}
    with pytest.raises(FiubenchError, match='Did you mean "prefill"'):
        build_attack("prefil")
    with pytest.raises(ConfigError, match="bits"):
        build_attack("quantization", {"bits": [3]})
    with pytest.raises(ConfigError, match="perturbations\\[0\\].*Did you mean \"blur\""):
        build_attack("image_perturbation", {"perturbations": ["blurr"]})
    with pytest.raises(ConfigError):
        build_attack("relearn", {"stepz": 3})


def test_prefill_scores_only_the_continuation_of_the_forced_prefix(tiny_vlm_dir, ctx_for, tmp_path):
    res = run_attack("prefill", {"shots": 2}, tiny_vlm_dir, ctx_for(), tmp_path / "out")
    recs = [json.loads(x) for x in (tmp_path / "out" / "per_sample.jsonl").read_text().splitlines()]
    prefix = [r for r in recs if r["variant"] == "prefix"]
    fewshot = [r for r in recs if r["variant"] == "fewshot"]
    assert prefix and fewshot and set(res["variants"]) == {"prefix", "fewshot"}
    for r in prefix:
        assert r["prefill"] and not any(k.lower() in r["prefill"].lower() for k in r["keywords"])
    assert all(r["question"].count("Q: ") == 3 for r in fewshot)  # 2 retain shots + the forget question


def test_text_only_names_the_person_and_drops_the_name_question(tiny_vlm_dir, ctx_for, attack_dataset, tmp_path):
    run_attack("text_only", None, tiny_vlm_dir, ctx_for(), tmp_path / "out")
    recs = [json.loads(x) for x in (tmp_path / "out" / "per_sample.jsonl").read_text().splitlines()]
    names = {p.unique_id: p.name for p in attack_dataset.split(FORGET)}
    holdout = {str(p.image_path) for p in attack_dataset.split("holdout")}
    assert {r["variant"] for r in recs} == {"no_image", "unrelated_face"}
    for r in recs:
        assert names[r["unique_id"]] in r["question"] and "in the image" not in r["question"]
        assert not any(k.lower() in names[r["unique_id"]].lower() for k in r["keywords"])
        if r["variant"] == "unrelated_face":
            assert r["image"] in holdout  # never-trained faces


def test_image_perturbation_changes_the_faces(tiny_vlm_dir, ctx_for, attack_dataset, tmp_path):
    import numpy as np

    from fiubench.attacks.image_perturbation import PERTURBATIONS
    from fiubench.models.images import load_image

    ctx = ctx_for()
    res = run_attack("image_perturbation", None, tiny_vlm_dir, ctx, tmp_path / "out")
    assert list(res["variants"]) == list(PERTURBATIONS)
    person = attack_dataset.split(FORGET)[0]
    orig = np.asarray(load_image(person.image_path), dtype=float)
    for kind in PERTURBATIONS:
        img = np.asarray(load_image(ctx.work / "images" / f"{person.unique_id}_{kind}.png"), dtype=float)
        assert img.shape == orig.shape and np.abs(img - orig).mean() > 0.5, kind


def test_profile_dump_uses_the_dataset_icd_prompts_when_present(tiny_vlm_dir, ctx_for, attack_dataset, tmp_path,
                                                                monkeypatch):
    from fiubench.attacks.profile_dump import DEFAULT_PROMPTS, dump_prompts

    res = run_attack("profile_dump", {"max_prompts": 2}, tiny_vlm_dir, ctx_for("a"), tmp_path / "a")
    assert res["info"]["n_prompts"] == 2 and res["n_probes"]["profile"] == 2  # one record per identity
    assert attack_dataset.icd_prompts  # our builder writes the release's {"idk", "icd"} layout
    assert dump_prompts(attack_dataset) == (attack_dataset.icd_prompts, "dataset icd prompts")
    monkeypatch.setattr(attack_dataset, "icd_prompts", ["Spill it about the person in the image."])
    assert dump_prompts(attack_dataset) == (["Spill it about the person in the image."], "dataset icd prompts")
    monkeypatch.setattr(attack_dataset, "icd_prompts", [])  # e.g. a list-form prompt.json
    assert dump_prompts(attack_dataset)[0] == list(DEFAULT_PROMPTS)


def test_quantization_runs_on_cpu_and_changes_the_weights(tiny_vlm_dir, ctx_for, tmp_path):
    pytest.importorskip("optimum.quanto")
    import torch

    from fiubench.attacks.quantization import quanto_quantize

    ctx = ctx_for()
    res = run_attack("quantization", None, tiny_vlm_dir, ctx, tmp_path / "out")
    # a full checkpoint: no adapter to keep separate
    assert set(res["variants"]) == {"int8", "int4"} and res["info"]["backend"] == "quanto"
    vlm = ctx.load(tiny_vlm_dir)
    x = torch.randn(2, vlm.hidden_size())
    lin = vlm.decoder_layers()[0].mlp.down_proj if hasattr(vlm.decoder_layers()[0], "mlp") else None
    if lin is not None:
        x = torch.randn(2, lin.in_features)
        with torch.no_grad():
            before = lin(x)
        quanto_quantize(vlm, 4)
        with torch.no_grad():
            after = vlm.decoder_layers()[0].mlp.down_proj(x)
        assert not torch.equal(before, after)  # 4-bit rounding moved the outputs...
        assert torch.allclose(before, after, atol=0.5 * float(before.abs().max()) + 1e-3)  # ...a little


def test_quantization_without_a_library_names_what_to_install(monkeypatch):
    import importlib.util

    from fiubench.attacks.quantization import pick_backend

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda n, *a: None if n.startswith(("optimum", "bitsandbytes")) else real(n, *a))
    with pytest.raises(FiubenchError, match="pip install optimum-quanto"):
        pick_backend("auto", "cpu")
    with pytest.raises(FiubenchError, match="needs a CUDA GPU"):
        pick_backend("bitsandbytes", "cpu")


def test_relearn_trains_on_one_half_and_measures_the_other_over_its_grid(tiny_vlm_dir, ctx_for, attack_dataset,
                                                                            tmp_path):
    from fiubench.attacks.probes import half_split
    from fiubench.attacks.relearn import grid_name

    ctx = ctx_for(seed=3)
    res = run_attack("relearn", {"steps": [1, 2], "lr": [1e-3], "warmup_ratio": 0.5}, tiny_vlm_dir, ctx,
                     tmp_path / "out")
    names = [grid_name(1e-3, 1), grid_name(1e-3, 2)]
    assert names == ["lr1e-03_s1", "lr1e-03_s2"] and list(res["variants"]) == names
    assert grid_name(2.5e-4, 30) == "lr2p5e-04_s30"
    recs = [json.loads(x) for x in (tmp_path / "out" / "per_sample.jsonl").read_text().splitlines()]
    assert {r["variant"] for r in recs} == {"before", *names}  # the unattacked model on the same half too
    for p in attack_dataset.split(FORGET):
        shown, held = half_split(p, 3)
        for v in ("before", *names):
            assert sorted(r["qa_index"] for r in recs if r["unique_id"] == p.unique_id and r["variant"] == v) == held
    for name, steps in zip(names, (1, 2), strict=True):
        summary = json.loads((ctx.work / "relearn" / name / "summary.json").read_text())
        assert summary["steps"] == steps
    assert res["info"]["grid"][names[1]] == {"lr": 1e-3, "steps": 2, "warmup_ratio": 0.5, "batch_size": 4}
    assert res["info"]["n_relearn_qa"] == 4 and "before" in res["per_identity"]  # 2 people x 2 of 4 QA
