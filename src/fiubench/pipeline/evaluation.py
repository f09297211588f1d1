"""Evaluating one model inside the pipeline (a thin layer over ``fiubench.eval``).

The retain model is its own KS reference (``evaluate(..., retain_reference="self")``):
the KS test between its forget truth ratios and themselves has p = 1 (log10 p = 0),
the score of perfect forgetting.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fiubench.eval.config import EvalConfig
from fiubench.utils.faults import kill_point


def evaluate_checkpoint(
    model_dir: str | Path,
    dataset: Any,
    cfg: EvalConfig,
    out: Path,
    *,
    reference: Path | None,
    model_overrides: dict[str, Any] | None = None,
    shard: Any = None,
) -> dict[str, Any]:
    """Evaluate the model in ``model_dir`` into ``out`` (results.json + per_sample.jsonl).

    ``reference``: the retain model's evaluation directory; None means this *is* the
    retain model (self-reference, see the module docstring). ``shard``: this process's
    share of a sharded evaluation (:mod:`fiubench.pipeline.sharded`); only rank 0 adds
    exposure and writes.
    """
    from fiubench.eval.runner import evaluate
    from fiubench.models.config import ModelConfig
    from fiubench.models.loading import load_vlm, resolve_path

    vlm = load_vlm(ModelConfig(name_or_path=str(model_dir), **(model_overrides or {})))
    source = resolve_path(str(model_dir))
    ckpt = source if isinstance(source, Path) else None  # hashed into the provenance
    result = evaluate(vlm, dataset, cfg, "self" if reference is None else reference, checkpoint=ckpt, shard=shard)
    if shard is not None and not shard.main:
        del vlm
        return {}
    del vlm
    kill_point("eval")
    result.save(out, overwrite=True)
    return {
        "model_utility": result.aggregates.get("model_utility"),
        "forget_quality": result.aggregates.get("forget_quality"),
        "seconds": result.engine.get("seconds_total"),
    }
