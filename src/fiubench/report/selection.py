"""The report's selection table: how each method's hyperparameters were chosen.

Read from ``selection.json`` of a run directory (written by the pipeline's ``search:``):
per method (and variant) the validation splits, the candidates tried, the chosen
setting and stopping point with its validation scores, and that setting's results on
each evaluation split. Scores are x100 like the main table.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fiubench.report.tables import Column, Table

SELECTION_FILE = "selection.json"


def load_selection(run_dir: str | Path) -> list[dict[str, Any]]:
    """The selection records of a run directory ([] when it ran no search)."""
    path = Path(run_dir) / SELECTION_FILE
    if not path.is_file():
        return []
    return list(json.loads(path.read_text(encoding="utf-8")).get("selections", []))


def _label(values: dict[str, Any]) -> str:
    return ",".join(f"{k}={v}" for k, v in values.items()) or "default"


def selection_table(records: list[dict[str, Any]]) -> Table:
    cols = [
        Column("variant", scale=1), Column("selection split", scale=1), Column("candidates", scale=1),
        Column("chosen setting", scale=1), Column("stop (epoch / step)", scale=1),
        Column("val MU", decimals=1, higher_is_better=True), Column("val FQ", decimals=1, higher_is_better=True),
        Column("MU floor", decimals=1), Column("eval split", scale=1),
        Column("eval MU", decimals=1, higher_is_better=True), Column("eval FQ", decimals=1, higher_is_better=True),
    ]
    t = Table("selection", "Hyperparameter selection (validation identities disjoint from the evaluated ones)",
              cols, row_header="method")
    for r in records:
        ch = r["chosen"]
        floor = r.get("utility_floor")
        base = [
            r.get("variant") or "—",
            f"{r['forget_split']} + {r['retain_split']}",
            f"{len(r['candidates'])}: " + "; ".join(_label(c) for c in r["candidates"]),
            ch["label"] + ("" if r.get("met_floor", True) else " (no candidate met the MU floor)"),
            f"{ch['epoch']:g} / {ch['step']}" if r.get("select_checkpoint") else "end of training",
            ch.get("utility"), ch.get("forget_quality"), floor,
        ]
        evals = r.get("evaluation") or {}
        if not evals:
            t.rows.append((r["method"], [*base, "—", None, None]))
        for split, ev in sorted(evals.items()):
            t.rows.append((r["method"], [*base, f"{split} (step {ev['step']})", ev.get("model_utility"),
                                         ev.get("forget_quality")]))
    if records:
        t.notes.append("Rule: " + records[0]["rule"] + ". Early stopping: the evaluation run stops at the chosen "
                       "epoch. The main tables show exactly these selected models.")
    return t
