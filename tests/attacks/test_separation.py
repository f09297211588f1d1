"""The attacks are valid measurements: on trained tiny models, an attack extracts the
forget identities' facts from the model that saw them (fine-tuned) and not from the
one that never did (retain), so the summary calls it informative.

Slow: two short stage-1 trainings (6 identities x 4 QA) on 2 CPU cores.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from fiubench.attacks import run_attack, summarise_attacks

pytestmark = pytest.mark.slow


def _learn(data: Path, base: Path, out: Path, split: str) -> Path:
    from fiubench.models import ModelConfig
    from fiubench.train import LearnConfig, learn, train_preset

    t = train_preset("tiny", progress=False, epochs=80)
    return learn(LearnConfig(data=data, out=out, split=split, model=ModelConfig(name_or_path=str(base)),
                             train=t)) / "model"


@pytest.fixture(scope="module")
def trained(attack_data, tiny_vlm_dir, tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("separation")
    return {"finetuned": _learn(attack_data, tiny_vlm_dir, root / "ft", "full"),
            "retain": _learn(attack_data, tiny_vlm_dir, root / "rt", "retain")}


@pytest.mark.parametrize("attack,options", [
    ("prefill", {"fewshot": False}),
    ("quantization", {"bits": [8]}),
    ("image_perturbation", {"perturbations": ["flip", "jpeg"]}),
])
def test_attack_separates_the_model_that_saw_the_people(attack, options, trained, ctx_for, tmp_path):
    if attack == "quantization":
        pytest.importorskip("optimum.quanto")
    out = {role: run_attack(attack, options, path, ctx_for(role, max_new_tokens=24), tmp_path / role)
           for role, path in trained.items()}
    ft, rt = (max(v for v in out[r]["variants"].values() if v is not None) for r in ("finetuned", "retain"))
    assert ft >= 0.6, out["finetuned"]
    assert rt <= 0.35, out["retain"]
    s = summarise_attacks({r: {attack: out[r]} for r in out}, {attack: out["finetuned"]}, {attack: out["retain"]})
    assert s["uninformative"] == [] and s["metrics"]["finetuned"]["attack.worst"] == ft
