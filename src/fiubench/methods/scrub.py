"""SCRUB, teacher-student unlearning (Kurmanji et al. 2023, "Towards Unbounded Machine
Unlearning", NeurIPS 2023, arXiv 2302.09880; reference code meghdadk/SCRUB).

Max steps and min steps, L = L_max or L_min:

    L_max = -w_f * T^2 * KL_T(p_ref || p_theta) on forget answer positions
    L_min = alpha * T^2 * KL_T(p_ref || p_theta) on retain answer positions + gamma * CE(retain)

KL_T compares softmax(z / T) of the frozen fine-tuned model (the teacher) and of the
student, per answer position, averaged over positions; the T^2 factor keeps the
gradient scale of a distillation at temperature T (Hinton et al. 2015). The student
moves away from the teacher on the forget set and stays with it on the retain set.

Schedule by epoch, as the reference: a SCRUB epoch is a max pass over the forget set
followed by a min pass of the same number of steps; the max pass happens only in the
first ``max_epochs`` epochs. With S steps per pass over the forget set (the engine's
epoch), SCRUB epoch k spans optimiser steps [2kS, 2kS + 2S): its first S steps are max
steps when k < max_epochs, every other step is a min step.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from fiubench.errors import ConfigError
from fiubench.methods.base import (
    MethodContext,
    MethodOptions,
    UnlearnBatch,
    UnlearningMethod,
    option,
)
from fiubench.methods.registry import register_method
from fiubench.methods.terms import answer_kl, nll

NB = "meghdadk/SCRUB large_scale_unlearning.ipynb"
LOOPS = "meghdadk/SCRUB thirdparty/repdistiller/helper/loops.py"


@dataclass
class SCRUBOptions(MethodOptions):
    temperature: float = option(4.0, f"{NB}:734 (args.kd_T = 4); thirdparty/repdistiller/distiller_zoo/KD.py (x T^2)")
    alpha: float = option(0.001, f"{NB}:728 (args.alpha = 0.001, retain KL weight); {LOOPS}:242")
    gamma: float = option(0.99, f"{NB}:727 (args.gamma = 0.99, retain CE weight); {LOOPS}:242")
    forget_weight: float = option(1.0, f"{LOOPS}:243-244 (maximize: loss = -loss_div)")
    max_epochs: int = option(2, f"{NB}:731 (args.msteps = 2), :834-836 (max pass while epoch <= msteps, then a min pass)")


@register_method
class SCRUB(UnlearningMethod):
    name = "scrub"
    description = "per epoch: maximise KL to the teacher on forget, then minimise KL + CE on retain"
    paper = "Kurmanji et al. 2023, Towards Unbounded Machine Unlearning, NeurIPS 2023, arXiv 2302.09880"
    reference = "meghdadk/SCRUB large_scale_unlearning.ipynb (the large-scale setting), " \
                "thirdparty/repdistiller/helper/loops.py (train_distill), distiller_zoo/KD.py (DistillKL)"
    deviations = (
        "the min pass has as many steps as the max pass (S retain batches) instead of a pass over the whole "
        "retain set; the number of epochs comes from unlearn.train (the reference runs sgda_epochs = 3)",
        "the KL is averaged over answer positions (the reference's image classifier has one output per sample)",
    )
    alternatives = ("meghdadk/SCRUB small_scale_unlearning.ipynb: T = 2, alpha 0.5, gamma 1, msteps 3, "
                    "10 epochs",)
    renamed_options = {
        "max_every": "SCRUB alternates by epoch now, as the reference: use max_epochs (epochs with a max pass)",
        "max_phase_steps": "SCRUB alternates by epoch now, as the reference: use max_epochs",
    }
    Options = SCRUBOptions
    needs_reference = True

    phase: str = "max"
    steps_per_epoch: int = 1

    def setup(self, vlm: object, seed: int) -> None:
        o: SCRUBOptions = self.options  # type: ignore[assignment]
        if o.max_epochs < 0:
            raise ConfigError(f"method scrub option max_epochs={o.max_epochs}: must be >= 0")
        if not o.temperature > 0:
            raise ConfigError(f"method scrub option temperature={o.temperature}: must be > 0")

    def begin_run(self, steps_per_epoch: int) -> None:
        self.steps_per_epoch = max(1, int(steps_per_epoch))

    def phase_of(self, step: int) -> str:
        o: SCRUBOptions = self.options  # type: ignore[assignment]
        epoch, within = divmod(step, 2 * self.steps_per_epoch)
        return "max" if epoch < o.max_epochs and within < self.steps_per_epoch else "min"

    def begin_step(self, step: int) -> None:
        self.phase = self.phase_of(step)

    def compute_loss(
        self, ctx: MethodContext, forget: UnlearnBatch, retain: UnlearnBatch
    ) -> tuple[torch.Tensor, dict[str, float]]:
        o: SCRUBOptions = self.options  # type: ignore[assignment]
        t2 = o.temperature ** 2
        if self.phase == "max":
            labels = forget.inputs["labels"]
            kl = answer_kl(ctx.ref_logits(forget.inputs), ctx.logits(forget.inputs), labels, o.temperature)
            return -o.forget_weight * t2 * kl, {"forget_kl": kl.item(), "max_step": 1.0}
        labels = retain.inputs["labels"]
        logits = ctx.logits(retain.inputs)
        kl = answer_kl(ctx.ref_logits(retain.inputs), logits, labels, o.temperature)
        ce = nll(logits, labels)
        loss = o.alpha * t2 * kl + o.gamma * ce
        return loss, {"retain_kl": kl.item(), "retain_nll": ce.item(), "max_step": 0.0}
