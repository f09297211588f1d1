"""The report's "Statistical audit" section, from ``RUN_DIR/audit.json`` (``fiubench audit``).

Per forget split: coverage of the person-level intervals and false-verdict rates in
simulations from the run's own people, the calibration check over identities (per
split and per QA field) and the power table. See docs/metrics-uncertainty.md.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from fiubench.report.table_base import Column, Table

AUDIT_FILE = "audit.json"


def load_audit(run_dir: str | Path) -> dict[str, Any] | None:
    path = Path(run_dir) / AUDIT_FILE
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def _v(x: Any) -> Any:
    """NaN (an undefined p or bound) shows as a dash."""
    return None if isinstance(x, float) and math.isnan(x) else x


def _pct(h: str) -> Column:
    return Column(h, (), scale=100.0, decimals=1)


def _num(h: str, d: int = 3) -> Column:
    return Column(h, (), scale=1.0, decimals=d)


def simulation_table(s: dict[str, Any]) -> Table:
    t = Table(f"audit_simulations_{s['split']}", f"Do the verdicts hold? Simulations from this run's people ({s['split']})",
              [_pct("coverage %"), _pct("± (1 SE)"), _num("mean width"), _pct("false better/worse %"),
               _pct("equivalent %"), _pct("undecided %")], row_header="figure, k identities")
    for c in s["coverage"]:
        t.rows.append((f"{c['figure']}, k={c['k']}", [c["coverage"], c["coverage_se"], c["mean_width"], None, None, None]))
    for n in s["null"]:
        t.rows.append((f"{n['figure']}, k={n['k']}", [None, n["false_se"], None, n["false_better_worse"],
                                                      n["equivalent"], n["undecided"]]))
    t.notes.append(
        f"{s['n_sims']} simulated runs per row, each drawing k identities with replacement from this run's "
        f"{s['k']} forget identities ({s['n_boot']} bootstrap resamples). Coverage: share of 95 % intervals "
        "over identities (studentised: the figures are pooled means) that contain the population value (target >= 93 %). Null rows: each person's answers "
        "split at random into two halves of the same model, so every better/worse verdict is false "
        "(nominal 5 %).")
    return t


def calibration_tables(s: dict[str, Any]) -> list[Table]:
    cal = s["calibration"]
    cols = [_num("k", 0), _num("answers", 0), _num("mean ln R"), _num("low"), _num("high"), _num("p biased"), Column("verdict", ())]
    t = Table(f"audit_calibration_{s['split']}", f"Calibration over identities: retain model's ln R ({s['split']})",
              cols, row_header="split / field")
    for m in (*cal["splits"], *cal["fields"]):
        label = m["name"] if m in cal["splits"] else f"field {m['name']}"
        t.rows.append((label, [float(m["k"]), float(m["n_answers"]), *map(_v, (m["mean"], m["low"], m["high"],
                                                                              m["p_biased"])), m["verdict"]]))
    status = "calibrated" if cal["ok"] else "MISCALIBRATED INSTRUMENT: " + "; ".join(cal["problems"])
    t.notes.append(
        f"Forget vs holdout: KS D = {cal['d']:.3f}, p = {cal['p_split']:.3g} (identities permuted between the "
        f"splits, k = {cal['k_forget']} + {cal['k_holdout']}). Mean ln R per split and per field with its 95 % "
        f"BCa interval over identities; MISCALIBRATED when it differs from 0 (p < {cal['alpha']}; the split "
        f"test's p and every mean's p Holm-adjusted together) by more than {cal['margin']}; calibrated when the TOST puts it within ±{cal['margin']}. "
        f"Verdict: {status}.")
    return [t]


def power_table(s: dict[str, Any]) -> Table:
    ks = s["ks"]
    t = Table(f"audit_power_{s['split']}", f"Power: smallest difference detectable at 80 % power ({s['split']})",
              [_num("SE at k"), _num(f"at k={s['k']}"), *[_num(f"at k={k}") for k in ks],
               Column("identities needed", ())], row_header="figure")
    for p in s["power"]:
        if p.get("se") is None:
            t.rows.append((p["metric"], [None] * (len(ks) + 2) + ["no paired comparison with an interval"]))
            continue
        need = ", ".join(f"{k.removeprefix('k_for_')}: {v}" for k, v in p.items() if k.startswith("k_for_"))
        t.rows.append((p["metric"], [p["se"], p["mde"], *[p[f"mde_k{k}"] for k in ks], need]))
    t.notes.append(
        "From the median standard error of this run's paired comparisons of the figure (its intervals), "
        "SE(k') = SE(k) sqrt(k / k'); two-sided test at 5 %, normal approximation: difference = 2.80 SE. "
        "'identities needed': forget identities to detect that difference (FQ and EM in [0, 1], KS D in [0, 1]).")
    if s["k"] < 5:
        t.notes.append(f"Only {s['k']} forget identities: the standard error itself rests on too few people; "
                       "these figures only show the method.")
    return t


def audit_tables(audit: dict[str, Any] | None) -> list[Table]:
    if not audit:
        return []
    out = []
    for s in audit["splits"]:
        out += [simulation_table(s), *calibration_tables(s), power_table(s)]
    return out
