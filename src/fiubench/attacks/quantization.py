"""Quantization: the model's weights rounded to 8 and 4 bits, then the standard forget
questions.

Unlearning moves the weights only a little; rounding them to a coarse grid can snap
them back into the fine-tuned model's bucket, and the forgotten knowledge returns
(Zhang et al., "Catastrophic failure of LLM unlearning via quantization", ICLR 2025).
The effect needs the unlearning delta to be rounded *with* the base, so:

* ``int8`` / ``int4``: a LoRA unlearning adapter is merged into the base in full
  precision, then the merged weights are quantized (a full checkpoint is quantized
  whole). This is the paper's attack.
* ``int8_adapter`` / ``int4_adapter`` (LoRA checkpoints only, ``adapter_variant``):
  the base quantized with the adapter kept separate in float, as QLoRA serves it; the
  delta is never rounded, so this variant mostly shows the rounding noise of the base.

Weight-only quantization, activations in float, of the same layers on both paths:
every ``nn.Linear`` of the language model and the vision tower; the projector and the
LM head stay in float (``models.loading.quantization_skip``):

* CPU: optimum-quanto (``quantize(model, weights=qint8|qint4, include=<those
  layers>); freeze(model)``; int4 is group-wise affine, groups of 128);
* CUDA: bitsandbytes (``model.quantization: 8bit|4bit`` loading: LLM.int8 and NF4),
  when installed, else optimum-quanto.

A missing library is an error naming the package to install. extraction = mean
keyword_match of the greedy answers to the forget questions, per variant; "before" =
the unquantized model on the same questions. With ``evaluate`` the attacked model's
utility, truth ratio and MIA are measured too (``attacks.under_attack``).
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from fiubench.attacks.base import Attack, AttackContext, AttackOptions, AttackOutcome
from fiubench.attacks.probes import forget_qa, qa_probes, summarise
from fiubench.attacks.registry import register_attack
from fiubench.attacks.under_attack import measure_under_attack
from fiubench.errors import ConfigError, FiubenchError

BITS = (8, 4)


@dataclass
class QuantizationOptions(AttackOptions):
    bits: list[int] = field(default_factory=lambda: list(BITS))
    backend: str = "auto"  # auto | quanto | bitsandbytes
    adapter_variant: bool = True  # LoRA checkpoints: also quantize the base with the adapter kept separate
    evaluate: bool = False  # utility, truth ratio, MIA of each quantized model (one evaluation each)


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


def quantized_layers(model: Any, skip: list[str]) -> list[str]:
    """Names of the ``nn.Linear`` modules quantized: not a LoRA factor, no ``skip`` substring
    (bitsandbytes' rule: it converts ``nn.Linear`` only, skipping by substring)."""
    import torch

    return [n for n, m in model.named_modules()
            if type(m) is torch.nn.Linear and "lora_" not in n and not any(s in n for s in skip)]


def quanto_quantize(vlm: Any, bits: int) -> Any:
    """``vlm`` with the same layers bitsandbytes would quantize rounded by optimum-quanto (in place)."""
    from optimum.quanto import freeze, qint4, qint8, quantize

    from fiubench.models.loading import quantization_skip

    names = quantized_layers(vlm.hf_model, quantization_skip(vlm.family))
    if names:
        quantize(vlm.hf_model, weights=qint8 if bits == 8 else qint4, include=names)
        freeze(vlm.hf_model)
    return vlm


def is_lora_checkpoint(model_dir: Path) -> bool:
    from fiubench.models.vlm import read_meta

    meta = read_meta(Path(model_dir)) if Path(model_dir).is_dir() else None
    return bool(meta and meta.get("kind") == "lora")


def load_quantized(model_dir: Path, bits: int, backend: str, ctx: AttackContext, keep_adapter: bool) -> Any:
    """The model of ``model_dir`` quantized to ``bits``: merged then rounded, or (``keep_adapter``)
    the base rounded with a LoRA adapter kept beside it in float."""
    from fiubench.models.config import ModelConfig, TuningScope
    from fiubench.models.loading import load_vlm

    overrides = dict(ctx.model_overrides)
    if keep_adapter:  # a LoRA scope keeps the adapter unmerged (what QLoRA training continues on)
        scope = replace(overrides.pop("scope", None) or TuningScope(), lora=True)
        overrides["scope"] = scope
    if backend == "quanto":
        return quanto_quantize(load_vlm(ModelConfig(name_or_path=str(model_dir), **overrides)), bits)
    # bitsandbytes quantizes while loading; the loader merges a LoRA adapter first (CUDA only)
    return load_vlm(ModelConfig(name_or_path=str(model_dir), **{**overrides, "quantization": f"{bits}bit"}))


@register_attack
class Quantization(Attack):
    name = "quantization"
    summary = "weights quantized to 8 and 4 bits, a LoRA adapter merged first (quanto on CPU, bitsandbytes on GPU)"
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
        lora = is_lora_checkpoint(model_dir)
        plan = [(f"int{b}", b, False) for b in o.bits]
        plan += [(f"int{b}_adapter", b, True) for b in o.bits if lora and o.adapter_variant]
        vlm = ctx.load(model_dir)
        records = qa_probes(ctx.engine(vlm), qas, "before", ctx.max_new_tokens)
        under = {"before": measure_under_attack(vlm, ctx)} if o.evaluate else {}
        del vlm
        for variant, bits, keep in plan:
            vlm = load_quantized(Path(model_dir), bits, backend, ctx, keep)
            records += qa_probes(ctx.engine(vlm), qas, variant, ctx.max_new_tokens)
            if o.evaluate:
                under[variant] = measure_under_attack(vlm, ctx)
            del vlm
        out = summarise(self.name, records, [v for v, _, _ in plan],
                        {"backend": backend, "lora_checkpoint": lora, "merged_before_quantizing": True,
                         "before": summarise(self.name, records, ["before"]).variants["before"]})
        out.under_attack = under
        return out
