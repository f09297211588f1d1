"""WGA, weighted gradient ascent (Wang et al. 2025, "Rethinking LLM Unlearning Objectives:
A Gradient Perspective and Go Beyond", ICLR 2025, arXiv 2502.19301).

    L = (1/N) * sum_{t: y_t answer} sg(p_theta(y_t|<t))^beta * log p_theta(y_t|<t)
        + w_r * CE(retain)

sg is stop-gradient. Each forget token's ascent is weighted by its own probability:
tokens already unlikely get almost no push, which keeps gradient ascent from running
away once the answer is forgotten (beta = 0 is plain GA over tokens).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from fiubench.methods.base import (
    MethodContext,
    MethodOptions,
    UnlearnBatch,
    UnlearningMethod,
    option,
)
from fiubench.methods.registry import register_method
from fiubench.methods.terms import nll, target_token_prob, weighted_ascent

_OU = "locuslab/open-unlearning configs/trainer/WGA.yaml"


@dataclass
class WGAOptions(MethodOptions):
    beta: float = option(1.0, f"{_OU}:11 (power of the stopped-gradient token probability)")
    forget_weight: float = option(1.0, f"{_OU}:13 (gamma)")
    retain_weight: float = option(1.0, f"{_OU}:12 (alpha; retain_loss_type NLL)")


@register_method
class WGA(UnlearningMethod):
    name = "wga"
    description = "gradient ascent with each token weighted by its stopped-gradient probability^beta"
    paper = "Wang et al. 2025, Rethinking LLM Unlearning Objectives, ICLR 2025, arXiv 2502.19301"
    reference = "locuslab/open-unlearning src/trainer/utils.py:102-115 (compute_wga_loss), configs/trainer/WGA.yaml"
    Options = WGAOptions

    def compute_loss(
        self, ctx: MethodContext, forget: UnlearnBatch, retain: UnlearnBatch
    ) -> tuple[torch.Tensor, dict[str, float]]:
        o: WGAOptions = self.options  # type: ignore[assignment]
        logits, labels = ctx.logits(forget.inputs), forget.inputs["labels"]
        p = target_token_prob(logits, labels)
        f = weighted_ascent(logits, labels, p.pow(o.beta))
        loss = o.forget_weight * f
        logs = {"wga": f.item(), "forget_token_prob": p.mean().item() if p.numel() else 0.0}
        if o.retain_weight:
            r_nll = nll(ctx.logits(retain.inputs), retain.inputs["labels"])
            loss = loss + o.retain_weight * r_nll
            logs["retain_nll"] = r_nll.item()
        return loss, logs
