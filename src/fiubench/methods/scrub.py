"""SCRUB, teacher-student unlearning (Kurmanji et al. 2023, "Towards Unbounded Machine
Unlearning", NeurIPS 2023, arXiv 2302.09880).

Alternating optimiser steps, L = L_max on max steps and L = L_min on min steps:

    L_max = -w_f * KL(p_ref || p_theta) on forget answer positions
    L_min = alpha * KL(p_ref || p_theta) on retain answer positions + gamma * CE(retain)

p_ref is the frozen fine-tuned model (the teacher). The student moves away from the
teacher on the forget set and stays with it on the retain set. As in the original,
max steps happen only during the first ``max_phase_steps`` optimiser steps (None: the
whole run), one every ``max_every`` steps (the first step is a max step); every other
step is a min step.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from fiubench.errors import ConfigError
from fiubench.methods.base import MethodContext, MethodOptions, UnlearnBatch, UnlearningMethod
from fiubench.methods.registry import register_method
from fiubench.methods.terms import answer_kl, nll


@dataclass
class SCRUBOptions(MethodOptions):
    alpha: float = 1.0  # retain KL weight (min steps)
    gamma: float = 1.0  # retain CE weight (min steps)
    forget_weight: float = 1.0  # forget KL weight (max steps)
    max_every: int = 2  # one max step every this many steps
    max_phase_steps: int | None = None  # max steps only before this step (None: always)


@register_method
class SCRUB(UnlearningMethod):
    name = "scrub"
    description = "alternating: maximise KL to the teacher on forget, minimise KL + CE on retain"
    paper = "Kurmanji et al. 2023, Towards Unbounded Machine Unlearning, NeurIPS 2023, arXiv 2302.09880"
    Options = SCRUBOptions
    needs_reference = True

    phase: str = "max"

    def setup(self, vlm: object, seed: int) -> None:
        o: SCRUBOptions = self.options  # type: ignore[assignment]
        if o.max_every < 1:
            raise ConfigError(f"method scrub option max_every={o.max_every}: must be >= 1")

    def phase_of(self, step: int) -> str:
        o: SCRUBOptions = self.options  # type: ignore[assignment]
        in_max_phase = o.max_phase_steps is None or step < o.max_phase_steps
        return "max" if in_max_phase and step % max(1, o.max_every) == 0 else "min"

    def begin_step(self, step: int) -> None:
        self.phase = self.phase_of(step)

    def compute_loss(
        self, ctx: MethodContext, forget: UnlearnBatch, retain: UnlearnBatch
    ) -> tuple[torch.Tensor, dict[str, float]]:
        o: SCRUBOptions = self.options  # type: ignore[assignment]
        if self.phase == "max":
            labels = forget.inputs["labels"]
            kl = answer_kl(ctx.ref_logits(forget.inputs), ctx.logits(forget.inputs), labels)
            return -o.forget_weight * kl, {"forget_kl": kl.item(), "max_step": 1.0}
        labels = retain.inputs["labels"]
        logits = ctx.logits(retain.inputs)
        kl = answer_kl(ctx.ref_logits(retain.inputs), logits, labels)
        ce = nll(logits, labels)
        loss = o.alpha * kl + o.gamma * ce
        return loss, {"retain_kl": kl.item(), "retain_nll": ce.item(), "max_step": 0.0}
