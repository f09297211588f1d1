"""Training terms: what a layer above adds to stage 1's loss, without train/ knowing it.

A *training term* is a regulariser over the model being trained, added once per
optimiser step beside the SFT loss:

    L_step = L_SFT + sum_k term_k.loss(model, step)

It is built on the loaded model (``TermFactory``: vlm -> term) and must be
deterministic in (its seed, ``step``), so a resumed run adds the same loss. The engine
depends only on this protocol; whoever composes a run (``fiubench.pipeline``, the
``fiubench learn`` command, a test) supplies the factories, keyed by the name of the
``LearnConfig`` option that asks for them, e.g. ``fiubench.tiny.training_terms(cfg)``
for the tiny base's visual keep. The dependency runs one way, caller -> train and
caller -> tiny: train/ never imports a term's implementation, and a run whose config
asks for a term nobody supplied stops before any weights load (``check_terms``).

Stage 1's *visual replay* (extra QA about procedural faces) is supplied the same way:
a ``ReplaySource`` (n, seed) -> (triples, pseudo path -> image).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Protocol

import torch

from fiubench.errors import ConfigError


class TrainingTerm(Protocol):
    def loss(self, model: Any, step: int) -> tuple[torch.Tensor, dict[str, float]]:
        """The weighted term for optimiser step ``step`` and scalars worth logging."""
        ...


TermFactory = Callable[[Any], TrainingTerm]
ReplaySource = Callable[[int, int], tuple[list[tuple[Path, str, str]], dict[Path, Any]]]

# LearnConfig option -> the term it asks for (on when the option is > 0)
TERM_OPTIONS = {"visual_keep": "visual_keep"}


def check_terms(cfg: Any, terms: Mapping[str, TermFactory], replay: ReplaySource | None) -> None:
    """Every term and the replay the config asks for was supplied by the caller."""
    for option, name in TERM_OPTIONS.items():
        if getattr(cfg, option) and name not in terms:
            raise ConfigError(
                f"learn.{option}: {getattr(cfg, option)} asks for the training term {name!r}, which the caller "
                f"must supply (learn(cfg, terms=fiubench.tiny.training_terms(cfg)))")
    if cfg.visual_replay and replay is None:
        raise ConfigError(
            f"learn.visual_replay: {cfg.visual_replay} asks for replayed QA, which the caller must supply "
            f"(learn(cfg, replay=fiubench.tiny.visual_replay))")
