"""Small helpers for the engine tests: exact match of a model on a split."""

from __future__ import annotations

from pathlib import Path

from fiubench.data import load_dataset
from fiubench.metrics.text import keyword_match
from fiubench.models import ModelConfig, load_image
from fiubench.models.loading import load_vlm


def exact_match(model_dir: Path, data: Path, split: str, limit: int | None = None) -> tuple[float, list[str]]:
    """Mean keyword exact match of greedy answers on ``split`` and the generations."""
    ds = load_dataset(data)
    vlm = load_vlm(ModelConfig(name_or_path=str(model_dir)))
    qas = [(p, qa) for p in ds.split(split) for qa in p.qa_list][:limit]
    gens = vlm.generate([load_image(p.image_path) for p, _ in qas], [qa.question for _, qa in qas], 48)
    scores = [keyword_match(qa.keywords, g) for (_, qa), g in zip(qas, gens, strict=True)]
    vals = [s for s in scores if s is not None]
    return sum(vals) / len(vals), gens
