"""GA, gradient ascent (Jang et al. 2023; FIUBench baseline).

    L = -CE(forget)

CE is the token-level mean cross-entropy on forget answer tokens. The loss falls
without bound; FIUBench's authors stopped the run once it passed -20, before the
model collapses and emits nothing (default ``loss_threshold`` of the engine).
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
from fiubench.methods.terms import nll


@dataclass
class GAOptions(MethodOptions):
    forget_weight: float = option(1.0, "locuslab/tofu dataloader.py:93-99 (grad_ascent: -loss, unweighted)")


@register_method
class GradientAscent(UnlearningMethod):
    name = "ga"
    description = "gradient ascent on the forget answers"
    paper = "Jang et al. 2023, Knowledge Unlearning for Mitigating Privacy Risks, ACL 2023, arXiv 2210.01504"
    Options = GAOptions
    default_loss_threshold = -20.0
    reference = "FIUBench (Ma et al., ICLR 2025) Sec. 4 baselines, following locuslab/tofu dataloader.py:93-99; " \
                "loss threshold -20 from the FIUBench authors' reply to reviewers"

    def compute_loss(
        self, ctx: MethodContext, forget: UnlearnBatch, retain: UnlearnBatch
    ) -> tuple[torch.Tensor, dict[str, float]]:
        f_nll = nll(ctx.logits(forget.inputs), forget.inputs["labels"])
        loss = -self.options.forget_weight * f_nll  # type: ignore[attr-defined]
        return loss, {"forget_nll": f_nll.item()}
