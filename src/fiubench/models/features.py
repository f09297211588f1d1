"""Frozen vision features computed once per distinct image, for training.

When the vision tower is frozen and the images do not change, every epoch recomputes
the same vision-tower output for the same face. :func:`install_feature_cache` makes a
loaded VLM compute it once per distinct image and reuse it on every later step:

    selected(image) = select(vision_tower(image).hidden_states[layer])   (cached, no grad)
    features(image) = projector(selected(image))                          (every step)

The cache sits *before* the projector, so a trainable projector still gets its
gradient (both stages of the tiny preset train it). Images are keyed by the bytes of
their preprocessed pixel tensor, so the cache is transparent to the data pipeline and
to methods (the batch still carries ``pixel_values``); a new image is a cache miss,
never a wrong hit.

The cached value is the tower's deterministic output. That equals the uncached
forward only when the tower has no active dropout, so a tower configured with
dropout > 0 is not cached. The cache checks on every call that the tower is still
frozen and falls back to the model's own code otherwise.

Supported: the LLaVA families (``model_type == "llava"``: tiny, llava-1.5,
llava-phi-3-mini), whose features are one vision-layer selection followed by the
projector. Elsewhere :func:`install_feature_cache` is a no-op that returns the
reason: LLaVA-NeXT tiles each image at any resolution and packs the projected tiles
with a learned newline (the selection is not separable from the packing), Qwen2-VL
keeps its projector (the merger) inside the vision module, Idefics2 runs a perceiver
resampler after the tower, Mllama feeds the tower's output through cross-attention
states. Their training runs unchanged; only the LLaVA families get faster.
"""

from __future__ import annotations

import hashlib
from typing import Any

import torch

_DROPOUT_KEYS = ("attention_dropout", "dropout", "hidden_dropout", "hidden_dropout_prob",
                 "attention_probs_dropout_prob")


def _tower_dropout(cfg: Any) -> float:
    vision = getattr(cfg, "vision_config", None)
    return max((float(getattr(vision, k, 0.0) or 0.0) for k in _DROPOUT_KEYS), default=0.0)


def feature_cache_unsupported(model: torch.nn.Module) -> str | None:
    """Why ``model`` (a plain HF model, below PEFT) cannot use the cache; None when it can."""
    cfg = getattr(model, "config", None)
    model_type = getattr(cfg, "model_type", None)
    inner = getattr(model, "model", None)
    if model_type != "llava" or not hasattr(inner, "vision_tower") or not hasattr(inner, "multi_modal_projector"):
        return f"model_type {model_type!r}: only the LLaVA families (model_type 'llava') are supported"
    if any(p.requires_grad for p in inner.vision_tower.parameters()):
        return "the vision tower trains (its features change every step)"
    if _tower_dropout(cfg) > 0:
        return "the vision tower has dropout > 0 (a frozen tower's features are then random per step)"
    return None


class VisionFeatureCache:
    """Per-image vision-tower features of one LLaVA model, selected, before the projector."""

    def __init__(self, llava_model: torch.nn.Module, config: Any) -> None:
        self.inner = llava_model  # LlavaModel: vision_tower, multi_modal_projector
        self.config = config
        self.tower_params = list(llava_model.vision_tower.parameters())
        self._store: dict[bytes, torch.Tensor] = {}
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._store)

    @staticmethod
    def _key(row: torch.Tensor) -> bytes:
        h = hashlib.blake2b(digest_size=20)
        h.update(f"{tuple(row.shape)}:{row.dtype}".encode())
        h.update(row.detach().contiguous().cpu().numpy().tobytes())
        return h.digest()

    def frozen(self) -> bool:
        return not any(p.requires_grad for p in self.tower_params)

    @torch.no_grad()
    def _compute(self, pixel_values: torch.Tensor, layer: Any, strategy: str) -> torch.Tensor:
        tower = self.inner.vision_tower
        was_training = tower.training
        tower.eval()
        try:
            hidden = tower(pixel_values, output_hidden_states=True, return_dict=True).hidden_states
        finally:
            tower.train(was_training)
        layers = [layer] if isinstance(layer, int) else list(layer)
        # The "default" strategy drops the CLS position of each selected layer.
        picked = [hidden[i][:, 1:] if strategy == "default" else hidden[i] for i in layers]
        return torch.cat(picked, dim=-1)

    def selected(self, pixel_values: torch.Tensor, layer: Any, strategy: str) -> torch.Tensor:
        """[B, n_patches, d] selected tower features, computing only the unseen images."""
        keys = [self._key(pixel_values[i]) for i in range(pixel_values.shape[0])]
        first: dict[bytes, int] = {}
        for i, k in enumerate(keys):
            if k not in self._store:
                first.setdefault(k, i)  # a face repeated in the batch is computed once
        if first:
            feats = self._compute(pixel_values[list(first.values())], layer, strategy)
            for j, k in enumerate(first):
                self._store[k] = feats[j].clone()
        self.misses += len(first)
        self.hits += len(keys) - len(first)
        return torch.stack([self._store[k] for k in keys])

    def stats(self) -> dict[str, int]:
        return {"images": len(self._store), "hits": self.hits, "misses": self.misses}


def install_feature_cache(vlm: Any) -> VisionFeatureCache | str:
    """Make ``vlm`` reuse frozen vision features; the cache, or why it was not installed.

    Call after the tuning scope is applied (the tower must already be frozen). The
    model's ``get_image_features`` is replaced on this instance only; every forward
    (training, a method's reference pass through the same model) goes through it.
    """
    from transformers.modeling_outputs import BaseModelOutputWithPooling

    hf = vlm.hf_model
    why = feature_cache_unsupported(hf)
    if why is not None:
        return why
    inner = hf.model
    cfg = hf.config
    cache = VisionFeatureCache(inner, cfg)
    original = inner.get_image_features

    def get_image_features(pixel_values: torch.Tensor, vision_feature_layer: Any = None,
                           vision_feature_select_strategy: str | None = None, image_sizes: Any = None,
                           **kwargs: Any) -> Any:
        if image_sizes is not None or not cache.frozen():
            return original(pixel_values=pixel_values, vision_feature_layer=vision_feature_layer,
                            vision_feature_select_strategy=vision_feature_select_strategy,
                            image_sizes=image_sizes, **kwargs)
        layer = cfg.vision_feature_layer if vision_feature_layer is None else vision_feature_layer
        strategy = (cfg.vision_feature_select_strategy if vision_feature_select_strategy is None
                    else vision_feature_select_strategy)
        selected = cache.selected(pixel_values, layer, strategy)
        projected = inner.multi_modal_projector(selected.to(pixel_values.device))
        return BaseModelOutputWithPooling(pooler_output=list(projected))

    inner.get_image_features = get_image_features
    vlm.feature_cache = cache
    return cache


def status(cache: VisionFeatureCache | str) -> str:
    """One line for a run's summary: "on" or "off: <why>"."""
    return "on" if isinstance(cache, VisionFeatureCache) else f"off: {cache}"
