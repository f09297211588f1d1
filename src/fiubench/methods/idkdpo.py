"""IdkDPO: DPO with a refusal preferred over the true answer (Maini et al. 2024; Rafailov et al. 2023).

    L = -(2/beta) * mean_i log sigmoid(beta * [(log p_theta(r_i|x_i) - log p_ref(r_i|x_i))
                                               - (log p_theta(y_i|x_i) - log p_ref(y_i|x_i))])
        + w_r * CE(retain)

r_i is a refusal sentence (winner), y_i the true answer (loser); log p sums the
answer-token log-probs; p_ref is the frozen fine-tuned model.
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
from fiubench.methods.terms import dpo_loss, nll, seq_logprob

_OU = "locuslab/open-unlearning configs/trainer/DPO.yaml"


@dataclass
class IdkDPOOptions(MethodOptions):
    beta: float = option(0.1, f"{_OU}:6")
    forget_weight: float = option(1.0, f"{_OU}:8 (gamma)")
    retain_weight: float = option(1.0, f"{_OU}:7 (alpha; retain_loss_type NLL)")


@register_method
class IdkDPO(UnlearningMethod):
    name = "idkdpo"
    description = "DPO preferring a refusal over the true answer"
    paper = "Rafailov et al. 2023 (DPO, arXiv 2305.18290); Maini et al. 2024 (TOFU)"
    reference = "locuslab/open-unlearning src/trainer/unlearn/dpo.py, src/trainer/utils.py:47-67, " \
                "configs/trainer/DPO.yaml"
    alternatives = ("locuslab/tofu dataloader.py:147-171 (loss_type dpo): -log sigmoid(beta * margin) without "
                    "the 2/beta scale and without a retain term",)
    Options = IdkDPOOptions
    needs_reference = True
    needs_refusal = True

    def compute_loss(
        self, ctx: MethodContext, forget: UnlearnBatch, retain: UnlearnBatch
    ) -> tuple[torch.Tensor, dict[str, float]]:
        o: IdkDPOOptions = self.options  # type: ignore[assignment]
        assert forget.refusal is not None, "IdkDPO needs refusal inputs"
        win, lose = forget.refusal, forget.inputs
        lw, _ = seq_logprob(ctx.logits(win), win["labels"])
        rw, _ = seq_logprob(ctx.ref_logits(win), win["labels"])
        ll, _ = seq_logprob(ctx.logits(lose), lose["labels"])
        rl, _ = seq_logprob(ctx.ref_logits(lose), lose["labels"])
        f = dpo_loss(lw, rw, ll, rl, o.beta)
        loss = o.forget_weight * f
        logs = {"dpo": f.item(), "margin": ((lw - rw) - (ll - rl)).mean().item()}
        if o.retain_weight:
            r_nll = nll(ctx.logits(retain.inputs), retain.inputs["labels"])
            loss = loss + o.retain_weight * r_nll
            logs["retain_nll"] = r_nll.item()
        return loss, logs
