"""PO, preference optimisation / "IDK" fine-tuning (Maini et al. 2024; FIUBench baseline).

    L = (w_f * sum_{t in refusal answers} CE_t + w_r * sum_{t in retain answers} CE_t)
        / (N_refusal + N_retain)

one token mean over the forget-question -> refusal answers and the retain answers
together, as TOFU's ``idk`` loss (which concatenates both batches and takes the
model's mean loss): a term's weight in the sum is its share of the answer tokens.
The refusal sentence of each forget example is drawn from the dataset's
``prompt.json`` deterministically from the seed (the engine builds those inputs).
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
from fiubench.methods.terms import seq_logprob

_TOFU = "locuslab/tofu dataloader.py:134-145 (idk: one mean loss over the concatenated batches)"


@dataclass
class POOptions(MethodOptions):
    forget_weight: float = option(1.0, _TOFU)
    retain_weight: float = option(1.0, _TOFU)


@register_method
class PreferenceOptimisation(UnlearningMethod):
    name = "po"
    description = "fine-tune forget questions toward refusals, plus retain CE (one token mean)"
    paper = "Maini et al. 2024, TOFU, arXiv 2401.06121"
    reference = "FIUBench (Ma et al., ICLR 2025) Sec. 4 baselines, following locuslab/tofu dataloader.py:134-145"
    Options = POOptions
    needs_refusal = True

    def compute_loss(
        self, ctx: MethodContext, forget: UnlearnBatch, retain: UnlearnBatch
    ) -> tuple[torch.Tensor, dict[str, float]]:
        o: POOptions = self.options  # type: ignore[assignment]
        assert forget.refusal is not None, "PO needs refusal inputs"
        lp_idk, n_idk = seq_logprob(ctx.logits(forget.refusal), forget.refusal["labels"])
        lp_ret, n_ret = seq_logprob(ctx.logits(retain.inputs), retain.inputs["labels"])
        total = (n_idk.sum() + n_ret.sum()).clamp(min=1)
        loss = -(o.forget_weight * lp_idk.sum() + o.retain_weight * lp_ret.sum()) / total
        logs = {"refusal_nll": (-lp_idk.sum() / n_idk.sum().clamp(min=1)).item(),
                "retain_nll": (-lp_ret.sum() / n_ret.sum().clamp(min=1)).item()}
        return loss, logs
