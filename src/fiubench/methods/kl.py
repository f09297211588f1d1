"""KL minimisation (FIUBench / TOFU baseline).

    L = -CE(forget) + w_r * KL(p_ref || p_theta) on retain

p_ref is the frozen fine-tuned model. The KL is taken per next-token distribution
at retain *answer* positions only and averaged over them (token averaging): prompt,
image and padding positions are masked (upstream averaged over all of them).
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
from fiubench.methods.terms import answer_kl, nll


@dataclass
class KLOptions(MethodOptions):
    forget_weight: float = option(1.0, "locuslab/tofu dataloader.py:113-132 (KL: -forget + KL, unweighted)")
    retain_weight: float = option(1.0, "locuslab/tofu dataloader.py:113-132 (KL: -forget + KL, unweighted)")


@register_method
class KLMinimisation(UnlearningMethod):
    name = "kl"
    description = "gradient ascent on forget plus KL to the fine-tuned model on retain"
    paper = "Maini et al. 2024, TOFU, arXiv 2401.06121"
    Options = KLOptions
    needs_reference = True
    default_loss_threshold = -20.0
    reference = "FIUBench (Ma et al., ICLR 2025) Sec. 4 baselines, following locuslab/tofu dataloader.py:113-132"
    deviations = (
        "the KL is averaged over retain answer positions only; the reference's kl_div(batchmean) over the "
        "flattened batch averages over every position, prompt, image and padding included, so answer "
        "tokens weigh less the longer the prompt and the image",
    )

    def compute_loss(
        self, ctx: MethodContext, forget: UnlearnBatch, retain: UnlearnBatch
    ) -> tuple[torch.Tensor, dict[str, float]]:
        o: KLOptions = self.options  # type: ignore[assignment]
        f_nll = nll(ctx.logits(forget.inputs), forget.inputs["labels"])
        labels = retain.inputs["labels"]
        kl = answer_kl(ctx.ref_logits(retain.inputs), ctx.logits(retain.inputs), labels)
        loss = -o.forget_weight * f_nll + o.retain_weight * kl
        return loss, {"forget_nll": f_nll.item(), "retain_kl": kl.item()}
