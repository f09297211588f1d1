"""CE-U, cross-entropy unlearning (Yang 2025, "CE-U: Cross Entropy Unlearning", arXiv 2503.01224).

    L = w_f * (1/N) * sum_{t: y_t answer, t > n} H(softmax(sg(z_t) with z_t[y_t] = -inf), p_theta(.|<t))
        + w_r * CE(retain)

z_t are the trained model's own next-token logits (stop-gradient): the target keeps
the model's distribution over every other token and gives the true token probability
0. The first ``ignore_first_n_answer_tokens`` answer tokens of each sample are left
out (the paper's footnote in its training settings; OpenUnlearning's
``ignore_first_n_answer_tokens``). The reference has no retain term (w_r = 0). Unlike
gradient ascent the loss is bounded and its gradient vanishes as p(y_t) -> 0, so it
needs no early stop.
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
from fiubench.models.logprobs import IGNORE_INDEX

_OU = "locuslab/open-unlearning"


@dataclass
class CEUOptions(MethodOptions):
    ignore_first_n_answer_tokens: int = option(1, f"{_OU} configs/trainer/CEU.yaml:6; "
                                                  "src/trainer/unlearn/ceu.py:69-74")
    forget_weight: float = option(1.0, f"{_OU} src/trainer/unlearn/ceu.py:89-95 (the loss unweighted)")
    retain_weight: float = option(0.0, f"{_OU} src/trainer/unlearn/ceu.py:89-95 (no retain term)")


def without_true_token(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """sg(logits) [N, V] with the true token's logit set to -inf."""
    return logits.detach().scatter(-1, target.unsqueeze(-1), float("-inf"))


def drop_first_answer_tokens(labels: torch.Tensor, n: int) -> torch.Tensor:
    """``labels`` with the first ``n`` answer tokens of every row set to -100."""
    answer = labels.ne(IGNORE_INDEX)
    first = answer & (answer.cumsum(dim=-1) <= n)
    return labels.masked_fill(first, IGNORE_INDEX)


@register_method
class CEU(UnlearningMethod):
    name = "ceu"
    description = "cross-entropy toward the model's own distribution with the true token removed"
    paper = "Yang 2025, CE-U: Cross Entropy Unlearning, arXiv 2503.01224"
    reference = f"{_OU} src/trainer/unlearn/ceu.py, configs/trainer/CEU.yaml"
    Options = CEUOptions

    def compute_loss(
        self, ctx: MethodContext, forget: UnlearnBatch, retain: UnlearnBatch
    ) -> tuple[torch.Tensor, dict[str, float]]:
        o: CEUOptions = self.options  # type: ignore[assignment]
        labels = drop_first_answer_tokens(forget.inputs["labels"], o.ignore_first_n_answer_tokens)
        z, y = answer_logits(ctx.logits(forget.inputs), labels)
        f = soft_cross_entropy(without_true_token(z, y), z)
        loss = o.forget_weight * f
        logs = {"ceu": f.item()}
        if o.retain_weight:
            r_nll = nll(ctx.logits(retain.inputs), retain.inputs["labels"])
            loss = loss + o.retain_weight * r_nll
            logs["retain_nll"] = r_nll.item()
        return loss, logs
