"""Options of the tiny base build (``fiubench base build``), checked before any weights load."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from fiubench.errors import ConfigError


@dataclass
class BaseBuildConfig:
    """Options of ``fiubench base build``."""

    seed: int = 0
    steps: int = 700
    batch_size: int = 32
    lr: float = 1e-3
    warmup_fraction: float = 0.05
    n_faces: int = 800  # training pool of procedural faces
    n_eval_faces: int = 50  # unseen faces for the visual accuracy
    n_identity_people: int = 20  # benchmark identities for the identity check
    lm_hidden: int = 128
    lm_layers: int = 2
    # Attention heads per language-model layer. Each head reads the image tokens through
    # one weighting; a shape spread over several patches needs several (base_probe.py).
    lm_heads: int = 4
    vision_hidden: int = 64
    vision_layers: int = 2
    # The tower's patch size in pixels (64 px images): 16 gives the language model 16
    # image tokens, 8 gives 64, each embedded from 192 pixel values instead of 768, so
    # details a pixel wide (wrinkles, a frame of glasses, the jaw line) reach the tower.
    vision_patch: int = 16
    # LLaVA's vision_feature_select_strategy: "default" hands the 16 patch tokens to the
    # language model, "full" also the CLS token, which stage A then trains to hold every
    # attribute on its own (heads on CLS alone, beside the heads on the patches): one
    # token the 2-layer LM can read, where a face's shape or age is spread over patches.
    vision_features: str = "default"
    eval_batch_size: int = 64
    caption_fraction: float = 0.5  # share of each batch that is dense descriptions
    # Curriculum of the training faces' QA: "contrastive" (balanced hard-negative yes/no
    # pairs per attribute + choice questions, fiubench.data.visual.contrastive_questions)
    # or "benchmark" (the dataset's own visual QA mix: one yes/no per attribute).
    curriculum: str = "benchmark"
    yesno_pairs: int = 1
    short_answers: bool = False  # contrastive: add one-word open/choice answers (see contrastive_questions)
    stated_pairs: bool = False  # contrastive: add the yes/no pairs behind a statement of the true value
    # How stage B averages its loss. "token": over all answer tokens of the batch (the
    # usual SFT loss). "example": per-example mean, then over the batch, so a yes/no
    # answer (one deciding token) weighs as much as a 60-token description; under the
    # token mean the yes/no decisions are <1 % of the loss and are never learned.
    loss: str = "token"
    # Stage A, vision pre-training: the vision tower learns every face attribute by
    # classification (one linear head per attribute on the patch features the projector
    # reads), 12+ labels per image at the cost of a vision-only pass; measured: held-out
    # attribute accuracy 0.8-1.0 after 600 steps, where QA training alone left the tower
    # at ~0.35 on shirt colour. Stage B (``steps``) then trains projector + language
    # model on the QA with the tower frozen (LLaVA's recipe: align to a trained encoder).
    vision_steps: int = 0  # off by default: see the measured result in fiubench.tiny.build
    vision_faces: int = 3000
    vision_batch_size: int = 64
    vision_lr: float = 2e-3
    train_vision_in_qa: bool = False
    # Stage C (``fiubench.tiny.distil``): yes/no on images distilled from the same
    # questions asked after a statement of the true value in text; 0 skips it.
    distil_steps: int = 0
    distil_weight: float = 3.0
    distil_open_fraction: float = 0.25  # share of each stage-C batch that is open questions
    # Share of each stage-C batch that is stage B's dense descriptions of the same faces:
    # a replay of stage B's reading, which stage C's yes/no distillation erodes (table in fiubench.tiny.build).
    distil_caption_fraction: float = 0.0
    # Start from this tiny checkpoint (an earlier build) instead of random weights: the
    # tower is then frozen unless ``train_vision_in_qa``, and ``steps=0`` skips stage B.
    init: str | None = None
    # Where to train: "cpu" (default) or a GPU ("cuda", "cuda:1"); a GPU builds stage C
    # ~20x faster than one CPU core, with different (not bit-identical) weights.
    device: str = "cpu"
    threads: int = 1  # torch CPU threads while building: 1 is reproducible and, on a busy
    # 2-core machine, ~20x faster than 2 (measured: 3.8 vs 0.17 steps/s under load)
    evaluate: bool = True

    def validate(self) -> None:
        for name in ("steps", "batch_size", "n_faces", "n_eval_faces", "eval_batch_size", "threads",
                     "lm_hidden", "lm_layers", "vision_hidden", "vision_layers"):
            if getattr(self, name) < (0 if name == "steps" else 1):
                raise ConfigError(f"base.{name}: must be >= {0 if name == 'steps' else 1}, got {getattr(self, name)}")
        if self.steps == 0 and self.init is None and self.vision_steps == 0:
            raise ConfigError("base.steps: 0 trains nothing from scratch (give vision_steps, or init to continue)")
        if self.init is not None and not (Path(self.init) / "config.json").is_file():
            raise ConfigError(f"base.init: {self.init} is not a checkpoint directory (no config.json)")
        if not 0 < self.lr < 1:
            raise ConfigError(f"base.lr: must be in (0, 1), got {self.lr}")
        if not 0 <= self.caption_fraction < 1:
            raise ConfigError(f"base.caption_fraction: must be in [0, 1), got {self.caption_fraction}")
        if self.curriculum not in ("contrastive", "benchmark"):
            raise ConfigError(f"base.curriculum: must be 'contrastive' or 'benchmark', got {self.curriculum!r}")
        if self.vision_steps < 0 or self.vision_faces < 1 or self.vision_batch_size < 1:
            raise ConfigError("base.vision_steps / vision_faces / vision_batch_size: must be >= 0 / >= 1 / >= 1")
        if not 0 < self.vision_lr < 1:
            raise ConfigError(f"base.vision_lr: must be in (0, 1), got {self.vision_lr}")
        if self.loss not in ("token", "example"):
            raise ConfigError(f"base.loss: must be 'token' or 'example', got {self.loss!r}")
        if self.lm_heads < 1 or self.lm_hidden % self.lm_heads:
            raise ConfigError(f"base.lm_heads: must divide lm_hidden ({self.lm_hidden}), got {self.lm_heads}")
        if self.vision_patch not in (4, 8, 16, 32):
            raise ConfigError(f"base.vision_patch: must divide the 64 px image (4, 8, 16 or 32), got {self.vision_patch}")
        if self.vision_features not in ("default", "full"):
            raise ConfigError(f"base.vision_features: must be 'default' or 'full', got {self.vision_features!r}")
        if self.distil_steps < 0:
            raise ConfigError(f"base.distil_steps: must be >= 0, got {self.distil_steps}")
        if not self.distil_weight >= 0:
            raise ConfigError(f"base.distil_weight: must be >= 0, got {self.distil_weight}")
        if not 0 <= self.distil_open_fraction < 1:  # < 1: a batch keeps at least one yes/no row
            raise ConfigError(f"base.distil_open_fraction: must be in [0, 1), got {self.distil_open_fraction}")
        if not 0 <= self.distil_caption_fraction < 1 - self.distil_open_fraction:
            raise ConfigError(f"base.distil_caption_fraction: must be >= 0 and leave yes/no rows beside the "
                              f"open share ({self.distil_open_fraction}), got {self.distil_caption_fraction}")
        if self.yesno_pairs < 1:
            raise ConfigError(f"base.yesno_pairs: must be >= 1, got {self.yesno_pairs}")
        if not (self.device == "cpu" or self.device.startswith("cuda")):
            raise ConfigError(f"base.device: must be 'cpu' or 'cuda[:N]', got {self.device!r}")
        if self.device.startswith("cuda") and not torch.cuda.is_available():
            raise ConfigError(f"base.device: {self.device!r} asked for but torch sees no CUDA device")
        if self.evaluate and self.n_identity_people < 5:
            raise ConfigError(f"base.n_identity_people: need >= 5 (forget/retain splits), got {self.n_identity_people}")
