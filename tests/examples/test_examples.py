"""The worked examples of docs/extending.md (files in examples/), each run end to end.

Every example joins a global registry when its file is imported; each test loads it
into a copy of that registry (``isolated``), so the built-in lists stay as shipped."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import pytest
import torch

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def load_example(relpath: str) -> ModuleType:
    path = EXAMPLES / relpath
    spec = importlib.util.spec_from_file_location(f"example_{path.stem}", path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # dataclasses look their module up while the file executes
    try:
        spec.loader.exec_module(mod)  # type: ignore[union-attr]
    finally:
        sys.modules.pop(spec.name, None)
    return mod


@pytest.fixture
def isolated(monkeypatch):
    """Registries (methods, attacks, metrics, families) restored after the test."""
    from fiubench.attacks.registry import ATTACKS
    from fiubench.methods.registry import METHODS
    from fiubench.metrics.info import METRICS
    from fiubench.models.families import FAMILIES

    for reg in (METHODS, ATTACKS, METRICS, FAMILIES):
        monkeypatch.setattr(reg, "_items", dict(reg._items))  # noqa: SLF001


# --- a method: examples/plugin/fiubench_maxent.py -----------------------------------------

def _answer_entropy(model_dir: Path, data: Path, split: str) -> float:
    """Mean entropy (nats) of the next-token distribution at the split's answer tokens."""
    from fiubench.data import load_dataset
    from fiubench.models import ModelConfig, load_image
    from fiubench.models.loading import load_vlm

    vlm = load_vlm(ModelConfig(name_or_path=str(model_dir), device="cpu"))
    ex = load_dataset(data).examples(split)
    batch = vlm.train_batch([(load_image(e.image_path), e.question, e.answer) for e in ex])
    with torch.no_grad():
        logits = vlm.model(**{k: v for k, v in batch.items() if k != "labels"}).logits[:, :-1]
    mask = batch["labels"][:, 1:] != -100
    logp = torch.log_softmax(logits[mask].float(), -1)
    return float(-(logp.exp() * logp).sum(-1).mean())


def test_method_example_registers_and_raises_forget_entropy(isolated, tiny_vlm_dir, tmp_path):
    from fiubench.data.build import DataConfig, build_dataset
    from fiubench.methods.registry import METHODS, build_method, register_method
    from fiubench.models import ModelConfig
    from fiubench.train import UnlearnConfig, UnlearnTrainConfig, unlearn

    mod = load_example("plugin/fiubench_maxent.py")
    register_method(mod.MaxEnt)  # inside fiubench: @register_method on the class
    assert "maxent" in METHODS and build_method("maxent", {"retain_weight": 0.0}).options.retain_weight == 0.0
    data = build_dataset(DataConfig(n_identities=6, qa_per_identity=3, seed=0, forget_percents=(34,),
                                    retain_percents=(34,), image_size=32, select="random"), tmp_path / "data")
    before = _answer_entropy(tiny_vlm_dir, data, "forget34")
    run = unlearn(UnlearnConfig(
        model=ModelConfig(name_or_path=str(tiny_vlm_dir)), data=Path(data), out=tmp_path / "maxent",
        method="maxent", method_options={"retain_weight": 0.0}, forget="forget34", early_stop=False,
        train=UnlearnTrainConfig(max_steps=4, lr=5e-3, batch_size=4, save_every=4, progress=False),
    ))
    after = _answer_entropy(run / "model", data, "forget34")
    # the loss is KL(uniform || p): descent on it raises the entropy of the forget answers
    assert after > before + 1e-3, f"entropy {before:.4f} -> {after:.4f}"


# --- a metric: examples/metric_refusal.py -------------------------------------------------

def test_metric_example_on_per_sample_records(isolated):
    from fiubench.metrics.info import metric_info

    mod = load_example("metric_refusal.py")
    refusals = ["That information is not something I can share."]
    recs = [
        {"generation": "Her blood type is AB-.", "keywords": ["AB-"]},
        {"generation": "I don't know who this is.", "keywords": ["AB-"]},
        {"generation": "That information is  NOT something I can share.", "keywords": ["x"]},
        {"generation": None, "keywords": ["x"]},  # scored only (holdout): not counted
    ]
    assert mod.refusal_rate(recs, refusals) == pytest.approx(2 / 3)
    # null case: a model that answers everything has 0; no generation at all -> undefined
    assert mod.refusal_rate(recs[:1], refusals) == 0.0
    assert mod.refusal_rate(recs[3:], refusals) is None
    info = metric_info("forget.refusal_rate")
    assert info.split == "forget" and info.higher_is_better is None


# --- an attack: examples/attack_translate.py ----------------------------------------------

FORGET = "forget34"  # 2 of the 6 identities


@pytest.fixture(scope="module")
def attack_dataset(tmp_path_factory):
    from fiubench.data import load_dataset
    from fiubench.data.build import DataConfig, build_dataset

    out = tmp_path_factory.mktemp("attack_data") / "fiu"
    build_dataset(DataConfig(n_identities=6, qa_per_identity=4, seed=0, holdout_fraction=0.34,
                             forget_percents=(34,), retain_percents=(34,), select="random"), out)
    return load_dataset(out)


def test_attack_example_runs_on_a_tiny_model(isolated, tiny_vlm_dir, attack_dataset, tmp_path):
    from fiubench.attacks import AttackContext
    from fiubench.attacks.registry import attack_names, build_attack

    mod = load_example("attack_translate.py")
    assert "translate" in attack_names()
    ctx = AttackContext(dataset=attack_dataset, forget=FORGET, work=tmp_path / "work", max_new_tokens=4,
                        model_overrides={"device": "cpu"})
    out = build_attack("translate").run(tiny_vlm_dir, ctx)
    qas = [qa for p in attack_dataset.split(FORGET) for qa in p.qa_list]
    assert out.n_probes == {"fr": len(qas)} and 0.0 <= out.variants["fr"] <= 1.0
    asked = [r["question"] for r in out.records]
    assert asked == [mod.translate(qa.question) for qa in qas]
    assert any("Quel est" in q for q in asked) and not any("What is" in q for q in asked)
    assert json.dumps(out.to_json())  # what `fiubench attack` writes


# --- a model family: examples/family_llava_qwen.py ----------------------------------------

def test_family_example_resolves_and_covers_a_llava(isolated, tiny_family_dir):
    import jinja2
    import transformers

    from fiubench.models.families import detect_family, get_family

    load_example("family_llava_qwen.py")
    spec = get_family("llava-interleave-qwen")
    assert detect_family({"model_type": "llava", "text_config": {"model_type": "qwen2"}}) is spec
    assert detect_family({"model_type": "llava", "text_config": {"model_type": "llama"}}).name == "llava-1.5"
    turn = jinja2.Template(spec.chat_template).render(
        messages=[{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "Who?"}]}],
        add_generation_prompt=True)
    assert "<|im_start|>user\n<image>Who?<|im_end|>" in turn and turn.endswith("<|im_start|>assistant\n")
    # same module layout as every LlavaForConditionalGeneration: each parameter has a part
    model = transformers.LlavaForConditionalGeneration.from_pretrained(tiny_family_dir("llava-1.5"))
    names = [n for n, _ in model.named_parameters()]
    assert names and all(spec.part_of(n) is not None for n in names), [n for n in names if not spec.part_of(n)]
    assert {spec.part_of(n) for n in names} == {"vision", "projector", "language"}


@pytest.mark.parametrize("example", ["plugin/fiubench_maxent.py", "metric_refusal.py", "attack_translate.py",
                                     "family_llava_qwen.py"])
def test_extending_guide_shows_each_example_as_it_is(example):
    doc = (EXAMPLES.parent / "docs" / "extending.md").read_text()
    assert (EXAMPLES / example).read_text().rstrip() in doc
