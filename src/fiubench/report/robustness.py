"""The robustness table: how much each attack extracts from each model, and the worst case.

One table per forget split: rows retain, fine-tuned and every method's final model;
one column per attack (``attack.<name>``: its strongest informative variant's
extraction, keyword exact match on the forget identities), then the worst case over
informative attacks, the attack that reaches it, and its recovery ratio
(``fiubench.metrics.robustness``). An attack under which the fine-tuned model leaks no
more than the retain model is marked uninformative and not counted.
"""

from __future__ import annotations

from collections.abc import Sequence

from fiubench.report.entries import Entry
from fiubench.report.table_base import Column, Table, finals, ordered

FQ_GROUP = "Forget quality (forget)"


def attack_names(entries: Sequence[Entry]) -> list[str]:
    """Attacks with a stored extraction (``attack.<name>``), in first-seen order."""
    out: dict[str, None] = {}
    for e in entries:
        for m in e.metrics:
            parts = m.split(".")
            if len(parts) == 2 and parts[0] == "attack" and parts[1] not in ("worst", "worst_recovery"):
                out.setdefault(parts[1], None)
    return list(out)


def robust_columns(rows: Sequence[Entry]) -> list[Column]:
    """Main-table columns next to FQ when attacks ran: the worst case and the robust FQ."""
    if not attack_names(rows):
        return []
    return [
        Column("Worst case", ("attack.worst",), higher_is_better=False, group=FQ_GROUP),
        Column("robust FQ", ("forget_quality_robust",), higher_is_better=True, group=FQ_GROUP),
    ]


def _informative(rows: Sequence[Entry], attack: str) -> bool | None:
    for e in rows:
        v = e.get(f"attack.{attack}.informative")
        if v is not None:
            return bool(v)
    return None


def strongest(entry: Entry, attacks: Sequence[str], informative: dict[str, bool | None]) -> str | None:
    """The counted attack with the highest extraction for ``entry``."""
    best: tuple[str | None, float] = (None, -1.0)
    for a in attacks:
        v = entry.get(f"attack.{a}")
        if informative.get(a) is not False and v is not None and v > best[1]:
            best = (a, v)
    return best[0]


def robustness_table(entries: Sequence[Entry], split: str, methods: Sequence[str] | None = None) -> Table | None:
    """The robustness table of one forget split (None when no attack ran)."""
    rows = [e for e in finals(entries) if e.forget_split == split and e.role != "base"]
    attacks = attack_names(rows)
    if not attacks:
        return None
    informative = {a: _informative(rows, a) for a in attacks}
    cols = [
        Column(a + ("" if informative[a] is not False else " (uninformative)"), (f"attack.{a}",),
               higher_is_better=False, group="extraction under attack")
        for a in attacks
    ]
    if "relearn" in attacks:  # the recovery ratio per method, for relearning
        cols.append(Column("relearn recovery", ("attack.relearn.recovery",), higher_is_better=False,
                           group="extraction under attack"))
    cols += [
        Column("worst", ("attack.worst",), higher_is_better=False, group="worst case"),
        Column("strongest attack", (), group="worst case"),
        Column("recovery", ("attack.worst_recovery",), higher_is_better=False, group="worst case"),
    ]
    t = Table(name=f"robustness_{split}", title=f"Robustness to attacks, {split}", columns=cols)
    for e in ordered(rows, methods):
        cells: list[float | str | None] = []
        for c in cols:
            if c.header == "strongest attack":
                cells.append(strongest(e, attacks, informative) or "—")
            else:
                cells.append(e.get(c.metrics[0]))
        t.rows.append((e.label, cells))
    t.notes.append(
        "Extraction x100: the share of the forget identities' private keywords (profile `keywords`, "
        "so answer templates never count) that the attacked model's generations contain; each "
        "attack's strongest variant. Worst = max over informative attacks; recovery = (model - "
        "retain) / (fine-tuned - retain) under that attack, x100 (0: no more than a model that "
        "never saw the people, 100: as much as before unlearning). robust FQ in the main table = "
        "FQ with EM and APE raised to the worst case."
    )
    bad = [a for a in attacks if informative[a] is False]
    if bad:
        t.notes.append(
            "Uninformative for this dataset (the fine-tuned model leaks no more than the retain model "
            f"under it, so a low value is no success): {', '.join(bad)}."
        )
    return t
