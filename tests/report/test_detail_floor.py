"""``forget.ks_perm_p`` at its floor (2/2^k over k forget identities) shows as "≤ 0.00195"
in the per-metric detail table, not as a precise p; above it, as a number; the CSV and the
store keep the number. The floor itself comes from the evaluation (``eval.compute``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from fiubench.eval.compute import identity_ks_p
from fiubench.report.build import write_report
from fiubench.report.entries import load_entries
from fiubench.report.render import to_csv, to_latex, to_markdown
from fiubench.report.store import ResultsStore
from fiubench.report.table_base import AtMost
from fiubench.report.tables import detail_table

from .report_synthetic import metrics, results_json

FLOOR_10 = 2 / 2**10  # 10 forget identities, exact sign flips


def _ratios(k: int, shift: float, seed: int) -> dict[tuple[str, int], float]:
    rng = np.random.default_rng(seed)
    return {(f"p{i:02d}", q): float(np.exp(rng.normal(shift, 0.3))) for i in range(k) for q in range(5)}


def test_the_evaluation_stores_the_floor_of_the_identity_permutation_p() -> None:
    ref = _ratios(10, 0.0, 0)
    p, floor = identity_ks_p(_ratios(10, 2.0, 1), ref)  # every identity far apart: p at its floor
    assert floor == pytest.approx(FLOOR_10) and p == pytest.approx(floor)
    p, floor = identity_ks_p(_ratios(10, 0.0, 2), ref)
    assert floor == pytest.approx(FLOOR_10) and p > floor
    assert identity_ks_p(_ratios(14, 2.0, 1), _ratios(14, 0.0, 0))[1] == pytest.approx(1 / 2001)  # Monte Carlo
    assert identity_ks_p({}, ref) == (None, None)


def _db(tmp_path: Path) -> Path:
    db = tmp_path / "r.sqlite"
    perm = {"retain": (1.0, FLOOR_10), "finetuned": (FLOOR_10, FLOOR_10), "ga": (0.0371, FLOOR_10)}
    with ResultsStore(db) as st:
        for model, (p, floor) in perm.items():
            m = metrics(0.5, 0.5, 0.5) | {"forget.ks_perm_p": p, "forget.ks_perm_p_floor": floor}
            role = model if model != "ga" else "unlearned"
            st.add_results_json(results_json(m), run="r", model=model, role=role, forget_split="forget10",
                                method="ga" if model == "ga" else None, final=True, config_hash=model)
    return db


def test_detail_table_shows_a_p_at_its_floor_as_at_most(tmp_path: Path) -> None:
    with ResultsStore(_db(tmp_path)) as st:
        t = detail_table(load_entries(st), "forget10")
    i = next(i for i, (label, _) in enumerate(t.rows) if label.split()[0] == "forget.ks_perm_p")
    texts = dict(zip([c.header for c in t.columns], t.cell_texts(i), strict=True))
    assert texts == {"Retain": "1.000", "Fine-tuned": "≤ 0.00195", "GA": "0.037"}
    cells = dict(zip([c.header for c in t.columns], t.rows[i][1], strict=True))
    assert isinstance(cells["Fine-tuned"], AtMost) and cells["Fine-tuned"] == FLOOR_10
    assert any("at its floor" in n for n in t.notes)
    assert "≤ 0.00195" in to_markdown(t) and r"$\leq$ 0.00195" in to_latex(t)
    row = next(r for r in to_csv(t).splitlines() if r.split(",")[0].split()[0] == "forget.ks_perm_p")
    assert row.split(",")[2] == str(FLOOR_10)  # the CSV keeps the exact number


def test_report_detail_section_has_the_at_most(tmp_path: Path) -> None:
    write_report(_db(tmp_path), tmp_path / "report")
    assert "≤ 0.00195" in (tmp_path / "report" / "report.md").read_text()
