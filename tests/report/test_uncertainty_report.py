"""Intervals and indistinguishable differences in the report (from the store's tables)."""

from __future__ import annotations

import csv
from pathlib import Path

from fiubench.report.build import write_report
from fiubench.report.store import ComparisonRow, IntervalRow, ResultsStore

from .report_synthetic import populate


def _add_uncertainty(db: Path, run: str = "r1") -> None:
    with ResultsStore(db) as st:
        rows = []
        for split in ("forget5", "forget10"):
            for model, role, method in (("retain", "retain", None), ("finetuned", "finetuned", None),
                                        (f"ga/{split}", "unlearned", "ga"), (f"kl/{split}", "unlearned", "kl")):
                for metric, (est, lo, hi) in {"model_utility": (0.5, 0.41, 0.63),
                                              "forget.exact_match": (0.2, 0.1, 0.3)}.items():
                    rows.append(IntervalRow(run, model, role, method, split, "", metric, est, lo, hi, 0.95, 1, 100))
        st.add_intervals(rows)
        st.add_comparisons([
            ComparisonRow(run, "forget5", "ga/forget5", "retain", "model_utility", -0.1, -0.2, -0.05, 0.95, False),
            ComparisonRow(run, "forget5", "ga/forget5", "kl/forget5", "model_utility", 0.01, -0.05, 0.07, 0.95, True),
        ])


def test_report_shows_intervals_and_marks_indistinguishable(tmp_path: Path) -> None:
    db = populate(tmp_path / "results.sqlite")
    _add_uncertainty(db)
    index = write_report(db, tmp_path / "report", run="r1")
    md = (index.parent / "report.md").read_text()
    assert "50.0 [41.0, 63.0]" in md  # MU of every model with its interval
    assert "GA − KL" in md and "+1.0 [-5.0, +7.0] ≈" in md
    assert "GA − Retain" in md and "-10.0 [-20.0, -5.0] |" in md  # distinguishable: no ≈
    assert "bootstrap interval over identities" in md
    with (index.parent / "tables" / "main_forget5.csv").open() as f:
        header, *rows = list(csv.reader(f))
    assert "MU low" in header and "MU high" in header
    ga = next(r for r in rows if r[0] == "GA")
    assert float(ga[header.index("MU low")]) == 0.41
    html = index.read_text()
    assert "≈" in html and "[41.0, 63.0]" in html


def test_rerun_of_a_run_replaces_its_intervals(tmp_path: Path) -> None:
    db = populate(tmp_path / "results.sqlite")
    _add_uncertainty(db)
    with ResultsStore(db) as st:
        assert st.intervals("r1") and st.comparisons("r1")
        st.delete_run("r1")
        assert not st.intervals("r1") and not st.comparisons("r1")


def test_report_without_intervals_still_builds(tmp_path: Path) -> None:
    db = populate(tmp_path / "results.sqlite")
    md = (write_report(db, tmp_path / "report", run="r1").parent / "report.md").read_text()
    assert "Verdicts:" not in md and "interval over identities" not in md


def test_report_shows_verdicts_k_and_keeps_every_pair_in_the_csv(tmp_path: Path) -> None:
    db = populate(tmp_path / "results.sqlite")
    with ResultsStore(db) as st:
        st.add_intervals([IntervalRow("r1", m, role, meth, "forget5", "", "forget.exact_match", 0.2, 0.1, 0.3,
                                      0.95, 1, 100, k="k=10", ci_method="BCa")
                          for m, role, meth in (("retain", "retain", None), ("ga/forget5", "unlearned", "ga"))])
        common = dict(level=0.95, k="k=10", margin=0.05, ci_method="BCa")
        st.add_comparisons([
            ComparisonRow("r1", "forget5", "ga/forget5", "retain", "forget.exact_match", 0.3, 0.2, 0.4,
                          indistinguishable=False, p_differs=0.001, p_differs_adjusted=0.002, p_equivalent=0.9,
                          p_equivalent_adjusted=0.9, verdict="worse", family="vs retain", **common),
            ComparisonRow("r1", "forget5", "kl/forget5", "ga/forget5", "forget.exact_match", 0.01, -0.02, 0.03,
                          indistinguishable=True, p_differs=0.6, p_differs_adjusted=0.6, p_equivalent=0.01,
                          p_equivalent_adjusted=0.02, verdict="equivalent", family="vs best", **common),
            ComparisonRow("r1", "forget5", "kl/forget5", "npo/forget5", "forget.exact_match", 0.0, -0.1, 0.1,
                          indistinguishable=True, p_differs=0.9, p_differs_adjusted=1.0, p_equivalent=0.3,
                          p_equivalent_adjusted=0.6, verdict="undecided", family="pairs", **common),
        ])
    index = write_report(db, tmp_path / "report", run="r1")
    md = (index.parent / "report.md").read_text()
    assert "EM (k=10)" in md  # k next to the intervals of the main table and the verdicts
    assert "GA − Retain (vs retain)" in md and "+30.0 [+20.0, +40.0] worse" in md
    assert "KL − GA (vs best)" in md and "+1.0 [-2.0, +3.0] ≈" in md
    assert "KL − NPO" not in md  # other pairs: only in the CSV
    with (index.parent / "tables" / "comparisons_all_forget5.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert {(r["model_a"], r["model_b"], r["verdict"]) for r in rows} == {
        ("ga/forget5", "retain", "worse"), ("kl/forget5", "ga/forget5", "equivalent"),
        ("kl/forget5", "npo/forget5", "undecided")}
    assert rows[0]["p_differs_adjusted"] == "0.002" and rows[0]["k"] == "k=10"
