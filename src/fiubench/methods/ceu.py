"""CE-U, cross-entropy unlearning (Yang 2025, "CE-U: Cross Entropy Unlearning", arXiv 2503.01224).

    L = (1/N) * sum_{t: y_t answer} H(softmax(sg(z_t) with z_t[y_t] = -inf), p_theta(.|<t))
        + w_r * CE(retain)

z_t are the trained model's own next-token logits (stop-gradient): the target keeps
the model's distribution over every other token and gives the true token probability
0. Unlike gradient ascent the loss is bounded and its gradient vanishes as p(y_t)
-> 0, so it needs no early stop.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from fiubench.methods.base import MethodContext, MethodOptions, UnlearnBatch, UnlearningMethod
from fiubench.methods.registry import register_method
from fiubench.methods.terms import answer_logits, nll, soft_cross_entropy


@dataclass
class CEUOptions(MethodOptions):
    forget_weight: float = 1.0
    retain_weight: float = 1.0


def without_true_token(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """sg(logits) [N, V] with the true token's logit set to -inf."""
    return logits.detach().scatter(-1, target.unsqueeze(-1), float("-inf"))


@register_method
class CEU(UnlearningMethod):
    name = "ceu"
    description = "cross-entropy toward the model's own distribution with the true token removed"
    paper = "Yang 2025, CE-U: Cross Entropy Unlearning, arXiv 2503.01224"
    Options = CEUOptions

    def compute_loss(
        self, ctx: MethodContext, forget: UnlearnBatch, retain: UnlearnBatch
    ) -> tuple[torch.Tensor, dict[str, float]]:
        o: CEUOptions = self.options  # type: ignore[assignment]
        z, y = answer_logits(ctx.logits(forget.inputs), forget.inputs["labels"])
        f = soft_cross_entropy(without_true_token(z, y), z)
        loss = o.forget_weight * f
        logs = {"ceu": f.item()}
        if o.retain_weight:
            r_nll = nll(ctx.logits(retain.inputs), retain.inputs["labels"])
            loss = loss + o.retain_weight * r_nll
            logs["retain_nll"] = r_nll.item()
        return loss, logs
