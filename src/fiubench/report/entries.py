"""Evaluated models as the report sees them: one :class:`Entry` per evaluation.

The store holds one row per metric; an entry gathers the rows of one evaluation
(run x model x forget split x variant x checkpoint) into a metrics dict.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field

from fiubench.report.store import ResultRow, ResultsStore

# How methods are written in tables (registry names are lower case).
METHOD_NAMES = {
    "ga": "GA", "gd": "GD", "kl": "KL", "po": "PO", "npo": "NPO", "simnpo": "SimNPO",
    "idkdpo": "IdkDPO", "rmu": "RMU", "undial": "UNDIAL",
    "armu": "Adaptive RMU", "wga": "WGA", "satimp": "SatImp", "ceu": "CE-U", "scrub": "SCRUB",
    "mmunlearner": "MMUnlearner", "taskvector": "Task vector",
}
ROLE_NAMES = {"base": "Base (before fine-tuning)", "finetuned": "Fine-tuned", "retain": "Retain"}


@dataclass
class Entry:
    """One evaluated model: its identity and its flat metrics."""

    run: str
    model: str
    role: str
    method: str | None
    forget_split: str | None
    variant: str
    step: int
    final: bool
    config_hash: str
    judge: str | None = None
    metrics_version: int = 1  # fiubench.metrics.version (1: before versioning)
    definitions: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, float | None] = field(default_factory=dict)
    higher_is_better: dict[str, bool | None] = field(default_factory=dict)

    def get(self, metric: str) -> float | None:
        return self.metrics.get(metric)

    @property
    def label(self) -> str:
        """Table label: "GA", "Fine-tuned", "NPO [lr=0.0001]"..."""
        if self.role == "unlearned":
            name = METHOD_NAMES.get(self.method or "", (self.method or "?").upper())
        else:
            name = ROLE_NAMES.get(self.role, self.role)
        return f"{name} [{self.variant}]" if self.variant else name

    @property
    def curve_key(self) -> tuple[str, str | None, str | None, str]:
        """Entries of one unlearning run share this key; their steps form a curve."""
        return (self.run, self.method, self.forget_split, self.variant)


def variant_items(variant: str) -> set[str]:
    return {p for p in variant.split(",") if p}


def entries_from_rows(rows: Iterable[ResultRow]) -> list[Entry]:
    """Group metric rows into entries (order of first appearance)."""
    out: dict[tuple, Entry] = {}
    versioned: set[tuple] = set()
    for r in rows:
        key = (r.run, r.model, r.forget_split, r.variant, r.step, r.final)
        e = out.get(key)
        if e is None:
            e = out[key] = Entry(
                run=r.run, model=r.model, role=r.role, method=r.method,
                forget_split=r.forget_split, variant=r.variant, step=r.step, final=r.final,
                config_hash=r.config_hash, judge=r.judge, metrics_version=r.metrics_version or 1,
                definitions=json.loads(r.definitions) if r.definitions else {},
            )
        if r.metrics_version is not None and key not in versioned:
            # rows stored without a version (e.g. attack rows) take the evaluation's
            versioned.add(key)
            e.metrics_version = r.metrics_version
            e.definitions = json.loads(r.definitions) if r.definitions else e.definitions
        e.metrics[r.metric] = r.value
        e.higher_is_better[r.metric] = r.higher_is_better
        if e.judge is None and r.judge is not None:
            e.judge = r.judge
    entries = list(out.values())
    # Several runs in one database: keep them apart by prefixing the variant.
    if len({e.run for e in entries}) > 1:
        for e in entries:
            e.variant = ",".join(p for p in (f"run={e.run}", e.variant) if p)
    return entries


def load_entries(store: ResultsStore, run: str | None = None) -> list[Entry]:
    return entries_from_rows(store.rows(run=run))


def parent(entry: Entry, entries: Iterable[Entry], role: str) -> Entry | None:
    """The ``role`` model (finetuned/retain) an unlearned entry is compared with.

    Same forget split and a variant whose settings are a subset of the entry's (a
    learning-stage sweep setting such as the tuning scope is shared; an unlearning
    learning rate is not part of the fine-tuned model's variant).
    """
    mine = variant_items(entry.variant)
    best: Entry | None = None
    for e in entries:
        if e.role != role or e.forget_split != entry.forget_split:
            continue
        if variant_items(e.variant) <= mine and (
            best is None or len(variant_items(e.variant)) > len(variant_items(best.variant))
        ):
            best = e
    return best


def judge_backends(entries: Iterable[Entry]) -> list[str]:
    """The judge backends that scored ``entries``, e.g. ``["similarity, offline"]``."""
    out = set()
    for e in entries:
        if e.judge:
            j = e.judge
            if j.startswith("judge (") and j.endswith(")"):  # the evaluator's own label
                j = j[len("judge ("):-1]
            out.add(j)
    return sorted(out)


def metric_definitions(entries: Iterable[Entry]) -> tuple[list[int], dict[str, list[str]]]:
    """The metrics versions and the definitions (name -> distinct values) behind ``entries``."""
    versions: set[int] = set()
    defs: dict[str, set[str]] = {}
    for e in entries:
        versions.add(e.metrics_version)
        for k, v in e.definitions.items():
            defs.setdefault(k, set()).add(str(v))
    return sorted(versions), {k: sorted(v) for k, v in sorted(defs.items())}


def _own_variant(e: Entry) -> str:
    """The variant as stored (without the "run=" prefix added for multi-run reports)."""
    return ",".join(p for p in e.variant.split(",") if p and p != f"run={e.run}")


def incomplete(entries: Iterable[Entry], plan: Iterable[dict]) -> list[tuple[dict, Entry | None, int]]:
    """Planned final models without a final evaluation: (plan row, a label source, checkpoints done)."""
    entries = list(entries)
    finals = {(e.run, e.model, e.forget_split or "", _own_variant(e)) for e in entries
              if e.final or e.role != "unlearned"}
    out = []
    for p in plan:
        key = (p["run"], p["model"], p["forget_split"] or "", p["variant"] or "")
        if key in finals:
            continue
        done = [e for e in entries if (e.run, e.model, e.forget_split or "", _own_variant(e)) == key]
        out.append((p, done[0] if done else None, len(done)))
    return out


def plan_label(p: dict, multi_run: bool) -> str:
    """Table label of a planned model (as :attr:`Entry.label` would write it)."""
    e = Entry(run=p["run"], model=p["model"], role=p["role"], method=p["method"], forget_split=p["forget_split"],
              variant=p["variant"] or "", step=0, final=True, config_hash="")
    if multi_run:
        e.variant = ",".join(x for x in (f"run={e.run}", e.variant) if x)
    return e.label
