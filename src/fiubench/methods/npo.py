"""NPO, negative preference optimisation (Zhang et al. 2024, arXiv 2404.05868).

    L = -(2/beta) * mean_i log sigmoid(-beta * (log p_theta(y_i|x_i) - log p_ref(y_i|x_i)))
        + w_r * CE(retain)

log p is the sum of answer-token log-probs; p_ref is the frozen fine-tuned model.
Bounded below by 0, so it needs no early stop. ``retain_weight=0`` gives plain NPO.
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
from fiubench.methods.terms import nll, npo_loss, seq_logprob

_OU = "locuslab/open-unlearning configs/trainer/NPO.yaml"


@dataclass
class NPOOptions(MethodOptions):
    beta: float = option(0.1, f"{_OU}:6")
    forget_weight: float = option(1.0, f"{_OU}:8 (gamma)")
    retain_weight: float = option(1.0, f"{_OU}:7 (alpha; retain_loss_type NLL)")


@register_method
class NPO(UnlearningMethod):
    name = "npo"
    description = "negative preference optimisation against the fine-tuned model"
    paper = "Zhang et al. 2024, Negative Preference Optimization, COLM 2024, arXiv 2404.05868"
    reference = "locuslab/open-unlearning src/trainer/unlearn/npo.py, src/trainer/utils.py:47-67, " \
                "configs/trainer/NPO.yaml"
    Options = NPOOptions
    needs_reference = True

    def compute_loss(
        self, ctx: MethodContext, forget: UnlearnBatch, retain: UnlearnBatch
    ) -> tuple[torch.Tensor, dict[str, float]]:
        o: NPOOptions = self.options  # type: ignore[assignment]
        labels = forget.inputs["labels"]
        logp, _ = seq_logprob(ctx.logits(forget.inputs), labels)
        ref_logp, _ = seq_logprob(ctx.ref_logits(forget.inputs), labels)
        f = npo_loss(logp, ref_logp, o.beta)
        loss = o.forget_weight * f
        logs = {"npo": f.item(), "forget_logratio": (logp - ref_logp).mean().item()}
        if o.retain_weight:
            r_nll = nll(ctx.logits(retain.inputs), retain.inputs["labels"])
            loss = loss + o.retain_weight * r_nll
            logs["retain_nll"] = r_nll.item()
        return loss, logs
