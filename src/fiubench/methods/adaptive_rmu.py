"""Adaptive RMU (Dang et al. 2024, "On Effects of Steering Latent Representation for Large
Language Model Unlearning", AAAI 2025, arXiv 2408.06223).

    L = mean_{forget tokens} ||h_L(x_f) - k * c * u||^2 / H
        + alpha * mean_{retain tokens} ||h_L(x_r) - h_L^ref(x_r)||^2 / H

    k = beta * mean_i mean_{t in sample i} ||h_L^ref(x_f)_{i,t}||   (once, first forget batch)

RMU (``rmu``) with the hand-tuned steering coefficient replaced by one scalar k,
computed once before the first step from the frozen model's activations on the first
forget batch and kept for the whole run, so the target's norm follows the layer's
natural scale. u, c (1), the layer choice and the trained parameters are RMU's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch

from fiubench.methods.base import MethodContext, UnlearnBatch, option
from fiubench.methods.registry import register_method
from fiubench.methods.rmu import RMU, RMU_DEVIATIONS, RMUOptions
from fiubench.methods.terms import masked_mse

AR = "RebelsNLU-jaist/llm-unlearning baselines/adap_rmu/unlearn.py"


@dataclass
class AdaptiveRMUOptions(RMUOptions):
    beta: float = option(5.0, f"{AR} get_args --scale 5.0")
    steering_coeff: float = option(1.0, f"{AR} get_args --steering_coeffs 1,1")
    alpha: float = option(1200.0, f"{AR} get_args --alpha 1200,1200")
    layer: int | None = option(None, f"{AR} get_args --layer_id 7 (of 32 layers); None: round(7/32 x depth)")
    trained_layers: int = option(3, f"{AR} get_args --layer_ids 5,6,7")
    params: str = option("mlp.down_proj", f"{AR} get_args --param_ids 6 (mlp.down_proj.weight)")
    positions: Literal["all", "answer"] = option(
        "answer", "locuslab/open-unlearning src/trainer/unlearn/rmu.py:129,158 (labels != -100)")


def adaptive_coefficient(h: torch.Tensor, mask: torch.Tensor, beta: float) -> float:
    """beta * mean over samples of the mean activation norm over each sample's scored tokens."""
    norms = h.float().norm(dim=-1)
    m = mask.to(norms.dtype)
    per_sample = (norms * m).sum(-1) / m.sum(-1).clamp(min=1)
    has = m.sum(-1) > 0
    return float(beta * per_sample[has].mean()) if bool(has.any()) else float(beta)


@register_method
class AdaptiveRMU(RMU):
    name = "armu"
    description = "RMU with the steering norm set once to beta x the frozen activation norm"
    paper = "Dang et al. 2024, On Effects of Steering Latent Representation, AAAI 2025, arXiv 2408.06223"
    reference = f"{AR} (run_adaptive_rmu: coefficient at idx == 0; get_args defaults)"
    deviations = (
        *RMU_DEVIATIONS,
        "one forget topic: the reference computes one coefficient per topic (bio, cyber) from each topic's "
        "first batch",
    )
    alternatives = ()
    Options = AdaptiveRMUOptions

    coefficient: float | None = None

    def prepare_batches(self) -> int:
        return 1

    def prepare(self, ctx: MethodContext, batches: list[tuple[UnlearnBatch, UnlearnBatch]]) -> None:
        o: AdaptiveRMUOptions = self.options  # type: ignore[assignment]
        f = batches[0][0]
        h = ctx.ref_hidden(f.inputs, self.layer_index)
        self.coefficient = adaptive_coefficient(h, self._mask(f.inputs).to(h.device), o.beta)

    def compute_loss(
        self, ctx: MethodContext, forget: UnlearnBatch, retain: UnlearnBatch
    ) -> tuple[torch.Tensor, dict[str, float]]:
        o: AdaptiveRMUOptions = self.options  # type: ignore[assignment]
        if self.control is None or self.coefficient is None:
            raise RuntimeError("AdaptiveRMU.setup() and prepare() must run first")
        h_f = ctx.hidden(forget.inputs, self.layer_index)
        target = (self.coefficient * self.control).to(device=h_f.device, dtype=torch.float32).expand_as(h_f)
        f_loss = masked_mse(h_f, target, self._mask(forget.inputs).to(h_f.device))
        h_r = ctx.hidden(retain.inputs, self.layer_index)
        ref_r = ctx.ref_hidden(retain.inputs, self.layer_index)
        r_loss = masked_mse(h_r, ref_r, self._mask(retain.inputs).to(h_r.device))
        loss = f_loss + o.alpha * r_loss
        return loss, {"forget_mse": f_loss.item(), "retain_mse": r_loss.item(), "coefficient": self.coefficient}
