"""The robustness tables: what each attack recovers from each model, the worst case, what
the attacked model still does, and what a probe still reads from its hidden states.

* robustness table, one per forget split: rows retain, fine-tuned and every method's
  final model; one column per attack (``attack.<name>.recovery``: the adjusted score of
  its chosen variant, 0 at the retain model, 100 at the fine-tuned model, with its
  person-level BCa interval; the header says the k identities it rests on); then the worst case (max over informative attacks), the attack
  that reaches it, the extraction of that same attack, and the mark of a model that is
  not ranked robust (``fiubench.metrics.robustness``).
* utility under attack: model utility, forget truth ratio and MIA of the model the
  attack changed (relearning, quantization), beside the unattacked model's.
* probe table: hidden-state probe accuracy on the forget faces per model, and its
  excess over the retain model (``attack.hidden_probe``).
"""

from __future__ import annotations

from collections.abc import Sequence

from fiubench.report.entries import Entry
from fiubench.report.table_base import Column, Table, finals, ordered

FQ_GROUP = "Forget quality (forget)"
# attack.<x> metrics that are not an attack
SUMMARY_NAMES = {"worst", "worst_low", "worst_high", "worst_k", "worst_extraction", "worst_recovery",
                 "below_retain", "utility_collapse", "marked"}
# under-attack metrics shown, in order (suffix of attack.<name>.<variant>.)
UNDER_ATTACK = (("MU", "model_utility"), ("TR forget", "forget.truth_ratio"), ("MIA AUC", "mia.auc_min_k_pp"))
PROBE = "hidden_probe"


def attack_names(entries: Sequence[Entry]) -> list[str]:
    """Attacks with a stored extraction (``attack.<name>``), in first-seen order."""
    out: dict[str, None] = {}
    for e in entries:
        for m in e.metrics:
            parts = m.split(".")
            if len(parts) == 2 and parts[0] == "attack" and parts[1] not in SUMMARY_NAMES:
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


def strongest(entry: Entry, attacks: Sequence[str]) -> str | None:
    """The attack the summary chose as ``entry``'s worst case."""
    return next((a for a in attacks if entry.get(f"attack.{a}.is_worst")), None)


def mark(entry: Entry) -> str:
    """Why a model is not ranked robust ("" when it is)."""
    why = [text for name, text in (("attack.below_retain", "below retain"),
                                   ("attack.utility_collapse", "utility collapses")) if entry.get(name)]
    return "; ".join(why)


def k_header(header: str, rows: Sequence[Entry], metric: str) -> str:
    """``header`` with the identities its intervals rest on ("worst (k=12)"; a range when
    the rows differ), from ``<metric>_k``; unchanged when no row has an interval."""
    ks = sorted({int(k) for e in rows if (k := e.get(f"{metric}_k")) is not None})
    if not ks:
        return header
    return f"{header} (k={ks[0]})" if len(ks) == 1 else f"{header} (k={ks[0]}–{ks[-1]})"


def _rows(entries: Sequence[Entry], split: str) -> list[Entry]:
    return [e for e in finals(entries) if e.forget_split == split and e.role != "base"]


def robustness_table(entries: Sequence[Entry], split: str, methods: Sequence[str] | None = None) -> Table | None:
    """The robustness table of one forget split (None when no attack ran)."""
    rows = _rows(entries, split)
    attacks = [a for a in attack_names(rows) if a != PROBE]
    if not attacks:
        return None
    informative = {a: _informative(rows, a) for a in attacks}
    cols = [
        Column(k_header(a + ("" if informative[a] is not False else " (uninformative)"), rows, f"attack.{a}.recovery"),
               (f"attack.{a}.recovery",), higher_is_better=False, group="recovery under attack")
        for a in attacks
    ]
    cols += [
        Column(k_header("worst", rows, "attack.worst"), ("attack.worst",), higher_is_better=False, group="worst case"),
        Column("strongest attack", (), group="worst case"),
        Column("its extraction", ("attack.worst_extraction",), higher_is_better=False, group="worst case"),
        Column("mark", (), group="worst case"),
    ]
    t = Table(name=f"robustness_{split}", title=f"Robustness to attacks, {split}", columns=cols, ci=[])
    bounds = {f"attack.{a}.recovery": f"attack.{a}.recovery" for a in attacks} | {"attack.worst": "attack.worst"}
    for e in ordered(rows, methods):
        cells: list[float | str | None] = []
        cis: list[tuple[float, float] | None] = []
        for c in cols:
            name = c.metrics[0] if c.metrics else ""
            if c.header == "strongest attack":
                cells.append(strongest(e, attacks) or "—")
            elif c.header == "mark":
                cells.append(mark(e) or "—")
            else:
                cells.append(e.get(name))
            lo, hi = (e.get(f"{bounds[name]}_low"), e.get(f"{bounds[name]}_high")) if name in bounds else (None, None)
            cis.append((lo, hi) if lo is not None and hi is not None else None)
        t.rows.append((e.label, cells))
        t.ci.append(cis)  # type: ignore[union-attr]
    t.notes.append(
        "Recovery x100 (the adjusted score): (model - retain) / (fine-tuned - retain) of the attack's "
        "extraction (the share of the forget identities' private keywords the generations contain), "
        "0 = no more than a model that never saw the people, 100 = as much as before unlearning; "
        "each attack's variant with the highest recovery, 95 % bootstrap interval over identities (studentised or BCa) "
        "(people resampled, not answers; k in a header = the people its intervals rest on). "
        "Worst = max over informative attacks; its extraction comes from that same attack and variant. "
        "robust FQ in the main table = FQ with EM and APE raised to the worst recovery (clipped to [0, 1]). "
        "Marked models (below retain: even the strongest attack extracts significantly less than the "
        "retain model; utility collapses: under the worst attack, utility < half the fine-tuned model's) "
        "are not ranked robust and have no robust FQ."
    )
    bad = [a for a in attacks if informative[a] is False]
    if bad:
        t.notes.append(
            "Uninformative for this dataset (the fine-tuned model does not leak measurably more than the "
            f"retain model under it, so a low value is no success): {', '.join(bad)}."
        )
    return t


def _under_attack_keys(rows: Sequence[Entry]) -> list[tuple[str, str]]:
    """(attack, variant) pairs with metrics of the attacked model, in first-seen order."""
    suffixes = tuple(f".{k}" for _, k in UNDER_ATTACK)
    out: dict[tuple[str, str], None] = {}
    for e in rows:
        for m in e.metrics:
            if m.startswith("attack.") and m.endswith(suffixes):
                rest = m[len("attack."):]
                for _, k in UNDER_ATTACK:
                    if rest.endswith("." + k):
                        head = rest[: -len(k) - 1].split(".")
                        if len(head) == 2:
                            out.setdefault((head[0], head[1]), None)
    return list(out)


def under_attack_table(entries: Sequence[Entry], split: str, methods: Sequence[str] | None = None) -> Table | None:
    """Utility, forget truth ratio and MIA of each attacked model ("before": unattacked)."""
    rows = _rows(entries, split)
    keys = _under_attack_keys(rows)
    if not keys:
        return None
    cols = [Column(f"{head} {a}/{v}", (f"attack.{a}.{v}.{k}",), group=f"{a} {v}")
            for a, v in keys for head, k in UNDER_ATTACK]
    t = Table(name=f"under_attack_{split}", title=f"What the attacked model still does, {split}", columns=cols)
    for e in ordered(rows, methods):
        t.rows.append((e.label, [e.get(c.metrics[0]) for c in cols]))
    t.notes.append(
        "Metrics of the model an attack changed (relearning, quantization), x100: model utility, the "
        "forget truth ratio and the MIA AUC, each on the attacked weights; 'before' is the same model "
        "unattacked. Shows what recovering the forgotten facts costs."
    )
    return t


def probe_table(entries: Sequence[Entry], split: str, methods: Sequence[str] | None = None) -> Table | None:
    """Hidden-state probe accuracy on the forget faces, and its excess over the retain model."""
    rows = _rows(entries, split)
    if not any(e.get(f"attack.{PROBE}") is not None for e in rows):
        return None
    variants = sorted({m.split(".")[2] for e in rows for m in e.metrics
                       if m.startswith(f"attack.{PROBE}.") and len(m.split(".")) == 3
                       and m.split(".")[2] not in ("recovery", "informative", "is_worst")
                       and not m.split(".")[2].startswith("recovery")})
    cols = [Column(f"probe {v}", (f"attack.{PROBE}.{v}",), higher_is_better=False, group="probe accuracy")
            for v in variants]
    cols.append(Column("above retain", (), higher_is_better=False, group="probe accuracy"))
    retain = next((e for e in rows if e.role == "retain"), None)
    t = Table(name=f"probe_{split}", title=f"Still in the weights: hidden-state probes, {split}", columns=cols)
    for e in ordered(rows, methods):
        mine, base = e.get(f"attack.{PROBE}"), retain.get(f"attack.{PROBE}") if retain else None
        cells: list[float | str | None] = [e.get(c.metrics[0]) for c in cols[:-1]]
        cells.append(None if mine is None or base is None else mine - base)
        t.rows.append((e.label, cells))
    t.notes.append(
        "Accuracy x100 of a linear probe (scikit-learn logistic regression) trained on the fine-tuned "
        "model's hidden states of retain faces for a categorical profile attribute, read on each model's "
        "hidden states of the forget faces. The retain model never saw these people: its accuracy is the "
        "chance control. Above retain = forgotten in the output, still in the weights."
    )
    return t


def robustness_tables(entries: Sequence[Entry], split: str, methods: Sequence[str] | None = None) -> list[Table]:
    """Every robustness table of one forget split that has data."""
    made = (robustness_table(entries, split, methods), under_attack_table(entries, split, methods),
            probe_table(entries, split, methods))
    return [t for t in made if t is not None]
