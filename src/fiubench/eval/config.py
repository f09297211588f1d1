"""Evaluation options (one documented dataclass; CLI flags map onto it)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from fiubench.data.schema import FORGET_SPLITS
from fiubench.errors import ConfigError
from fiubench.metrics.aggregate import AggregateConfig, expand_skip
from fiubench.metrics.judge import JudgeConfig


@dataclass
class EvalConfig:
    """What to evaluate and how.

    Attributes:
        forget: the forget split (forget1/forget5/forget10, or any forget split of the dataset).
        retain_split: split the retain-side (model utility) metrics read.
        retain_max_identities: the retain split is subsampled to this many identities
            (deterministically, with ``seed``) so evaluation stays fast; 336 retain
            identities x 20 QA would dominate the run. None = all.
        holdout_split: the MIA non-members (identities never trained).
        holdout_max_identities: cap on holdout identities (None = all).
        visual: evaluate the visual-attribute questions (``visual_qa.jsonl``) of every
            evaluated face: forget, retain subset and holdout. The forgotten faces are
            included on purpose: unlearning a person must not blind the model to them.
        batch_size: rows per forward pass (generation and scoring).
        max_new_tokens: generation budget for the QA; ``visual_max_new_tokens`` for
            yes/no visual, MME and POPE questions.
        visual_open_max_new_tokens: budget for open visual questions, whose answers are
            full sentences; None (default) = the longest open reference answer under the
            model's tokenizer plus 8 tokens. A fixed value that cannot hold the longest
            answer is refused.
        reuse_image_features: encode each image once and reuse its features for every
            question and answer variant (every supported family); False re-encodes per row.
        paraphrase_generations: generate for the 3 paraphrased questions (APE).
        holdout_generations: also generate answers for the holdout identities' QA. No
            metric reads them (holdout people enter through log-probs: truth ratios, MIA,
            calibration), so they are off by default: ~15 % of an evaluation's
            generations. On, their records get ROUGE-L and exact match (the guessing floor).
        judge: judge backend and options.
        skip: headline metrics (or groups: judge, ks, mia, visual) the user chose not to
            compute; aggregates then list them as dropped. Anything else missing is an error.
        mia_k: Min-K% / Min-K%++ fraction of lowest-scoring tokens.
        truth_ratio_mean: mean over perturbed answers in the truth ratio: "geometric"
            (default; the TOFU/FIUBench code behind the published numbers) or
            "arithmetic" (of probabilities; TOFU's paper text). Stored with the results;
            a KS reference of the other definition is refused.
        aggregate: model-utility and forget-quality options (weights, KS normalisation).
        mme / pope: local copies of MME (a directory of per-task ``<task>.txt`` files,
            lines "image<TAB>question<TAB>answer") and POPE (a jsonl with question/text,
            label, image); images resolved next to the file or under ``*_images``.
        mme_max / pope_max: cap on questions read from each (None = all).
        exposure_candidates: wrong values scored per forget QA about a vocabulary field for
            exposure (``fiubench.eval.exposure``; a field with fewer uses all of them); 0 = off.
        seed: subsampling seed (generation is greedy); also draws the exposure candidates.
    """

    forget: str = "forget5"
    retain_split: str = "retain"
    retain_max_identities: int | None = 20
    holdout_split: str = "holdout"
    holdout_max_identities: int | None = None
    visual: bool = True
    batch_size: int = 16
    max_new_tokens: int = 64
    visual_max_new_tokens: int = 8
    visual_open_max_new_tokens: int | None = None
    reuse_image_features: bool = True
    paraphrase_generations: bool = True
    holdout_generations: bool = False
    judge: JudgeConfig = field(default_factory=JudgeConfig)
    skip: list[str] = field(default_factory=list)
    mia_k: float = 0.2
    truth_ratio_mean: Literal["geometric", "arithmetic"] = "geometric"
    aggregate: AggregateConfig = field(default_factory=AggregateConfig)
    mme: Path | None = None
    mme_images: Path | None = None
    mme_max: int | None = None
    pope: Path | None = None
    pope_images: Path | None = None
    pope_max: int | None = None
    exposure_candidates: int = 15
    seed: int = 0

    def validate(self) -> None:
        # Any split of the dataset may be the forget split (`data build --forget-percents`
        # makes forget20, ...); whether it exists is checked against split.json at evaluation.
        if not self.forget or self.forget in (self.retain_split, self.holdout_split, "full"):
            raise ConfigError(
                f"eval.forget: {self.forget!r} cannot be the forget split "
                f"(usually one of {', '.join(FORGET_SPLITS)})"
            )
        if self.batch_size < 1:
            raise ConfigError(f"eval.batch_size: must be >= 1, got {self.batch_size}")
        if self.max_new_tokens < 1 or self.visual_max_new_tokens < 1:
            raise ConfigError("eval.max_new_tokens / visual_max_new_tokens: must be >= 1")
        if self.visual_open_max_new_tokens is not None and self.visual_open_max_new_tokens < 1:
            raise ConfigError("eval.visual_open_max_new_tokens: must be >= 1 or null (automatic)")
        if self.exposure_candidates < 0:
            raise ConfigError(f"eval.exposure_candidates: must be >= 0 (0 = no exposure), got {self.exposure_candidates}")
        if not 0 < self.mia_k <= 1:
            raise ConfigError(f"eval.mia_k: must be in (0, 1], got {self.mia_k}")
        for name in ("retain_max_identities", "holdout_max_identities", "mme_max", "pope_max"):
            v = getattr(self, name)
            if v is not None and v < 1:
                raise ConfigError(f"eval.{name}: must be >= 1 or null, got {v}")
        for name in ("mme", "pope", "mme_images", "pope_images"):
            p = getattr(self, name)
            if p is not None and not Path(p).exists():
                raise ConfigError(f"eval.{name}: {p} does not exist")
        expand_skip(self.skip)
        self.judge.validate()
        self.aggregate.validate()
