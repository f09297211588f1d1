"""ME+GD, maximum-entropy unlearning (Yuan et al. 2024, "A Closer Look at Machine Unlearning
for Large Language Models", arXiv 2410.08109), as a fiubench plugin in one file.

    L = (1/N) * sum_{t: y_t answer} KL(u || p_theta(.|<t)) + w_r * CE(retain)

u is the uniform distribution over the vocabulary: the forget answers' next-token
distributions are pushed toward maximal entropy (a model that never saw the person
has no preference), while the retain answers keep their cross-entropy.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from fiubench.methods import MethodOptions, UnlearnBatch, UnlearningMethod
from fiubench.methods.terms import answer_logits, nll


@dataclass
class MaxEntOptions(MethodOptions):
    forget_weight: float = 1.0
    retain_weight: float = 1.0


class MaxEnt(UnlearningMethod):
    name = "maxent"  # must equal the entry point's name
    description = "push forget answers' next-token distributions toward uniform, keep retain CE"
    paper = "Yuan et al. 2024, A Closer Look at Machine Unlearning for LLMs, arXiv 2410.08109"
    Options = MaxEntOptions

    def compute_loss(self, ctx, forget: UnlearnBatch, retain: UnlearnBatch):
        o: MaxEntOptions = self.options  # type: ignore[assignment]
        z, _ = answer_logits(ctx.logits(forget.inputs), forget.inputs["labels"])
        if z.numel() == 0:  # no answer token in this micro-batch
            z = z.new_zeros(1, 1, requires_grad=True)
        logp = torch.log_softmax(z, dim=-1)
        # KL(u || p) = sum_v (1/V) * (log(1/V) - log p_v)
        kl = (-math.log(z.size(-1)) - logp.mean(-1)).mean()
        r_nll = nll(ctx.logits(retain.inputs), retain.inputs["labels"])
        loss = o.forget_weight * kl + o.retain_weight * r_nll
        return loss, {"forget_kl_uniform": kl.item(), "retain_nll": r_nll.item()}
