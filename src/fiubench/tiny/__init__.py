"""The embedded tiny VLM: a package of its own, and the one interface the rest uses.

The tiny base (~1 M-parameter LLaVA, 64 px faces; ``fiubench.tiny.model``) stands in
for a pretrained VLM so the benchmark runs on a CPU. Its construction lives here and
nowhere else: the base build (``build``: stages A and B in ``stages``, stage C in
``distil``, its report in ``evaluate``), the procedural faces of its own seed space
(``pools``) and the visual-keep term that replays stage C in stage 1 (``keep``). Its
weights ship in ``fiubench/assets/tiny`` and load by family name like any checkpoint
(``ModelConfig("tiny")``, ``fiubench.models.loading``); models/ never imports this
package.

Interface (what cli, pipeline, tests and scripts import):

- ``BaseBuildConfig``, ``build_base(cfg, out)``: (re)train a tiny base;
  ``base_dir()`` / ``load_base()``: the shipped one.
- ``procedural_pool(seed, split, n)``: (face, visual QA, attributes) that are never a
  benchmark person; ``visual_replay(n, seed)``: stage 1's replayed QA about them.
- ``training_terms(cfg)``: the training terms a ``LearnConfig`` asks for (the visual
  keep), handed to ``fiubench.train.learn(cfg, terms=...)``.

Why injected and not registered: a registry in train/ that tiny joins would need tiny
(a models-level package) to import train/, against the layer order. So the layer that
composes a run (pipeline, the ``learn`` command) imports both and hands tiny's term
factories to train/, which knows only the ``TrainingTerm`` protocol
(``fiubench.train.terms``). train/, eval/, methods/ and attacks/ import none of the
construction modules; attacks use ``procedural_pool`` through this interface only.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from fiubench.tiny.config import BaseBuildConfig
from fiubench.tiny.pools import procedural_pool, visual_replay

__all__ = ["BaseBuildConfig", "base_dir", "build_base", "load_base", "procedural_pool", "training_terms",
           "visual_replay"]


def base_dir() -> Path:
    """Where the shipped tiny base lives (package data; its fingerprint enters cache keys)."""
    from fiubench.models.loading import tiny_base_dir

    return tiny_base_dir()


def load_base(**model_options: Any) -> Any:
    """The shipped tiny base as a ``VLM`` (``model_options``: further ``ModelConfig`` fields)."""
    from fiubench.models import ModelConfig, load_vlm

    return load_vlm(ModelConfig(name_or_path="tiny", **model_options))


def build_base(cfg: BaseBuildConfig, out: Path, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Train a tiny base from scratch (or ``cfg.init``) into ``out``; return its metrics."""
    from fiubench.tiny.build import train_base

    return train_base(cfg, out, log)


def training_terms(cfg: Any) -> dict[str, Callable[[Any], Any]]:
    """The training terms ``cfg`` (a ``LearnConfig``) asks for, as factories vlm -> term.

    ``visual_keep > 0``: the visual keep (``fiubench.tiny.keep.VisualKeep``); else none.
    """
    if not cfg.visual_keep:
        return {}

    def visual_keep(vlm: Any) -> Any:
        from fiubench.tiny.keep import VisualKeep

        return VisualKeep(vlm, cfg.visual_keep, cfg.visual_keep_weight, cfg.train.seed, cfg.visual_keep_captions,
                          cfg.visual_keep_open, cfg.visual_keep_faces)

    return {"visual_keep": visual_keep}
