"""The robustness table prints k, the identities each recovery interval rests on, next to
the interval (in the column header, as the main table does)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from fiubench.attacks.summary import summarise_attacks
from fiubench.report.robustness import robustness_table

from .report_synthetic import store_attack_summary

IDS = [f"p{i}" for i in range(10)]


def _res(x: float, seed: int) -> dict:
    xs = np.clip(x + np.random.default_rng(seed).normal(0, 0.1, len(IDS)), 0, 1)
    return {"variants": {"prefix": float(xs.mean())}, "per_identity": {"prefix": dict(zip(IDS, xs, strict=True))}}


def test_robustness_table_headers_carry_k_and_cells_their_interval(db: Path):
    out = {"finetuned": {"prefill": _res(0.8, 0)}, "retain": {"prefill": _res(0.2, 1)},
           "ga": {"prefill": _res(0.4, 2)}}
    s = summarise_attacks(out, out["finetuned"], out["retain"], n_boot=300)
    keys = {"finetuned": dict(model="finetuned", role="finetuned"), "retain": dict(model="retain", role="retain"),
            "ga": dict(model="ga/forget5", role="unlearned", method="ga", step=18, final=True)}
    entries = store_attack_summary(db, s["metrics"], keys)
    t = robustness_table(entries, "forget5", ["ga"])
    headers = [c.header for c in t.columns]
    assert "prefill (k=10)" in headers and "worst (k=10)" in headers
    ga = next(i for i, (label, _) in enumerate(t.rows) if label == "GA")
    m = s["metrics"]["ga"]
    text = t.cell_texts(ga)[headers.index("worst (k=10)")]
    assert text == f"{100 * m['attack.worst']:.1f} [{100 * m['attack.worst_low']:.1f}, {100 * m['attack.worst_high']:.1f}]"
    assert any("k in a header" in n for n in t.notes)
