"""The SQLite results store: one row per run x checkpoint x metric, idempotent, filterable."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from fiubench.errors import FiubenchError
from fiubench.report.store import ResultsStore, rows_to_csv


def test_rows_filters_and_nan_becomes_null(db: Path) -> None:
    with ResultsStore(db) as st:
        rows = st.rows(method="ga", forget_split="forget5", metric="forget_quality")
        assert [(r.step, r.value, r.final) for r in rows] == [(6, 0.3, False), (12, 0.6, False), (18, 0.8, True)]
        assert all(r.judge == "similarity, offline" for r in rows)
        tr = st.rows(metric="forget.truth_ratio", role="finetuned")
        assert tr and all(r.value is None for r in tr)  # NaN is stored as NULL, not 0 ...
        assert all(r.undefined == "NaN" for r in tr)  # ... and says so
        em = st.rows(metric="forget.exact_match", role="retain", forget_split="forget5")
        assert em[0].higher_is_better is False
        assert st.rows(method=["ga", "kl"], final_only=True, metric="model_utility", forget_split="forget10")[0].method == "ga"
        assert set(st.distinct("method")) == {None, "ga", "kl"}


def test_readding_replaces_instead_of_duplicating(db: Path) -> None:
    with ResultsStore(db) as st:
        n = len(st.rows())
        st.add({"model_utility": 0.11}, run="r1", model="finetuned", role="finetuned",
               forget_split="forget5", config_hash="f")
        st.add({"model_utility": 0.12}, run="r1", model="base", role="base", config_hash="b")
        st.add({"model_utility": 0.13}, run="r1", model="base", role="base", config_hash="b")
        assert len(st.rows()) == n + 1  # the split-less base row replaced, not duplicated
        assert st.rows(role="finetuned", forget_split="forget5", metric="model_utility")[0].value == 0.11
        assert st.rows(role="base", metric="model_utility", forget_split=None)
        with pytest.raises(FiubenchError, match="role"):
            st.add({"x": 1.0}, run="r1", model="m", role="nonsense", config_hash="h")


def test_csv_export(db: Path, tmp_path: Path) -> None:
    with ResultsStore(db) as st:
        rows = st.rows(method="kl")
    text = rows_to_csv(rows, tmp_path / "out.csv")
    lines = (tmp_path / "out.csv").read_text().splitlines()
    assert text.splitlines() == lines
    assert lines[0].startswith("run,model,role,method,forget_split")
    assert len(lines) == len(rows) + 1
    assert not any(math.isnan(r.value) for r in rows if r.value is not None)


def test_missing_or_bad_database_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(FiubenchError, match="does not exist"):
        ResultsStore(tmp_path / "nope.sqlite", create=False)
    bad = tmp_path / "bad.sqlite"
    bad.write_text("not a database at all" * 100)
    with pytest.raises(FiubenchError, match="not a fiubench results database"):
        ResultsStore(bad)


def test_old_database_gains_the_version_columns(tmp_path: Path) -> None:
    """A results.sqlite written before metrics versioning opens; its rows read as version 1."""
    import sqlite3

    path = tmp_path / "old.sqlite"
    con = sqlite3.connect(path)
    con.executescript(
        "CREATE TABLE results (run TEXT NOT NULL, model TEXT NOT NULL, role TEXT NOT NULL, method TEXT, "
        "forget_split TEXT NOT NULL DEFAULT '', variant TEXT NOT NULL DEFAULT '', step INTEGER NOT NULL, "
        "final INTEGER NOT NULL, config_hash TEXT NOT NULL, metric TEXT NOT NULL, value REAL, "
        "higher_is_better INTEGER, judge TEXT, created TEXT NOT NULL DEFAULT (datetime('now')), "
        "PRIMARY KEY (run, model, forget_split, variant, step, final, metric));"
        "INSERT INTO results (run, model, role, step, final, config_hash, metric, value) "
        "VALUES ('r', 'finetuned', 'finetuned', 0, 0, 'h', 'model_utility', 0.5);"
    )
    con.commit()
    con.close()
    with ResultsStore(path) as st:
        rows = st.rows()
        assert rows[0].metrics_version is None and st.metric_versions() == [None]
        st.add({"model_utility": 0.6}, run="r", model="new", role="finetuned", config_hash="n",
               metrics_version=2, definitions={"truth_ratio": "geometric"})
        assert st.metric_versions() == [None, 2]
        new = st.rows(metric="model_utility", run="r")
        assert {r.model: r.metrics_version for r in new} == {"finetuned": None, "new": 2}
        assert next(r.definitions for r in new if r.model == "new") == '{"truth_ratio": "geometric"}'


def test_undefined_values_say_why_and_non_numbers_are_refused(tmp_path: Path) -> None:
    with ResultsStore(tmp_path / "r.sqlite") as st:
        st.add({"a": float("inf"), "b": -math.inf, "c": None, "d": 0.5}, run="r", model="m", role="finetuned",
               config_hash="h")
        why = {r.metric: (r.value, r.undefined) for r in st.rows()}
        assert why == {"a": (None, "+inf"), "b": (None, "-inf"), "c": (None, "not computed"), "d": (0.5, None)}
        with pytest.raises(FiubenchError, match="metric e of m is not a number"):
            st.add({"e": "n/a"}, run="r", model="m", role="finetuned", config_hash="h")
