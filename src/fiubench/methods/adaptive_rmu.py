"""Adaptive RMU (Dang et al. 2024, "On Effects of Steering Latent Representation for Large
Language Model Unlearning", AAAI 2025, arXiv 2408.06223).

    L = mean_{forget tokens} ||h_L(x_f) - beta * ||h_L^ref(x_f)|| * u||^2 / H
        + alpha * mean_{retain tokens} ||h_L(x_r) - h_L^ref(x_r)||^2 / H

RMU (``rmu``) with the fixed steering coefficient c replaced by beta times the norm
of the frozen model's own activation at each forget token, so the target's scale
follows the layer's natural scale instead of a per-model tuned constant. u, the
layer choice and the trained layers are RMU's.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from fiubench.methods.base import MethodContext, UnlearnBatch
from fiubench.methods.registry import register_method
from fiubench.methods.rmu import RMU, RMUOptions
from fiubench.methods.terms import masked_mse


@dataclass
class AdaptiveRMUOptions(RMUOptions):
    beta: float = 5.0  # target norm = beta * ||h_ref|| at each forget token
    steering_coeff: float = 1.0  # unused scale of u (kept at 1: the target norm comes from beta)


@register_method
class AdaptiveRMU(RMU):
    name = "armu"
    description = "RMU with the steering norm set per token to beta x the frozen activation norm"
    paper = "Dang et al. 2024, On Effects of Steering Latent Representation, AAAI 2025, arXiv 2408.06223"
    Options = AdaptiveRMUOptions

    def compute_loss(
        self, ctx: MethodContext, forget: UnlearnBatch, retain: UnlearnBatch
    ) -> tuple[torch.Tensor, dict[str, float]]:
        o: AdaptiveRMUOptions = self.options  # type: ignore[assignment]
        if self.control is None:
            raise RuntimeError("AdaptiveRMU.setup() was not called")
        u = self.control / self.control.norm()
        h_f = ctx.hidden(forget.inputs, self.layer_index)
        ref_f = ctx.ref_hidden(forget.inputs, self.layer_index)
        scale = o.beta * ref_f.float().norm(dim=-1, keepdim=True)
        target = scale * u.to(device=h_f.device, dtype=torch.float32)
        f_loss = masked_mse(h_f, target, self._mask(forget.inputs).to(h_f.device))
        h_r = ctx.hidden(retain.inputs, self.layer_index)
        ref_r = ctx.ref_hidden(retain.inputs, self.layer_index)
        r_loss = masked_mse(h_r, ref_r, self._mask(retain.inputs).to(h_r.device))
        loss = f_loss + o.alpha * r_loss
        return loss, {"forget_mse": f_loss.item(), "retain_mse": r_loss.item()}
