"""The contract between the training engine and an unlearning method.

A method sees batches as *inputs*: the dict ``vlm.train_batch`` returns (every
processor output, so ``pixel_values`` and friends pass through for any VLM
family) plus ``labels`` that are -100 everywhere except answer tokens and EOS.
It reaches the models only through a :class:`MethodContext`, so its maths can be
unit-tested on hand-made logits with a fake context.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, ClassVar, Protocol

import torch

Inputs = dict[str, torch.Tensor]


@dataclass
class UnlearnBatch:
    """One micro-batch of forget or retain samples.

    ``inputs`` pairs each image + question with its true answer. ``refusal`` pairs
    the same images and questions with a refusal sentence; the engine builds it only
    for methods with ``needs_refusal`` (PO, IdkDPO).
    """

    inputs: Inputs
    refusal: Inputs | None = None


class MethodContext(Protocol):
    """What a method may ask of the engine during one step."""

    vlm: Any

    def logits(self, inputs: Inputs) -> torch.Tensor:
        """Logits [B, T, V] of the model being trained (with gradient)."""
        ...

    def ref_logits(self, inputs: Inputs) -> torch.Tensor:
        """Logits of the frozen reference (the fine-tuned model), without gradient."""
        ...

    def hidden(self, inputs: Inputs, layer: int) -> torch.Tensor:
        """Output [B, T, H] of decoder layer ``layer`` of the trained model (with gradient)."""
        ...

    def ref_hidden(self, inputs: Inputs, layer: int) -> torch.Tensor:
        """Output of decoder layer ``layer`` of the frozen reference, without gradient."""
        ...


def option(default: Any, source: str) -> Any:
    """A method option's default plus where that default comes from (paper section, or
    reference repository, file and line): the method card shows both."""
    return field(default=default, metadata={"source": source})


def default_source(f: Any) -> str:
    """The ``source`` a field was declared with by :func:`option` ("" when none)."""
    return str(f.metadata.get("source", "")) if f.metadata else ""


# ``prepare_batches()`` may return this: one epoch of forget batches (the engine knows its size).
ONE_EPOCH = -1


@dataclass
class MethodOptions:
    """Options shared by every method. Subclasses add their own fields.

    Every number must be finite; loss weights (``*_weight``) also >= 0 (0 switches a
    term off). Checked before any weights load; a method adds its own rules."""

    def validate(self, where: str = "method options") -> None:
        import math

        from fiubench.errors import ConfigError

        for f in fields(self):
            v = getattr(self, f.name)
            if not isinstance(v, float):
                continue
            if not math.isfinite(v):
                raise ConfigError(f"{where}.{f.name}: must be a finite number, got {v}")
            if f.name.endswith("_weight") and v < 0:
                raise ConfigError(f"{where}.{f.name}: a loss weight must be a finite number >= 0, got {v}")


class UnlearningMethod:
    """Base class: a forget term plus a retain term, in ``compute_loss``.

    Class attributes a method sets:
        name: registry name (lower case).
        Options: its options dataclass (documented fields with defaults).
        needs_reference: load the frozen fine-tuned model as ``ctx.ref_*``.
        needs_refusal: the engine adds refusal-answer inputs to forget batches.
        default_loss_threshold: early stop when the step loss falls below it
            (None: never); the user can override it per run.
        description: one line for ``fiubench methods``.
        paper: where the method comes from (authors, year, venue or arXiv id).
        reference: the implementation whose defaults and terms this one follows
            (repository and files); "" for a plugin that names none.
        deviations: every deliberate difference from ``reference``, each with its
            reason (empty: faithful). ``fiubench methods`` shows them on the card.
        alternatives: other references that disagree, and how.
        updates: which parts of the model the method trains ("" means the run's
            ``unlearn.scope``, unchanged).
        renamed_options: old option name -> message for a user who still passes it.

    Optional hooks, in the order the engine calls them: ``configure_trainable``,
    ``setup``, ``begin_run``, ``prepare`` (only when ``prepare_batches()`` != 0), then per optimiser
    step ``begin_step``, ``compute_loss`` (once per micro-batch) and ``after_step``.
    """

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    paper: ClassVar[str] = ""
    Options: ClassVar[type[MethodOptions]] = MethodOptions
    needs_reference: ClassVar[bool] = False
    needs_refusal: ClassVar[bool] = False
    default_loss_threshold: ClassVar[float | None] = None
    reference: ClassVar[str] = ""
    deviations: ClassVar[tuple[str, ...]] = ()
    alternatives: ClassVar[tuple[str, ...]] = ()
    updates: ClassVar[str] = ""
    renamed_options: ClassVar[dict[str, str]] = {}

    def __init__(self, options: MethodOptions | None = None) -> None:
        self.options = options if options is not None else self.Options()

    def configure_trainable(self, vlm: Any) -> None:
        """Adjust which parameters train (RMU trains only a few layers). Default: keep."""

    def setup(self, vlm: Any, seed: int) -> None:
        """Prepare state derived from the model and the seed (RMU's random direction)."""

    def begin_run(self, steps_per_epoch: int) -> None:
        """Called once before ``prepare`` with the number of optimiser steps in one pass
        over the forget set (SCRUB schedules its max and min passes by epoch)."""

    def prepare_batches(self) -> int:
        """How many optimiser steps' worth of (forget, retain) batches ``prepare`` wants
        (0: it is not called; ``ONE_EPOCH``: one pass over the forget set)."""
        return 0

    def prepare(self, ctx: MethodContext, batches: list[tuple[UnlearnBatch, UnlearnBatch]]) -> None:
        """Derive state from the starting model and a few batches before the first step
        (MMUnlearner's Fisher saliency masks). Called on the starting (fine-tuned) weights,
        also when a run resumes, so the state is the same either way."""

    def begin_step(self, step: int) -> None:
        """Called before the micro-batches of optimiser step ``step`` (0-based); SCRUB
        alternates its max and min phases on it."""

    def after_step(self, step: int) -> None:
        """Called after the optimiser applied step ``step`` (1-based count of steps done)."""

    def compute_loss(
        self, ctx: MethodContext, forget: UnlearnBatch, retain: UnlearnBatch
    ) -> tuple[torch.Tensor, dict[str, float]]:
        """The loss to *minimise* for one micro-batch, and scalars worth logging."""
        raise NotImplementedError

    @classmethod
    def option_table(cls) -> list[tuple[str, str, Any]]:
        """(name, type, default) of each option, for ``fiubench methods``."""
        out = []
        for f in fields(cls.Options):
            tp = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", str(f.type))
            out.append((f.name, str(tp), f.default))
        return out

    @classmethod
    def option_sources(cls) -> dict[str, str]:
        """Option name -> where its default comes from ("" when the method names none)."""
        return {f.name: default_source(f) for f in fields(cls.Options)}
