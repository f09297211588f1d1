"""SimNPO, reference-free NPO (Fan et al. 2024, "Simplicity Prevails", arXiv 2410.07163).

    L = -(2/beta) * mean_i log sigmoid(beta * (-log p_theta(y_i|x_i) / |y_i| - delta))
        * w_f + w_r * CE(retain)

|y| is the number of answer tokens (length normalisation replaces the reference
model, so none is loaded). Names and defaults are OpenUnlearning's: its ``gamma`` is
the forget weight (``forget_weight`` here, 0.125) and ``delta`` the margin (the
paper's gamma = beta * delta).
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
from fiubench.methods.terms import nll, seq_logprob, simnpo_loss

_OU = "locuslab/open-unlearning configs/trainer/SimNPO.yaml"


@dataclass
class SimNPOOptions(MethodOptions):
    beta: float = option(4.5, f"{_OU}:7")
    delta: float = option(0.0, f"{_OU}:6 (margin; src/trainer/unlearn/simnpo.py:19)")
    forget_weight: float = option(0.125, f"{_OU}:9 (gamma, = npo_coeff of OPTML-Group/Unlearn-Simple)")
    retain_weight: float = option(1.0, f"{_OU}:8 (alpha; retain_loss_type NLL)")


@register_method
class SimNPO(UnlearningMethod):
    name = "simnpo"
    description = "reference-free, length-normalised NPO"
    paper = "Fan et al. 2024, Simplicity Prevails (SimNPO), arXiv 2410.07163"
    reference = "locuslab/open-unlearning src/trainer/unlearn/simnpo.py, configs/trainer/SimNPO.yaml"
    renamed_options = {
        "gamma": "the SimNPO margin is now 'delta' (OpenUnlearning's name; the paper's gamma = beta * delta) "
                 "and the forget weight 'forget_weight' (OpenUnlearning's gamma, default 0.125)",
    }
    Options = SimNPOOptions

    def compute_loss(
        self, ctx: MethodContext, forget: UnlearnBatch, retain: UnlearnBatch
    ) -> tuple[torch.Tensor, dict[str, float]]:
        o: SimNPOOptions = self.options  # type: ignore[assignment]
        logp, length = seq_logprob(ctx.logits(forget.inputs), forget.inputs["labels"])
        f = simnpo_loss(logp, length, o.beta, o.delta)
        loss = o.forget_weight * f
        logs = {"simnpo": f.item()}
        if o.retain_weight:
            r_nll = nll(ctx.logits(retain.inputs), retain.inputs["labels"])
            loss = loss + o.retain_weight * r_nll
            logs["retain_nll"] = r_nll.item()
        return loss, logs
