"""Typed configs of stage 1 (learn) and stage 2 (unlearn), and their presets.

Every option is a documented dataclass field; ``fiubench.utils.config.from_dict``
binds YAML/CLI mappings to them and ``validate()`` runs before any weights load.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from fiubench.errors import ConfigError
from fiubench.models.config import ModelConfig
from fiubench.utils.registry import did_you_mean

REPORTERS = ("tensorboard", "wandb")
_F32_MAX = 3.4e38


@dataclass
class TrainConfig:
    """The optimisation loop shared by both stages.

    ``batch_size`` is per process and micro-batch; one optimiser step sees
    ``batch_size * grad_accum * world_size`` samples (the global batch).
    """

    epochs: int = 80
    max_steps: int | None = None  # stop after this many optimiser steps (overrides epochs)
    lr: float = 1e-3
    batch_size: int = 16
    grad_accum: int = 1
    weight_decay: float = 0.01  # AdamW, decoupled (Loshchilov & Hutter 2019)
    betas: tuple[float, float] = (0.9, 0.98)
    eps: float = 1e-8
    scheduler: Literal["cosine", "linear", "constant"] = "cosine"
    warmup_ratio: float = 0.05  # linear warm-up over this fraction of the steps
    max_grad_norm: float | None = 1.0  # None: no clipping (the norm is still logged)
    mixed_precision: Literal["no", "bf16", "fp16"] = "no"
    seed: int = 0
    save_every: int | None = None  # optimiser steps between checkpoints; None: once per epoch
    save_total_limit: int | None = 1  # keep the last N checkpoints (None: all)
    report_to: list[str] = field(default_factory=list)  # "tensorboard", "wandb"
    progress: bool = True  # tqdm bar on the main process
    # Compute a frozen vision tower's features once per distinct image and reuse them
    # (fiubench.models.features; LLaVA families, a no-op elsewhere). Same loss to
    # float tolerance; False recomputes the tower on every step.
    cache_vision_features: bool = True

    def validate(self, where: str = "train") -> None:
        for name in ("epochs", "batch_size", "grad_accum"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{where}.{name}: must be >= 1, got {getattr(self, name)}")
        if self.max_steps is not None and self.max_steps < 1:
            raise ConfigError(f"{where}.max_steps: must be >= 1, got {self.max_steps}")
        for name in ("lr", "eps"):
            v = getattr(self, name)
            if not (math.isfinite(v) and 0 < v < _F32_MAX):  # the optimiser computes in float32
                raise ConfigError(f"{where}.{name}: must be a finite number > 0, got {v}")
        if not (math.isfinite(self.weight_decay) and self.weight_decay >= 0):
            raise ConfigError(f"{where}.weight_decay: must be a finite number >= 0, got {self.weight_decay}")
        if self.max_grad_norm is not None and not (math.isfinite(self.max_grad_norm) and self.max_grad_norm > 0):
            raise ConfigError(f"{where}.max_grad_norm: must be a finite number > 0 or null, got {self.max_grad_norm}")
        if not all(math.isfinite(b) and 0.0 <= b < 1.0 for b in self.betas):
            raise ConfigError(f"{where}.betas: each must be in [0, 1), got {list(self.betas)}")
        if not 0.0 <= self.warmup_ratio < 1.0:
            raise ConfigError(f"{where}.warmup_ratio: must be in [0, 1), got {self.warmup_ratio}")
        if self.save_every is not None and self.save_every < 1:
            raise ConfigError(f"{where}.save_every: must be >= 1, got {self.save_every}")
        if self.save_total_limit is not None and self.save_total_limit < 1:
            raise ConfigError(f"{where}.save_total_limit: must be >= 1, got {self.save_total_limit}")
        for r in self.report_to:
            if r not in REPORTERS:
                raise ConfigError(
                    f"{where}.report_to: unknown {r!r}.{did_you_mean(r, REPORTERS)} "
                    f"Known: {', '.join(REPORTERS)}."
                )
            mods = ("tensorboard", "tensorboardX") if r == "tensorboard" else ("wandb",)
            if not any(importlib.util.find_spec(m) for m in mods):
                raise ConfigError(f"{where}.report_to: {r} asked but not installed (pip install {mods[0]})")


# Stage-1 presets. "tiny": measured to make the ~1M-parameter embedded VLM memorise
# 40 people x 5 QA (EM 0.99); "paper": the FIUBench recipe for LLaVA-Phi-3-mini.
LEARN_PRESETS: dict[str, dict[str, Any]] = {
    "tiny": dict(epochs=80, lr=1e-3, batch_size=16, betas=(0.9, 0.98), warmup_ratio=0.05,
                 max_grad_norm=1.0, mixed_precision="no"),
    "paper": dict(epochs=10, lr=2e-5, batch_size=16, betas=(0.9, 0.999), warmup_ratio=0.05,
                  max_grad_norm=1.0, mixed_precision="bf16", weight_decay=0.01),
}

# Stage-2 defaults: a few epochs at a small learning rate, a checkpoint every 6
# optimiser steps (the paper's curve resolution), every checkpoint kept.
UNLEARN_DEFAULTS: dict[str, Any] = dict(
    epochs=5, lr=2e-4, batch_size=8, betas=(0.9, 0.999), warmup_ratio=0.0, save_every=6,
)


def train_preset(name: str, **overrides: Any) -> TrainConfig:
    """A stage-1 TrainConfig from preset ``name`` with ``overrides`` applied."""
    if name not in LEARN_PRESETS:
        raise ConfigError(
            f"preset: unknown {name!r}.{did_you_mean(name, list(LEARN_PRESETS))} "
            f"Known: {', '.join(LEARN_PRESETS)}."
        )
    return dataclasses.replace(TrainConfig(), **{**LEARN_PRESETS[name], **overrides})


def _learn_train() -> TrainConfig:
    return train_preset("tiny")


@dataclass
class UnlearnTrainConfig(TrainConfig):
    """TrainConfig with the stage-2 defaults (``UNLEARN_DEFAULTS``), so that a partial
    ``train:`` mapping in a YAML file keeps them."""

    epochs: int = 5
    lr: float = 2e-4
    batch_size: int = 8
    betas: tuple[float, float] = (0.9, 0.999)
    warmup_ratio: float = 0.0
    save_every: int | None = 6
    save_total_limit: int | None = None  # every checkpoint kept: utility-vs-forget curves


def check_visual_options(replay: int, keep: int, keep_weight: float, keep_captions: int, where: str,
                         keep_open: int | None = None, keep_faces: int | None = None) -> None:
    """Stage 1's visual replay and keep options (``LearnConfig`` and the run's ``learn:``)."""
    if replay < 0:
        raise ConfigError(f"{where}.visual_replay: must be >= 0, got {replay}")
    if keep < 0:
        raise ConfigError(f"{where}.visual_keep: must be >= 0, got {keep}")
    if not keep_weight > 0:
        raise ConfigError(f"{where}.visual_keep_weight: must be > 0, got {keep_weight}")
    if keep_captions < 0:
        raise ConfigError(f"{where}.visual_keep_captions: must be >= 0, got {keep_captions}")
    if keep_captions and not keep:
        raise ConfigError(f"{where}.visual_keep_captions: needs visual_keep > 0 (the descriptions ride on its "
                          f"step), got visual_keep_captions={keep_captions} with visual_keep=0")
    if keep_open is not None and keep_open < 0:
        raise ConfigError(f"{where}.visual_keep_open: must be >= 0 or null, got {keep_open}")
    if keep_open is not None and not keep:
        raise ConfigError(f"{where}.visual_keep_open: needs visual_keep > 0 (the open questions ride on its "
                          f"step), got visual_keep_open={keep_open} with visual_keep=0")
    if keep_faces is not None and keep_faces < 1:
        raise ConfigError(f"{where}.visual_keep_faces: must be >= 1 or null, got {keep_faces}")
    if keep_faces is not None and not keep:
        raise ConfigError(f"{where}.visual_keep_faces: needs visual_keep > 0 (the faces are its pool), "
                          f"got visual_keep_faces={keep_faces} with visual_keep=0")


def check_phrasings(n: int, where: str) -> None:
    """``learn.train_phrasings`` (``LearnConfig`` and the run's ``learn:``)."""
    from fiubench.data.phrasings import MAX_PHRASINGS

    if isinstance(n, bool) or not isinstance(n, int) or not 0 <= n <= MAX_PHRASINGS:
        raise ConfigError(f"{where}.train_phrasings: must be an integer in [0, {MAX_PHRASINGS}] "
                          f"(the training pool's phrasings per field), got {n!r}")


@dataclass
class LearnConfig:
    """Stage 1: supervised fine-tuning on answer tokens of split ``split``.

    ``split="full"`` gives the fine-tuned model, ``split="retain"`` the retain model
    (the gold standard of forgetting).
    """

    data: Path
    out: Path
    model: ModelConfig = field(default_factory=ModelConfig)
    split: str = "full"
    train: TrainConfig = field(default_factory=_learn_train)
    # Visual replay: this many visual-attribute QA about procedural faces from the base
    # model's own pool (never benchmark identities) are mixed into stage 1, identical for
    # the fine-tuned and the retain model. A tiny VLM fine-tuned on identity QA alone
    # forgets how to answer visual questions at all (catastrophic forgetting), which would
    # make visual accuracy meaningless; real pretrained VLMs need 0.
    visual_replay: int = 0
    # Visual keep (fiubench.tiny.keep): this many yes/no questions about procedural
    # faces, with their text twins, trained each step under the base's stage-C loss,
    # weighted visual_keep_weight. 0: off (real VLMs need none).
    visual_keep: int = 0
    visual_keep_weight: float = 1.0
    # ... and this many dense descriptions of the same faces per step (the base's stage-B
    # reading replayed, as ``--distil-caption-fraction`` does in stage C). 0: none.
    visual_keep_captions: int = 0
    # ... and this many open questions (stage C's CE on the image only) per step; None:
    # a third of visual_keep, at least 1.
    visual_keep_open: int | None = None
    # ... drawn from a pool of this many procedural faces; None: 200
    # (fiubench.tiny.keep.KEEP_FACES).
    visual_keep_faces: int | None = None
    # Train each QA under this many extra question phrasings from a pool no evaluation
    # question or paraphrase is drawn from (fiubench.data.phrasings), so that the model
    # learns the fact, not one wording (APE). 0: off; needs each QA's profile field
    # (refused on the official release).
    train_phrasings: int = 0

    def validate(self, where: str = "learn") -> None:
        self.model.validate()
        self.model.check_trainable("learn.model")
        self.train.validate(f"{where}.train")
        check_phrasings(self.train_phrasings, where)
        check_visual_options(self.visual_replay, self.visual_keep, self.visual_keep_weight,
                             self.visual_keep_captions, where, self.visual_keep_open, self.visual_keep_faces)


@dataclass
class UnlearnConfig:
    """Stage 2: run ``method`` on split ``forget`` from the fine-tuned model.

    Each optimiser step pairs a forget batch with a retain batch (from ``retain``)
    drawn deterministically from the seed. Early stop: the run ends once the step
    loss falls below ``loss_threshold`` (None: the method's default, -20 for GA/GD/KL
    as in the paper); ``early_stop=False`` disables it.
    """

    model: ModelConfig
    data: Path
    out: Path
    method: str = "ga"
    method_options: dict[str, Any] = field(default_factory=dict)
    forget: str = "forget5"
    retain: str = "retain"
    early_stop: bool = True
    loss_threshold: float | None = None
    train: UnlearnTrainConfig = field(default_factory=UnlearnTrainConfig)
    # The frozen reference of KL, NPO, RMU...: "auto" uses the trained model with its
    # LoRA adapter disabled when that *is* the fine-tuned model (a fresh adapter, nothing
    # outside it trains), a second loaded copy otherwise; "copy" always loads the copy.
    reference: Literal["auto", "copy"] = "auto"

    def validate(self, where: str = "unlearn") -> None:
        from fiubench.methods import build_method

        if self.reference not in ("auto", "copy"):
            raise ConfigError(f"unlearn.reference: must be 'auto' or 'copy', got {self.reference!r}")
        self.model.validate()
        self.model.check_trainable("unlearn.model")
        self.train.validate(f"{where}.train")
        if self.loss_threshold is not None and not math.isfinite(self.loss_threshold):
            raise ConfigError(f"{where}.loss_threshold: must be a finite number or null, got {self.loss_threshold}")
        build_method(self.method, self.method_options)  # unknown name/option: did-you-mean


def resume_key(cfg: Any) -> dict[str, Any]:
    """The part of a config that must match to resume a run (not logging/UI fields)."""
    from fiubench.utils.provenance import to_jsonable

    d = to_jsonable(cfg)
    for k in ("report_to", "progress"):
        d["train"].pop(k, None)
    d.pop("out", None)
    if not d.get("train_phrasings"):  # off: stage-1 runs from before the option still resume
        d.pop("train_phrasings", None)
    # Content, not location: a run directory moved elsewhere (with the dataset and the
    # fine-tuned model it reads, as inside a `fiubench run` directory) still resumes.
    if isinstance(d.get("data"), str) and d["data"]:
        d["data"] = _content_id(Path(d["data"]), ("full.json", "split.json", "prompt.json"))
    model = d.get("model")
    if not isinstance(model, dict):  # other jobs (attacks) record the model their own way
        return d
    src = Path(str(model.get("name_or_path", "")))
    if model.get("name_or_path") not in (None, "", "tiny") and src.is_dir():
        from fiubench.models.vlm import weights_fingerprint

        model["name_or_path"] = {"weights": weights_fingerprint(src)}
    return d


def _content_id(root: Path, names: tuple[str, ...]) -> Any:
    from fiubench.utils.provenance import file_sha256

    if not root.is_dir():
        return str(root)
    return {"files": {n: file_sha256(root / n) for n in names if (root / n).is_file()}}


