"""Evaluating one model inside the pipeline (a thin layer over ``fiubench.eval``).

The retain model is its own KS reference: the KS test between its forget truth
ratios and themselves has p = 1 (log10 p = 0), the score of perfect forgetting.
It is evaluated once with the KS metrics skipped (they need a reference it cannot
have yet), then the metrics are recomputed from its per-sample records with its
own ratios as the reference -- pure arithmetic, no second model pass.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from fiubench.eval.config import EvalConfig
from fiubench.eval.result import EvalResult


def _self_reference(result: EvalResult, cfg: EvalConfig) -> EvalResult:
    from fiubench.eval.compute import compute_metrics
    from fiubench.metrics.aggregate import aggregates

    ratios = result.forget_truth_ratios()
    judged = cfg.judge.backend != "none"
    metrics = compute_metrics(result.records, mia_k=cfg.mia_k, judged=judged, reference_ratios=ratios)
    agg = aggregates(metrics, cfg.aggregate, cfg.skip)
    metrics["model_utility"] = agg["model_utility"]
    metrics["forget_quality"] = agg["forget_quality"]
    prov = dict(result.provenance)
    prov["retain_reference"] = "self (this model is the retain model)"
    if isinstance(prov.get("config"), dict):
        prov["config"] = {**prov["config"], "skip": list(cfg.skip)}
    return dataclasses.replace(result, metrics=metrics, aggregates=agg, provenance=prov)


def evaluate_checkpoint(
    model_dir: str | Path,
    dataset: Any,
    cfg: EvalConfig,
    out: Path,
    *,
    reference: Path | None,
    model_overrides: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Evaluate the model in ``model_dir`` into ``out`` (results.json + per_sample.jsonl).

    ``reference``: the retain model's evaluation directory; None means this *is* the
    retain model (self-reference, see the module docstring).
    """
    from fiubench.eval.runner import evaluate
    from fiubench.models.config import ModelConfig
    from fiubench.models.loading import load_vlm, resolve_path

    vlm = load_vlm(ModelConfig(name_or_path=str(model_dir), **(model_overrides or {})))
    source = resolve_path(str(model_dir))
    ckpt = source if isinstance(source, Path) else None  # hashed into the provenance
    if reference is None:
        first = dataclasses.replace(cfg, skip=[*cfg.skip, "ks"])
        result = _self_reference(evaluate(vlm, dataset, first, None, checkpoint=ckpt), cfg)
    else:
        result = evaluate(vlm, dataset, cfg, reference, checkpoint=ckpt)
    del vlm
    result.save(out, overwrite=True)
    return {
        "model_utility": result.aggregates.get("model_utility"),
        "forget_quality": result.aggregates.get("forget_quality"),
        "seconds": result.engine.get("seconds_total"),
    }
