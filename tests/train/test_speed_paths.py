"""Speed paths that must not change the numbers: the frozen-vision-feature cache,
answer-only logits in stage 1, and the disabled LoRA adapter as the reference model."""

from __future__ import annotations

import pytest
import torch
from PIL import Image

from fiubench.models import ModelConfig, TuningScope
from fiubench.models.loading import load_vlm
from fiubench.models.logprobs import answer_window, sequence_logprob

SCOPE = TuningScope(vision=False, projector=True, language=True)


def _faces() -> list[Image.Image]:
    g = torch.Generator().manual_seed(0)
    return [Image.fromarray((torch.rand(64, 64, 3, generator=g) * 255).to(torch.uint8).numpy()) for _ in range(2)]


def _batch(vlm):
    a, b = _faces()
    return vlm.train_batch([(a, "What is the blood type of this person?", "AB negative"),
                            (b, "Where does this person live?", "12 Elm Street, Springfield"),
                            (a, "Where does this person live?", "4 Oak Lane"),
                            (b, "What is the blood type?", "O positive")])


def _loss_and_grads(vlm, batch):
    vlm.model.zero_grad(set_to_none=True)
    logits = vlm.model(**{k: v for k, v in batch.items() if k != "labels"}, use_cache=False).logits
    loss = -sequence_logprob(logits, batch["labels"])[0].sum()
    loss.backward()
    grads = {n: p.grad.detach().clone() for n, p in vlm.model.named_parameters() if p.grad is not None}
    return loss.detach(), grads


def test_feature_cache_same_loss_and_gradients(tiny_vlm_dir):
    from fiubench.models.features import VisionFeatureCache, install_feature_cache

    plain = load_vlm(ModelConfig(name_or_path=str(tiny_vlm_dir), scope=SCOPE, device="cpu"))
    cached = load_vlm(ModelConfig(name_or_path=str(tiny_vlm_dir), scope=SCOPE, device="cpu"))
    cache = install_feature_cache(cached)
    assert isinstance(cache, VisionFeatureCache)
    batch = _batch(plain)
    loss0, g0 = _loss_and_grads(plain, batch)
    for _ in range(2):  # first call fills the cache, the second reads it
        loss1, g1 = _loss_and_grads(cached, batch)
        assert torch.allclose(loss0, loss1, rtol=1e-5, atol=1e-5)
        assert set(g0) == set(g1)
        assert any("multi_modal_projector" in n for n in g1)  # the projector still trains
        for n in g0:
            assert torch.allclose(g0[n], g1[n], rtol=1e-4, atol=1e-6), n
    # 2 distinct faces in 4 rows: each encoded once, every later row is a hit
    assert cache.stats() == {"images": 2, "misses": 2, "hits": 6}


def test_feature_cache_follows_the_scope(tiny_vlm_dir, tiny_family_dir):
    from fiubench.models.features import install_feature_cache

    vision = load_vlm(ModelConfig(name_or_path=str(tiny_vlm_dir), device="cpu",
                                  scope=TuningScope(vision=True, projector=True, language=True)))
    assert "vision tower trains" in install_feature_cache(vision)
    other = load_vlm(ModelConfig(name_or_path=str(tiny_family_dir("idefics2")), scope=SCOPE, device="cpu"))
    assert "LLaVA" in install_feature_cache(other)


def test_feature_cache_falls_back_when_the_tower_is_unfrozen(tiny_vlm_dir):
    from fiubench.models.features import install_feature_cache

    vlm = load_vlm(ModelConfig(name_or_path=str(tiny_vlm_dir), scope=SCOPE, device="cpu"))
    cache = install_feature_cache(vlm)
    batch = _batch(vlm)
    _loss_and_grads(vlm, batch)
    for p in vlm.hf_model.model.vision_tower.parameters():
        p.requires_grad_(True)
    _, grads = _loss_and_grads(vlm, batch)
    assert any("vision_tower" in n for n in grads)  # the model's own path ran, with gradient
    assert cache.stats()["misses"] == 2


def test_answer_window_logits_give_the_same_loss(tiny_vlm):
    batch = _batch(tiny_vlm)
    labels = batch["labels"]
    inputs = {k: v for k, v in batch.items() if k != "labels"}
    full = sequence_logprob(tiny_vlm.model(**inputs).logits, labels)[0]
    w = answer_window(labels)
    assert w > 0  # prompts are never scored
    part = sequence_logprob(tiny_vlm.model(**inputs, logits_to_keep=labels.shape[1] - w).logits, labels[:, w:])[0]
    assert torch.allclose(full, part, rtol=1e-5, atol=1e-5)
    assert answer_window(torch.full((2, 5), -100)) == 0


@pytest.mark.parametrize("method", ["kl", "rmu"])
def test_disabled_adapter_is_the_reference(tiny_vlm_dir, method):
    """LoRA + projector (modules_to_save) on the fine-tuned weights: with the adapter
    disabled the model gives the fine-tuned model's logits and hidden states, even after
    the adapter and the projector copy have moved."""
    from fiubench.train.context import EngineContext, adapter_reference_unsupported

    lora = TuningScope(vision=False, projector=True, language=True, lora=True, lora_r=4, lora_alpha=8)
    vlm = load_vlm(ModelConfig(name_or_path=str(tiny_vlm_dir), scope=lora, device="cpu"))
    assert adapter_reference_unsupported(vlm, "full") is None
    with torch.no_grad():
        for p in vlm.model.parameters():
            if p.requires_grad:
                p.add_(0.05 * torch.randn_like(p))
    copy = load_vlm(ModelConfig(name_or_path=str(tiny_vlm_dir), device="cpu"))
    copy.model.eval()
    batch = _batch(vlm)
    by_adapter = EngineContext(vlm.model, vlm, None, adapter_reference=True)
    by_copy = EngineContext(vlm.model, vlm, copy)
    vlm.model.train()
    if method == "kl":
        a, b = by_adapter.ref_logits(batch), by_copy.ref_logits(batch)
    else:
        a, b = by_adapter.ref_hidden(batch, 1), by_copy.ref_hidden(batch, 1)
    assert torch.allclose(a, b, rtol=1e-5, atol=1e-5)
    assert vlm.model.training  # mode restored
    trained = by_adapter.logits(batch)  # the adapter is back on afterwards
    assert not torch.allclose(trained, by_copy.ref_logits(batch), atol=1e-3)


def test_adapter_reference_conditions(tiny_vlm_dir):
    from fiubench.train.context import adapter_reference_unsupported

    full = load_vlm(ModelConfig(name_or_path=str(tiny_vlm_dir), scope=SCOPE, device="cpu"))
    assert "not a LoRA" in adapter_reference_unsupported(full, "full")
    lora = load_vlm(ModelConfig(name_or_path=str(tiny_vlm_dir), device="cpu",
                                scope=TuningScope(projector=False, language=True, lora=True, lora_r=2)))
    assert "itself an adapter" in adapter_reference_unsupported(lora, "lora")
    for n, p in lora.model.named_parameters():
        if "embed_tokens" in n:
            p.requires_grad_(True)
    assert "outside the adapter" in adapter_reference_unsupported(lora, "full")
