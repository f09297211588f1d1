"""Quantization: the model's weights rounded to 8 and 4 bits, then the standard forget
questions.

Unlearning moves the weights only a little; rounding them to a coarse grid can snap
them back towards the fine-tuned model, and the forgotten knowledge returns (Zhang et
al., "Catastrophic failure of LLM unlearning via quantization", ICLR 2025).

Weight-only quantization of every linear layer (language model, projector, vision
tower), activations in float:

* on CPU: optimum-quanto (``quantize(model, weights=qint8|qint4); freeze(model)``;
  int4 weights are group-wise);
* on CUDA: bitsandbytes (the model layer's ``model.quantization: 8bit|4bit`` loading)
  when installed, else optimum-quanto.

A missing library is an error naming the package to install. extraction = mean
keyword_match of the greedy answers to the forget questions, per bit width.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fiubench.attacks.base import Attack, AttackContext, AttackOptions, AttackOutcome
from fiubench.attacks.probes import forget_qa, qa_probes, summarise
from fiubench.attacks.registry import register_attack
from fiubench.errors import ConfigError, FiubenchError

BITS = (8, 4)


@dataclass
class QuantizationOptions(AttackOptions):
    bits: list[int] = field(default_factory=lambda: list(BITS))
    backend: str = "auto"  # auto | quanto | bitsandbytes


def pick_backend(requested: str, device: str) -> str:
    """The quantization library to use, or an error naming what to install."""
    has_quanto = importlib.util.find_spec("optimum") is not None and importlib.util.find_spec("optimum.quanto") is not None
    has_bnb = importlib.util.find_spec("bitsandbytes") is not None
    if requested == "bitsandbytes" or (requested == "auto" and device.startswith("cuda") and has_bnb):
        if not device.startswith("cuda"):
            raise FiubenchError("attack quantization: bitsandbytes needs a CUDA GPU; use backend quanto on CPU "
                                "(pip install optimum-quanto)")
        if not has_bnb:
            raise FiubenchError("attack quantization: backend bitsandbytes asked but not installed "
                                "(pip install bitsandbytes)")
        return "bitsandbytes"
    if not has_quanto:
        raise FiubenchError(
            "attack quantization: no quantization library for this device: install optimum-quanto "
            "(pip install optimum-quanto)"
            + ("; on a GPU bitsandbytes works too (pip install bitsandbytes)" if device.startswith("cuda") else "")
        )
    return "quanto"


def quantize_vlm(vlm: Any, bits: int, backend: str, model_dir: Path, ctx: AttackContext) -> Any:
    """``vlm`` with its weights quantized to ``bits`` (in place for quanto)."""
    if backend == "quanto":
        from optimum.quanto import freeze, qint4, qint8, quantize

        quantize(vlm.hf_model, weights=qint8 if bits == 8 else qint4)
        freeze(vlm.hf_model)
        return vlm
    # bitsandbytes quantizes at load time: the model layer's 4/8-bit loading (CUDA only)
    from fiubench.models.config import ModelConfig
    from fiubench.models.loading import load_vlm

    del vlm
    overrides = {**ctx.model_overrides, "quantization": f"{bits}bit"}
    return load_vlm(ModelConfig(name_or_path=str(model_dir), **overrides))


@register_attack
class Quantization(Attack):
    name = "quantization"
    summary = "weights quantized to 8 and 4 bits (optimum-quanto on CPU, bitsandbytes on GPU)"
    Options = QuantizationOptions

    def check(self) -> None:
        o = self.options
        assert isinstance(o, QuantizationOptions)
        if not o.bits:
            raise ConfigError("attack quantization options.bits: empty")
        for i, b in enumerate(o.bits):
            if b not in BITS:
                raise ConfigError(f"attack quantization options.bits[{i}]: {b} is not one of 8, 4")
        if o.backend not in ("auto", "quanto", "bitsandbytes"):
            raise ConfigError(f"attack quantization options.backend: {o.backend!r} is not auto, quanto or bitsandbytes")

    def run(self, model_dir: Path, ctx: AttackContext) -> AttackOutcome:
        import torch

        o = self.options
        assert isinstance(o, QuantizationOptions)
        device = ctx.model_overrides.get("device") or ("cuda" if torch.cuda.is_available() else "cpu")
        backend = pick_backend(o.backend, str(device))
        qas = forget_qa(ctx.dataset, ctx.forget)
        records = []
        for bits in o.bits:
            vlm = quantize_vlm(ctx.load(model_dir), bits, backend, model_dir, ctx)
            records += qa_probes(ctx.engine(vlm), qas, f"int{bits}", ctx.max_new_tokens)
            del vlm
        return summarise(self.name, records, [f"int{b}" for b in o.bits], {"backend": backend})
