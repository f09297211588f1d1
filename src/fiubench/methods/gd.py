"""GD, gradient difference (Liu et al. 2022; FIUBench baseline).

    L = -CE(forget) + w_r * CE(retain)

Ascent on forget answers, descent on a paired retain batch to keep utility.
Early stop at loss < -20 by default, as the FIUBench authors did.
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
class GDOptions(MethodOptions):
    forget_weight: float = option(1.0, "locuslab/tofu dataloader.py:101-111 (grad_diff: -forget + retain)")
    retain_weight: float = option(1.0, "locuslab/tofu dataloader.py:101-111 (grad_diff: -forget + retain)")


@register_method
class GradientDifference(UnlearningMethod):
    name = "gd"
    description = "gradient ascent on forget plus descent on retain"
    paper = "Liu et al. 2022, Continual Learning and Private Unlearning, CoLLAs 2022, arXiv 2203.12817"
    Options = GDOptions
    default_loss_threshold = -20.0
    reference = "FIUBench (Ma et al., ICLR 2025) Sec. 4 baselines, following locuslab/tofu dataloader.py:101-111"

    def compute_loss(
        self, ctx: MethodContext, forget: UnlearnBatch, retain: UnlearnBatch
    ) -> tuple[torch.Tensor, dict[str, float]]:
        o: GDOptions = self.options  # type: ignore[assignment]
        f_nll = nll(ctx.logits(forget.inputs), forget.inputs["labels"])
        r_nll = nll(ctx.logits(retain.inputs), retain.inputs["labels"])
        loss = -o.forget_weight * f_nll + o.retain_weight * r_nll
        return loss, {"forget_nll": f_nll.item(), "retain_nll": r_nll.item()}
