"""SatImp, saturation-importance reweighting (Yang et al. 2025, "Exploring Criteria of Loss
Reweighting to Enhance LLM Unlearning", ICML 2025, arXiv 2505.11953).

    L = (1/N) * sum_{t: y_t answer} sg(p_t)^beta1 * sg(1 - p_t)^beta2 * log p_t
        + w_r * CE(retain),        p_t = p_theta(y_t|<t)

sg is stop-gradient. The p^beta1 factor (importance) favours tokens the model still
knows; the (1-p)^beta2 factor (saturation) damps tokens it is already certain of,
whose gradient would otherwise dominate the first steps.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from fiubench.methods.base import MethodContext, MethodOptions, UnlearnBatch, UnlearningMethod
from fiubench.methods.registry import register_method
from fiubench.methods.terms import nll, target_token_prob, weighted_ascent


@dataclass
class SatImpOptions(MethodOptions):
    beta1: float = 5.0  # importance power of sg(p)
    beta2: float = 1.0  # saturation power of sg(1 - p)
    forget_weight: float = 1.0
    retain_weight: float = 1.0


@register_method
class SatImp(UnlearningMethod):
    name = "satimp"
    description = "gradient ascent with token weights sg(p)^beta1 * sg(1-p)^beta2"
    paper = "Yang et al. 2025, Exploring Criteria of Loss Reweighting, ICML 2025, arXiv 2505.11953"
    Options = SatImpOptions

    def compute_loss(
        self, ctx: MethodContext, forget: UnlearnBatch, retain: UnlearnBatch
    ) -> tuple[torch.Tensor, dict[str, float]]:
        o: SatImpOptions = self.options  # type: ignore[assignment]
        logits, labels = ctx.logits(forget.inputs), forget.inputs["labels"]
        p = target_token_prob(logits, labels)
        w = p.pow(o.beta1) * (1.0 - p).pow(o.beta2)
        f = weighted_ascent(logits, labels, w)
        loss = o.forget_weight * f
        logs = {"satimp": f.item(), "mean_weight": w.mean().item() if w.numel() else 0.0}
        if o.retain_weight:
            r_nll = nll(ctx.logits(retain.inputs), retain.inputs["labels"])
            loss = loss + o.retain_weight * r_nll
            logs["retain_nll"] = r_nll.item()
        return loss, logs
