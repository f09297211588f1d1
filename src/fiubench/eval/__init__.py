"""Evaluation: per-sample statistics computed once per model, then every metric.

``evaluate(vlm, dataset, EvalConfig(...), retain_reference) -> EvalResult``; the
runner is imported lazily (it pulls torch) so ``fiubench.eval`` stays light.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from fiubench.eval.config import EvalConfig
from fiubench.eval.result import EvalResult

if TYPE_CHECKING:
    from fiubench.data.schema import FIUDataset


def evaluate(
    vlm: Any,
    dataset: FIUDataset,
    cfg: EvalConfig,
    retain_reference: EvalResult | Path | str | None = None,
    checkpoint: str | Path | None = None,
) -> EvalResult:
    """See :func:`fiubench.eval.runner.evaluate`."""
    from fiubench.eval.runner import evaluate as _evaluate

    return _evaluate(vlm, dataset, cfg, retain_reference=retain_reference, checkpoint=checkpoint)


__all__ = ["EvalConfig", "EvalResult", "evaluate"]
