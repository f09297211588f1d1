"""Bootstrap intervals and paired comparisons as the report shows them.

The numbers come from the run's uncertainty step (``fiubench.pipeline.uncertainty``,
stored in the ``intervals`` and ``comparisons`` tables of ``results.sqlite``); this
module only indexes and lays them out.
"""

from __future__ import annotations

from collections.abc import Sequence

from fiubench.report.store import ComparisonRow, IntervalRow

SEED_KEYS = ("seed", "unlearn_seed")


def seedless(variant: str) -> str:
    """A variant label without its seed settings ("unlearn_lr=0.001,seed=1" -> "unlearn_lr=0.001")."""
    return ",".join(p for p in variant.split(",") if p and p.split("=", 1)[0] not in SEED_KEYS)


class IntervalIndex:
    """(role, method, split, seedless variant, metric) -> (estimate, low, high)."""

    def __init__(self, rows: Sequence[IntervalRow]) -> None:
        self._d = {(r.role, r.method, r.forget_split, r.variant, r.metric): r for r in rows}
        self.n_seeds = max((r.n_seeds for r in rows), default=1)

    def __bool__(self) -> bool:
        return bool(self._d)

    def get(self, role: str, method: str | None, split: str | None, variant: str,
            metrics: Sequence[str]) -> tuple[float | None, float | None, float | None] | None:
        for m in metrics:
            r = self._d.get((role, method, split, variant, m))
            if r is not None and r.estimate is not None:
                return (r.estimate, r.low, r.high)
        return None


def comparison_rows(rows: Sequence[ComparisonRow], split: str) -> list[tuple[str, str, dict[str, ComparisonRow]]]:
    """(model_a, model_b, metric -> row) for one split, in stored order."""
    out: dict[tuple[str, str], dict[str, ComparisonRow]] = {}
    for r in rows:
        if r.forget_split == split:
            out.setdefault((r.model_a, r.model_b), {})[r.metric] = r
    return [(a, b, d) for (a, b), d in out.items()]
