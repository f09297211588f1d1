"""Task-vector negation (Ilharco et al. 2023, "Editing Models with Task Arithmetic", ICLR 2023,
arXiv 2212.04089).

    theta_unlearned = theta_ft - alpha * (theta_forget - theta_ft)

theta_ft is the fine-tuned model, theta_forget the same model fine-tuned further on
the forget set (CE descent on the forget answers); their difference is the forget
"task vector", subtracted alpha times.

Implemented so that every checkpoint *is* the negated model: the trained weights are
theta = theta_unlearned, and each step evaluates the further-fine-tuning loss at the
weights it implies,

    phi(theta) = theta_ft + (theta_ft - theta) / alpha
    L = CE_phi(forget) + w_r * CE_theta(retain)

so a step that lowers CE at phi moves theta the opposite way: exactly the negation,
with phi fine-tuned at an effective learning rate of lr / alpha (Adam is invariant to
the 1/alpha scale of the gradient). ``retain_weight`` > 0 adds a retain term on the
negated model itself (not in the original). Single process only (the loss forwards
through ``torch.func.functional_call``, outside DDP's gradient sync).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

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
from fiubench.methods.terms import nll


@dataclass
class TaskVectorOptions(MethodOptions):
    alpha: float = option(1.0, "Ilharco et al. 2023 Sec. 3 (negation, lambda; 1.0 = the plain negated vector; "
                               "the paper picks lambda on held-out validation)")
    retain_weight: float = option(0.0, "Ilharco et al. 2023 Sec. 3 (negation has no retain term)")


def negate(theta_ft: torch.Tensor, theta_forget: torch.Tensor, alpha: float) -> torch.Tensor:
    """theta_ft - alpha * (theta_forget - theta_ft)."""
    return theta_ft - alpha * (theta_forget - theta_ft)


def implied_forget_weights(theta_ft: torch.Tensor, theta: torch.Tensor, alpha: float) -> torch.Tensor:
    """phi with negate(theta_ft, phi, alpha) == theta: theta_ft + (theta_ft - theta) / alpha."""
    return theta_ft + (theta_ft - theta) / alpha


@register_method
class TaskVector(UnlearningMethod):
    name = "taskvector"
    description = "subtract alpha x the task vector of further fine-tuning on the forget set"
    paper = "Ilharco et al. 2023, Editing Models with Task Arithmetic, ICLR 2023, arXiv 2212.04089"
    reference = "Ilharco et al. 2023 Sec. 3 (mlfoundations/task_vectors)"
    deviations = (
        "the forget fine-tuning and the negation happen in one run: every step trains the implied "
        "fine-tuned weights phi at an effective learning rate lr / alpha, so checkpoints are negated models "
        "(the paper fine-tunes first, then subtracts once); lambda is not selected on validation by default",
    )
    Options = TaskVectorOptions

    def __init__(self, options: MethodOptions | None = None) -> None:
        super().__init__(options)
        self.start: dict[str, torch.Tensor] = {}

    def setup(self, vlm: Any, seed: int) -> None:
        o: TaskVectorOptions = self.options  # type: ignore[assignment]
        if not o.alpha > 0:
            raise ConfigError(f"method taskvector option alpha={o.alpha}: must be > 0")
        if torch.distributed.is_available() and torch.distributed.is_initialized() \
                and torch.distributed.get_world_size() > 1:
            raise ConfigError("method taskvector: runs in a single process only")
        # Called before any resume state loads: always the fine-tuned weights.
        self.start = {n: p.detach().clone() for n, p in vlm.model.named_parameters() if p.requires_grad}

    def forget_logits(self, ctx: MethodContext, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
        """Logits of the implied further-fine-tuned model phi(theta) (gradient flows to theta)."""
        o: TaskVectorOptions = self.options  # type: ignore[assignment]
        model = ctx.vlm.model
        phi = {n: implied_forget_weights(self.start[n], p, o.alpha)
               for n, p in model.named_parameters() if n in self.start}
        kwargs: dict[str, Any] = {k: v for k, v in inputs.items() if k != "labels"}
        kwargs["use_cache"] = False
        out = torch.func.functional_call(model, phi, args=(), kwargs=kwargs)
        return out.logits if hasattr(out, "logits") else out

    def compute_loss(
        self, ctx: MethodContext, forget: UnlearnBatch, retain: UnlearnBatch
    ) -> tuple[torch.Tensor, dict[str, float]]:
        o: TaskVectorOptions = self.options  # type: ignore[assignment]
        if not self.start:
            raise RuntimeError("TaskVector.setup() was not called")
        f_nll = nll(self.forget_logits(ctx, forget.inputs), forget.inputs["labels"])
        loss = f_nll
        logs = {"forget_ft_nll": f_nll.item()}
        if o.retain_weight:
            r_nll = nll(ctx.logits(retain.inputs), retain.inputs["labels"])
            loss = loss + o.retain_weight * r_nll
            logs["retain_nll"] = r_nll.item()
        return loss, logs
