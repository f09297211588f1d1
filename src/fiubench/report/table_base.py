"""What every report table is made of: ``Column``, ``Table``, and the row selection
(final models, in role then method order) that the main and robustness tables share.

Its own module so that the table builders (``report.tables``, ``report.robustness``)
import it rather than each other.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from fiubench.report.entries import Entry


@dataclass(frozen=True)
class Column:
    """A table column: header, the metric(s) it shows (first present wins), scale."""

    header: str
    metrics: tuple[str, ...] = ()
    scale: float = 100.0
    decimals: int = 1
    higher_is_better: bool | None = None
    group: str = ""  # columns sharing a group are drawn together ("MU side" / "FQ side")


class AtMost(float):
    """A p-value at the floor of its test's resolution (e.g. 2 / 2^k for a permutation test
    over k identities): the number, so the CSV stays exact, shown as "≤ 0.00195" because
    the test says "at most this", not "this"."""


@dataclass
class Table:
    """A rendered-agnostic table: a label column then numeric (or text) cells."""

    name: str  # file stem, e.g. "main_forget5"
    title: str
    columns: list[Column]
    rows: list[tuple[str, list[float | str | None]]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    row_header: str = "model"
    # Optional bootstrap intervals, parallel to ``rows``: (low, high) per cell or None.
    ci: list[list[tuple[float, float] | None]] | None = None

    def cell_text(self, col: Column, value: float | str | None) -> str:
        if value is None:
            return "—"
        if isinstance(value, str):
            return value
        if isinstance(value, AtMost):
            return f"≤ {value * col.scale:.3g}"
        return f"{value * col.scale:.{col.decimals}f}"

    def cell_texts(self, i: int) -> list[str]:
        """Row ``i``'s cells as text, each with its interval ("52.1 [41.0, 63.2]") when known."""
        _label, cells = self.rows[i]
        out = []
        for j, (c, v) in enumerate(zip(self.columns, cells, strict=True)):
            text = self.cell_text(c, v)
            iv = self.ci[i][j] if self.ci is not None and i < len(self.ci) else None
            if iv is not None and v is not None and not isinstance(v, str):
                text += f" [{iv[0] * c.scale:.{c.decimals}f}, {iv[1] * c.scale:.{c.decimals}f}]"
            out.append(text)
        return out


def finals(entries: Sequence[Entry]) -> list[Entry]:
    return [e for e in entries if e.role != "unlearned" or e.final]


def ordered(entries: Sequence[Entry], methods: Sequence[str] | None) -> list[Entry]:
    role_rank = {"base": 0, "retain": 1, "finetuned": 2, "unlearned": 3}
    mrank = {m: i for i, m in enumerate(methods or [])}
    return sorted(
        entries,
        key=lambda e: (role_rank.get(e.role, 9), mrank.get(e.method or "", 99), e.method or "", e.variant),
    )
