"""UNDIAL, self-distillation with adjusted logits (Dong et al. 2024, arXiv 2402.10052; NAACL 2025).

    L = w_f * (1/N) * sum_{t: y_t answer} H(softmax(z_ref,t - gamma * e_{y_t}), p_theta(.|<t))
        + w_r * CE(retain)

z_ref,t are the frozen fine-tuned model's next-token logits at forget answer position
t, e_{y_t} the one-hot vector of the true token: the teacher is the model itself with
only the true token's logit lowered by gamma, so the student unlearns that token and
keeps the rest of its distribution (bounded, unlike gradient ascent). H is the
cross-entropy, averaged over the answer tokens of the batch. Defaults are
OpenUnlearning's (its ``beta`` is gamma here, its ``gamma`` w_f and ``alpha`` w_r):
no retain term.
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
from fiubench.methods.terms import answer_logits, nll, soft_cross_entropy

_OU = "locuslab/open-unlearning configs/trainer/UNDIAL.yaml"


@dataclass
class UNDIALOptions(MethodOptions):
    gamma: float = option(10.0, f"{_OU}:11 (beta: how far the true token's logit is lowered)")
    forget_weight: float = option(1.0, f"{_OU}:9 (gamma)")
    retain_weight: float = option(0.0, f"{_OU}:10 (alpha: no retain term)")


def adjusted_teacher(ref_logits: torch.Tensor, target: torch.Tensor, gamma: float) -> torch.Tensor:
    """z_ref - gamma * onehot(y): [N, V] logits with the true token's logit lowered."""
    onehot = torch.nn.functional.one_hot(target, ref_logits.size(-1)).to(ref_logits.dtype)
    return ref_logits - gamma * onehot


@register_method
class UNDIAL(UnlearningMethod):
    name = "undial"
    description = "self-distillation toward the model's own logits with the true token lowered by gamma"
    paper = "Dong et al. 2024, UNDIAL, arXiv 2402.10052 (NAACL 2025)"
    reference = "locuslab/open-unlearning src/trainer/utils.py:70-99 (compute_undial_loss), configs/trainer/UNDIAL.yaml"
    deviations = (
        "the cross-entropy is averaged over answer tokens only; OpenUnlearning averages over every position "
        "(prompt, image and padding included, utils.py:94-99) and its one-hot of label -100 marks token V-100 "
        "(utils.py:88)",
    )
    Options = UNDIALOptions
    needs_reference = True

    def compute_loss(
        self, ctx: MethodContext, forget: UnlearnBatch, retain: UnlearnBatch
    ) -> tuple[torch.Tensor, dict[str, float]]:
        o: UNDIALOptions = self.options  # type: ignore[assignment]
        labels = forget.inputs["labels"]
        z, y = answer_logits(ctx.logits(forget.inputs), labels)
        z_ref, _ = answer_logits(ctx.ref_logits(forget.inputs), labels)
        f = soft_cross_entropy(adjusted_teacher(z_ref, y, o.gamma), z)
        loss = o.forget_weight * f
        logs = {"undial": f.item()}
        if o.retain_weight:
            r_nll = nll(ctx.logits(retain.inputs), retain.inputs["labels"])
            loss = loss + o.retain_weight * r_nll
            logs["retain_nll"] = r_nll.item()
        return loss, logs
