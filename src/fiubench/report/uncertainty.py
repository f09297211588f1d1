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
        self._k: dict[tuple[str | None, str], str] = {}
        for r in rows:
            if r.k:
                self._k.setdefault((r.forget_split, r.metric), r.k)

    def k(self, split: str | None, metrics: Sequence[str]) -> str | None:
        """The identities an interval of the first of ``metrics`` rests on ("k=10"), if stored."""
        return next((self._k[(split, m)] for m in metrics if (split, m) in self._k), None)

    def __bool__(self) -> bool:
        return bool(self._d)

    def get(self, role: str, method: str | None, split: str | None, variant: str,
            metrics: Sequence[str]) -> tuple[float | None, float | None, float | None] | None:
        for m in metrics:
            r = self._d.get((role, method, split, variant, m))
            if r is not None and r.estimate is not None:
                return (r.estimate, r.low, r.high)
        return None


SHOWN_FAMILIES = ("vs retain", "vs best")  # the report's table; every pair stays in the CSV
VERDICT_MARKS = {"better": "better", "worse": "worse", "equivalent": "≈", "undecided": "undecided"}


def comparison_rows(rows: Sequence[ComparisonRow], split: str,
                    families: Sequence[str] | None = SHOWN_FAMILIES) -> list[tuple[str, str, dict[str, ComparisonRow]]]:
    """(model_a, model_b, metric -> row) for one split, in stored order; rows of a family not
    in ``families`` are left out (rows without a family, from older runs, are kept)."""
    out: dict[tuple[str, str], dict[str, ComparisonRow]] = {}
    for r in rows:
        if r.forget_split == split and (families is None or r.family is None or r.family in families):
            out.setdefault((r.model_a, r.model_b), {})[r.metric] = r
    return [(a, b, d) for (a, b), d in out.items()]


ALL_COLUMNS = ("family", "model_a", "model_b", "metric", "estimate", "low", "high", "level", "k", "ci_method",
               "margin", "p_differs", "p_differs_adjusted", "p_equivalent", "p_equivalent_adjusted", "verdict")


def all_comparisons_csv(rows: Sequence[ComparisonRow], split: str) -> str | None:
    """Every stored comparison of ``split`` (all pairs, raw values), as CSV text."""
    import csv
    import io

    mine = [r for r in rows if r.forget_split == split]
    if not mine:
        return None
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(ALL_COLUMNS)
    for r in mine:
        w.writerow(["" if getattr(r, c) is None else getattr(r, c) for c in ALL_COLUMNS])
    return buf.getvalue()
