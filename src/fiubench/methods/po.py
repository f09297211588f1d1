"""PO, preference optimisation / "IDK" fine-tuning (Maini et al. 2024; FIUBench baseline).

    L = CE(forget question -> refusal) + w_r * CE(retain)

The refusal sentence of each forget example is drawn from the dataset's
``prompt.json`` deterministically from the seed (the engine builds those inputs).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from fiubench.methods.base import MethodContext, MethodOptions, UnlearnBatch, UnlearningMethod
from fiubench.methods.registry import register_method
from fiubench.methods.terms import nll


@dataclass
class POOptions(MethodOptions):
    forget_weight: float = 1.0
    retain_weight: float = 1.0


@register_method
class PreferenceOptimisation(UnlearningMethod):
    name = "po"
    description = "fine-tune forget questions toward refusals, plus retain CE"
    paper = "Maini et al. 2024, TOFU, arXiv 2401.06121"
    Options = POOptions
    needs_refusal = True

    def compute_loss(
        self, ctx: MethodContext, forget: UnlearnBatch, retain: UnlearnBatch
    ) -> tuple[torch.Tensor, dict[str, float]]:
        o: POOptions = self.options  # type: ignore[assignment]
        assert forget.refusal is not None, "PO needs refusal inputs"
        idk = nll(ctx.logits(forget.refusal), forget.refusal["labels"])
        r_nll = nll(ctx.logits(retain.inputs), retain.inputs["labels"])
        loss = o.forget_weight * idk + o.retain_weight * r_nll
        return loss, {"refusal_nll": idk.item(), "retain_nll": r_nll.item()}
