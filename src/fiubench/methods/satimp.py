"""SatImp, saturation-importance reweighting (Yang et al. 2025, "Exploring Criteria of Loss
Reweighting to Enhance LLM Unlearning", ICML 2025, arXiv 2505.11953).

    L = w_f * (1/N) * sum_{t: y_t answer} sg(p_t)^beta1 * sg(1 - p_t)^beta2 * log p_t
        + w_r * CE(retain),        p_t = p_theta(y_t|<t)

sg is stop-gradient. The p^beta1 factor (importance) favours tokens the model still
knows; the (1-p)^beta2 factor (saturation) damps tokens it is already certain of,
whose gradient would otherwise dominate the first steps.

Defaults are the authors' (tmlr-group/SatImp): beta1 = 5, beta2 = 0.1 as their README
recommends, and their ``satimp_gd`` loss, forget + 0.1 x retain (10:1). Chosen over
OpenUnlearning's shipped config (beta2 = 1, forget 0.1 : retain 1) because it is the
method as its authors ran it; every FIUBench step pairs a retain batch, hence the
authors' GD variant rather than their forget-only ``satimp``.
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
from fiubench.methods.terms import nll, target_token_prob, weighted_ascent

_SI = "tmlr-group/SatImp"


@dataclass
class SatImpOptions(MethodOptions):
    beta1: float = option(5.0, f"{_SI} README.md:42-44 (hyper_param=5.0; dataloader/dataloader_sat.py:147)")
    beta2: float = option(0.1, f"{_SI} README.md:42-44 (beta=0.1; dataloader/dataloader_sat.py:148)")
    forget_weight: float = option(1.0, f"{_SI} dataloader/dataloader_sat.py:155 (forget_loss unweighted)")
    retain_weight: float = option(0.1, f"{_SI} dataloader/dataloader_sat.py:155, config/forget_sat.yaml:18 "
                                       "(coeff 0.1)")


@register_method
class SatImp(UnlearningMethod):
    name = "satimp"
    description = "gradient ascent with token weights sg(p)^beta1 * sg(1-p)^beta2"
    paper = "Yang et al. 2025, Exploring Criteria of Loss Reweighting, ICML 2025, arXiv 2505.11953"
    reference = "tmlr-group/SatImp dataloader/dataloader_sat.py (loss_type satimp_gd), README.md"
    alternatives = ("locuslab/open-unlearning configs/trainer/SatImp.yaml: beta1 5, beta2 1, forget 0.1 : "
                    "retain 1 (forget_weight=0.1 retain_weight=1 beta2=1)",)
    Options = SatImpOptions

    def compute_loss(
        self, ctx: MethodContext, forget: UnlearnBatch, retain: UnlearnBatch
    ) -> tuple[torch.Tensor, dict[str, float]]:
        o: SatImpOptions = self.options  # type: ignore[assignment]
        logits, labels = ctx.logits(forget.inputs), forget.inputs["labels"]
        p = target_token_prob(logits, labels)
        w = p.pow(o.beta1) * (1.0 - p).pow(o.beta2)
        f = weighted_ascent(logits, labels, w)
        loss = o.forget_weight * f
        logs = {"satimp": f.item(), "mean_weight": w.mean().item() if w.numel() else 0.0}
        if o.retain_weight:
            r_nll = nll(ctx.logits(retain.inputs), retain.inputs["labels"])
            loss = loss + o.retain_weight * r_nll
            logs["retain_nll"] = r_nll.item()
        return loss, logs
