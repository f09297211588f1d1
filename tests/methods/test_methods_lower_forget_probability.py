"""Every built-in method, run by the engine on the tiny VLM, lowers the forget answers'
probability (and runs end to end on smoke-sized data: the engine's hooks included).

The retain term is switched off (``FORGET_ONLY``): with it, descent on the retain
identities alone moves the forget answers' log-prob by about as much as a weak forget
term in four steps (measured: a GD run with forget_weight=0 did), so only the
forget term's own effect is a test that can fail."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from fiubench.methods import METHODS
from fiubench.methods.plugins import source_of

FORGET = "forget20"


def forget_logprob(model_dir: Path, data: Path, split: str = FORGET) -> float:
    """Mean per-token log-prob of the true answers of ``split`` (teacher forcing)."""
    from fiubench.data import load_dataset
    from fiubench.models import ModelConfig, load_image
    from fiubench.models.loading import load_vlm
    from fiubench.models.logprobs import sequence_logprob

    ds = load_dataset(data)
    vlm = load_vlm(ModelConfig(name_or_path=str(model_dir)))
    ex = ds.examples(split)
    batch = vlm.train_batch([(load_image(e.image_path), e.question, e.answer) for e in ex])
    with torch.no_grad():
        logits = vlm.model(**{k: v for k, v in batch.items() if k != "labels"}).logits
    total, n = sequence_logprob(logits, batch["labels"])
    return float(total.sum() / n.sum())


@pytest.fixture(scope="module")
def finetuned(tiny_vlm_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A small dataset and the random tiny VLM fine-tuned on it for a few steps."""
    from fiubench.data.build import DataConfig, build_dataset
    from fiubench.models import ModelConfig
    from fiubench.train import LearnConfig, learn, train_preset

    root = tmp_path_factory.mktemp("methods_it")
    data = build_dataset(DataConfig(n_identities=10, qa_per_identity=4, seed=0, forget_percents=(20,),
                                    retain_percents=(10,), image_size=32, select="random"), root / "data")
    run = learn(LearnConfig(data=Path(data), out=root / "ft", model=ModelConfig(name_or_path=str(tiny_vlm_dir)),
                            train=train_preset("tiny", max_steps=120, batch_size=8, progress=False)))
    return Path(data), run / "model"


# Options that switch off each method's retain term (RMU's is alpha, SCRUB's are its
# min steps); MMUnlearner also estimates its Fisher on one batch to stay fast.
FORGET_ONLY: dict[str, dict[str, object]] = {
    "ga": {}, "taskvector": {}, "rmu": {"alpha": 0.0}, "armu": {"alpha": 0.0}, "scrub": {"alpha": 0.0, "gamma": 0.0},
    "mmunlearner": {"retain_weight": 0.0, "fisher_batches": 1},
}
BUILTIN = sorted(n for n, _ in METHODS.items() if source_of(n) == "built-in")


@pytest.mark.parametrize("method", BUILTIN)
def test_method_lowers_forget_answer_probability(method: str, finetuned, tmp_path: Path) -> None:
    from fiubench.models import ModelConfig
    from fiubench.train import UnlearnConfig, UnlearnTrainConfig, unlearn

    data, ft = finetuned
    before = forget_logprob(ft, data)
    options = FORGET_ONLY.get(method, {"retain_weight": 0.0})
    run = unlearn(UnlearnConfig(
        model=ModelConfig(name_or_path=str(ft)), data=data, out=tmp_path / method, method=method,
        method_options=options, forget=FORGET, early_stop=False,
        train=UnlearnTrainConfig(max_steps=4, lr=2e-3, batch_size=4, save_every=4, progress=False),
    ))
    after = forget_logprob(run / "model", data)
    assert after < before - 0.05, f"{method}: forget log-prob {before:.4f} -> {after:.4f}"


def test_mmunlearner_ascent_moves_only_masked_entries_and_the_vision_tower(finetuned, tmp_path: Path) -> None:
    """Forget-only (retain_weight 0, no weight decay): inside the linear layers only the
    masked entries move; the vision tower trains too (vision=true, the paper's scope)."""
    from fiubench.methods import build_method
    from fiubench.methods.mmunlearner import masked_targets
    from fiubench.models import ModelConfig
    from fiubench.models.loading import load_vlm
    from fiubench.train import UnlearnConfig, UnlearnTrainConfig, unlearn

    data, ft = finetuned
    run = unlearn(UnlearnConfig(
        model=ModelConfig(name_or_path=str(ft)), data=data, out=tmp_path / "mm", method="mmunlearner",
        method_options={"retain_weight": 0.0, "fisher_batches": 1}, forget=FORGET, early_stop=False,
        train=UnlearnTrainConfig(max_steps=3, lr=2e-3, batch_size=4, save_every=3, weight_decay=0.0,
                                 progress=False),
    ))
    a, b = load_vlm(ModelConfig(name_or_path=str(ft))), load_vlm(ModelConfig(name_or_path=str(run / "model")))
    build_method("mmunlearner").configure_trainable(a)  # the same trainable set as the run
    targets, _ = masked_targets(a.model)
    after = dict(b.model.named_parameters())
    moved, total = 0, 0
    parts: set[str] = set()
    for t in targets:
        diff = after[t.name] != t.wrt
        moved += int(diff.sum())
        total += diff.numel()
        if bool(diff.any()):
            parts.add(a.family.part_of(t.name) or "other")
    assert 0 < moved < total
    assert {"vision", "projector", "language"} <= parts, parts
