"""MMUnlearner, saliency-masked unlearning for multimodal LLMs (Huo et al. 2025, "MMUnlearner:
Reformulating Multimodal Machine Unlearning in the Era of Multimodal Large Language
Models", Findings of ACL 2025, arXiv 2502.11051).

Before the first step, the diagonal empirical Fisher information of every trainable
parameter entry is estimated on forget and on retain batches:

    F_f[i] = mean_b (d CE(forget batch b) / d theta_i)^2,   F_r[i] likewise on retain
    s[i]   = F_f[i] / (F_r[i] + eps)                          (forget saliency)

Within each module group (vision tower, projector, language model, each on its own,
since their Fisher scales differ by orders of magnitude) the ``mask_ratio`` fraction
of entries with the highest s form the mask M. Training then minimises

    L = -w_f * CE(forget) + w_r * CE(retain)

with the gradient multiplied by M (geometry-constrained gradient ascent): only the
entries that carry the forget knowledge more than the retain knowledge move; the
others are held at their fine-tuned values after every optimiser step (so neither
weight decay nor optimiser momentum moves them).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch

from fiubench.errors import ConfigError
from fiubench.methods.base import MethodContext, MethodOptions, UnlearnBatch, UnlearningMethod
from fiubench.methods.registry import register_method
from fiubench.methods.terms import nll


@dataclass
class MMUnlearnerOptions(MethodOptions):
    mask_ratio: float = 0.5  # fraction of each module group's trainable entries that may move
    fisher_batches: int = 4  # optimiser steps' worth of batches used to estimate the Fisher
    eps: float = 1e-12
    forget_weight: float = 1.0
    retain_weight: float = 1.0


def saliency_masks(fisher_forget: dict[str, torch.Tensor], fisher_retain: dict[str, torch.Tensor],
                   groups: dict[str, str], ratio: float, eps: float) -> dict[str, torch.Tensor]:
    """Boolean masks: per group, the top ``ratio`` fraction of entries by F_f / (F_r + eps).

    ``groups`` maps each parameter name to its module group. Exactly
    ``ceil(ratio * group size)`` entries are kept per group (ties broken by position).
    """
    scores = {n: fisher_forget[n] / (fisher_retain[n] + eps) for n in fisher_forget}
    masks: dict[str, torch.Tensor] = {}
    for g in sorted(set(groups.values())):
        names = [n for n in scores if groups[n] == g]
        flat = torch.cat([scores[n].flatten().float() for n in names])
        keep = torch.zeros(flat.numel(), dtype=torch.bool)
        k = math.ceil(ratio * flat.numel())
        if k > 0:
            keep[torch.topk(flat, k, sorted=False).indices] = True
        pos = 0
        for n in names:
            size = scores[n].numel()
            masks[n] = keep[pos : pos + size].view_as(scores[n])
            pos += size
    return masks


@register_method
class MMUnlearner(UnlearningMethod):
    name = "mmunlearner"
    description = "GA+GD restricted to the entries whose forget Fisher dominates, per vision/language module"
    paper = "Huo et al. 2025, MMUnlearner, Findings of ACL 2025, arXiv 2502.11051"
    Options = MMUnlearnerOptions
    default_loss_threshold = -20.0

    def __init__(self, options: MethodOptions | None = None) -> None:
        super().__init__(options)
        self.masks: dict[str, torch.Tensor] = {}
        self._held: list[tuple[torch.nn.Parameter, torch.Tensor, torch.Tensor]] = []

    def setup(self, vlm: Any, seed: int) -> None:
        o: MMUnlearnerOptions = self.options  # type: ignore[assignment]
        if not 0.0 < o.mask_ratio <= 1.0:
            raise ConfigError(f"method mmunlearner option mask_ratio={o.mask_ratio}: must be in (0, 1]")
        if o.fisher_batches < 1:
            raise ConfigError(f"method mmunlearner option fisher_batches={o.fisher_batches}: must be >= 1")

    def prepare_batches(self) -> int:
        return int(self.options.fisher_batches)  # type: ignore[attr-defined]

    def prepare(self, ctx: MethodContext, batches: list[tuple[UnlearnBatch, UnlearnBatch]]) -> None:
        o: MMUnlearnerOptions = self.options  # type: ignore[assignment]
        model = ctx.vlm.model
        named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
        params = [p for _, p in named]
        fisher = {side: [torch.zeros_like(p, dtype=torch.float32) for p in params] for side in ("f", "r")}
        for f, r in batches:
            for side, batch in (("f", f), ("r", r)):
                loss = nll(ctx.logits(batch.inputs), batch.inputs["labels"])
                grads = torch.autograd.grad(loss, params, allow_unused=True)
                for acc, g in zip(fisher[side], grads, strict=True):
                    if g is not None:
                        acc += g.detach().float() ** 2
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            for acc in (*fisher["f"], *fisher["r"]):  # every rank must hold the same mask
                torch.distributed.all_reduce(acc)
        family = getattr(ctx.vlm, "family", None)
        groups = {n: (family.part_of(n) if family is not None else None) or "other" for n, _ in named}
        self.masks = saliency_masks(
            {n: a for (n, _), a in zip(named, fisher["f"], strict=True)},
            {n: a for (n, _), a in zip(named, fisher["r"], strict=True)},
            groups, o.mask_ratio, o.eps,
        )
        self._held = []
        for n, p in named:
            m = self.masks[n].to(p.device)
            p.register_hook(lambda g, m=m: g * m.to(g.dtype))
            if not bool(m.all()):
                self._held.append((p, m, p.detach().clone()))

    def after_step(self, step: int) -> None:
        with torch.no_grad():
            for p, m, start in self._held:
                p.copy_(torch.where(m, p, start))

    def kept_fraction(self) -> dict[str, float]:
        """Fraction of entries the mask lets move (for logs and tests)."""
        return {n: m.float().mean().item() for n, m in self.masks.items()}

    def compute_loss(
        self, ctx: MethodContext, forget: UnlearnBatch, retain: UnlearnBatch
    ) -> tuple[torch.Tensor, dict[str, float]]:
        o: MMUnlearnerOptions = self.options  # type: ignore[assignment]
        f_nll = nll(ctx.logits(forget.inputs), forget.inputs["labels"])
        r_nll = nll(ctx.logits(retain.inputs), retain.inputs["labels"])
        loss = -o.forget_weight * f_nll + o.retain_weight * r_nll
        return loss, {"forget_nll": f_nll.item(), "retain_nll": r_nll.item()}
