"""Quantization quantizes the unlearning: a merged LoRA delta below the 4-bit step is
rounded away with the base (Zhang et al., ICLR 2025), the adapter-kept variant keeps it,
and the CPU path quantizes the layers bitsandbytes quantizes on GPU."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

pytest.importorskip("optimum.quanto")

from fiubench.attacks import run_attack  # noqa: E402
from fiubench.attacks.quantization import quantized_layers, quanto_quantize  # noqa: E402
from fiubench.models import ModelConfig, load_vlm  # noqa: E402
from fiubench.models.config import TuningScope  # noqa: E402
from fiubench.models.loading import quantization_skip  # noqa: E402

GROUP = 128  # optimum-quanto's int4 group size along the input dimension


def _dequantized(module: torch.nn.Module) -> torch.Tensor:
    w = module.weight
    return (w.dequantize() if hasattr(w, "dequantize") else w).detach().float().clone()


def _on_grid(tiny_vlm_dir: Path, out: Path) -> Path:
    """A "fine-tuned" model whose quantized layers sit exactly on their int4 grid."""
    vlm = load_vlm(ModelConfig(name_or_path=str(tiny_vlm_dir), device="cpu"))
    q = quanto_quantize(load_vlm(ModelConfig(name_or_path=str(tiny_vlm_dir), device="cpu")), 4)
    qmods = dict(q.hf_model.named_modules())
    with torch.no_grad():
        for name, m in vlm.hf_model.named_modules():
            if name in qmods and name in quantized_layers(vlm.hf_model, quantization_skip(vlm.family)):
                m.weight.copy_(_dequantized(qmods[name]))
    vlm.save(out)
    return out


def _unlearning_adapter(ft_dir: Path, out: Path, fraction: float, rank: int = 8) -> Path:
    """A LoRA "unlearning" (rank ``rank``, one touched row per rank component) whose delta
    is at most ``fraction`` of the int4 step of every weight it touches, and zero on every
    weight at its group's min or max (so the groups' scale and offset stay put)."""
    vlm = load_vlm(ModelConfig(name_or_path=str(ft_dir), device="cpu",
                               scope=TuningScope(lora=True, lora_r=rank, lora_alpha=rank, lora_dropout=0.0)))
    gen = torch.Generator().manual_seed(0)
    touched = 0
    with torch.no_grad():
        for m in vlm.hf_model.modules():
            if not hasattr(m, "lora_A") or "default" not in m.lora_A:
                continue
            w = m.base_layer.weight.float()
            a = torch.zeros(rank, w.shape[1])
            b = torch.zeros(w.shape[0], rank)
            for k, row in enumerate(torch.linspace(0, w.shape[0] - 1, rank).long()):
                groups = w[row].reshape(-1, min(GROUP, w.shape[1]))
                lo, hi = groups.amin(-1, keepdim=True), groups.amax(-1, keepdim=True)
                free = ((groups != lo) & (groups != hi)).flatten()  # ties at the extremes included
                a[k] = torch.randn(w.shape[1], generator=gen).sign() * free
                b[row, k] = fraction * float(((hi - lo) / 15).min())  # 16 levels per group
            m.lora_A["default"].weight.copy_(a)
            m.lora_B["default"].weight.copy_(b)
            touched += 1
    assert touched > 0
    vlm.save(out)
    return out


def _nll(model_dir: Path, ctx, variant: str | None = None, bits: int = 4) -> list[float]:
    """Mean NLL of each forget QA's gold answer (the model's answer to the forget questions)."""
    from fiubench.attacks.probes import forget_qa
    from fiubench.attacks.quantization import load_quantized
    from fiubench.eval.engine import ScoreRow

    vlm = ctx.load(model_dir) if variant is None else load_quantized(model_dir, bits, "quanto", ctx,
                                                                      keep_adapter=variant == "adapter")
    rows = [ScoreRow(p.image_path, qa.question, qa.answer) for p, _, qa in forget_qa(ctx.dataset, ctx.forget)]
    return [s.mean_nll for s in ctx.engine(vlm).score(rows)]


def test_cpu_quantizes_the_linear_layers_bitsandbytes_quantizes(tiny_vlm_dir):
    vlm = quanto_quantize(load_vlm(ModelConfig(name_or_path=str(tiny_vlm_dir), device="cpu")), 4)
    quantized = {n for n, m in vlm.hf_model.named_modules()
                 if isinstance(getattr(m, "weight", None), torch.Tensor) and "QBitsTensor" in type(m.weight).__name__}
    skip = quantization_skip(vlm.family)
    assert skip == ["model.multi_modal_projector", "lm_head"]
    assert any("vision_tower" in n for n in quantized) and any("language_model" in n for n in quantized)
    assert not any(s in n for n in quantized for s in skip)  # projector and LM head in float, as bnb
    assert all(type(m).__name__ == "QLinear" for n, m in vlm.hf_model.named_modules() if n in quantized)


def test_merged_lora_unlearning_below_the_4bit_step_is_rounded_back(tiny_vlm_dir, ctx_for, tmp_path):
    ctx = ctx_for()
    ft = _on_grid(tiny_vlm_dir, tmp_path / "ft")
    unlearned = _unlearning_adapter(ft, tmp_path / "unlearned", fraction=0.4)
    nll = {"ft": _nll(ft, ctx), "ft_int4": _nll(ft, ctx, "merged"), "unlearned": _nll(unlearned, ctx),
           "merged_int4": _nll(unlearned, ctx, "merged"), "adapter_int4": _nll(unlearned, ctx, "adapter")}
    gap = lambda a, b: max(abs(x - y) for x, y in zip(nll[a], nll[b], strict=True))  # noqa: E731
    assert gap("ft", "ft_int4") < 1e-4  # control: the fine-tuned model is on its grid
    assert gap("unlearned", "ft") > 1e-3  # the unlearning changed the forget answers...
    assert gap("merged_int4", "ft_int4") < 1e-4  # ...merged then rounded, it is gone
    assert gap("merged_int4", "unlearned") > 1e-3  # quantization changed the unlearned model's answers
    assert gap("adapter_int4", "ft_int4") > 1e-3  # kept beside the rounded base, the delta survives
    # the attack reports both variants for a LoRA checkpoint
    res = run_attack("quantization", {"bits": [4]}, unlearned, ctx, tmp_path / "out")
    assert set(res["variants"]) == {"int4", "int4_adapter"} and res["info"]["lora_checkpoint"] is True
    recs = [json.loads(x) for x in (tmp_path / "out" / "per_sample.jsonl").read_text().splitlines()]
    assert {r["variant"] for r in recs} == {"before", "int4", "int4_adapter"}
