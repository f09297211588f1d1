"""SimNPO, reference-free NPO (Fan et al. 2024, arXiv 2410.07163).

    L = -(2/beta) * mean_i log sigmoid(-(beta/|y_i|) * log p_theta(y_i|x_i) - gamma)
        + w_r * CE(retain)

|y| is the number of answer tokens (length normalisation replaces the reference
model, so none is loaded).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from fiubench.methods.base import MethodContext, MethodOptions, UnlearnBatch, UnlearningMethod
from fiubench.methods.registry import register_method
from fiubench.methods.terms import nll, seq_logprob, simnpo_loss


@dataclass
class SimNPOOptions(MethodOptions):
    beta: float = 4.5
    gamma: float = 0.0
    forget_weight: float = 1.0
    retain_weight: float = 1.0


@register_method
class SimNPO(UnlearningMethod):
    name = "simnpo"
    description = "reference-free, length-normalised NPO"
    paper = "Fan et al. 2024, Simplicity Prevails (SimNPO), arXiv 2410.07163"
    Options = SimNPOOptions

    def compute_loss(
        self, ctx: MethodContext, forget: UnlearnBatch, retain: UnlearnBatch
    ) -> tuple[torch.Tensor, dict[str, float]]:
        o: SimNPOOptions = self.options  # type: ignore[assignment]
        logp, length = seq_logprob(ctx.logits(forget.inputs), forget.inputs["labels"])
        f = simnpo_loss(logp, length, o.beta, o.gamma)
        loss = o.forget_weight * f
        logs = {"simnpo": f.item()}
        if o.retain_weight:
            r_nll = nll(ctx.logits(retain.inputs), retain.inputs["labels"])
            loss = loss + o.retain_weight * r_nll
            logs["retain_nll"] = r_nll.item()
        return loss, logs
