"""The results store: every evaluation of a run in one embedded SQLite database.

One row per (run, evaluated model, checkpoint step, metric), with the method, the
forget split, the sweep variant, the config hash of the step that produced it and
the judge backend that scored it, and the metrics version and definitions it was
computed under (``fiubench.metrics.version``; 1 or NULL = before versioning).
``fiubench results`` queries it; the report is
built from it, so a report can always be rebuilt from ``results.sqlite`` alone.

Roles of an evaluated model:

* ``base``      -- the pretrained VLM before stage-1 fine-tuning (knows nobody);
* ``finetuned`` -- stage 1 on all identities (the starting point of unlearning);
* ``retain``    -- stage 1 on the retain identities only (the gold standard);
* ``unlearned`` -- a checkpoint (``step``) or the final model (``final``) of one
  unlearning run (method x forget split x variant).
"""

from __future__ import annotations

import csv
import io
import json
import math
import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from fiubench.errors import FiubenchError
from fiubench.metrics.version import version_of

ROLES = ("base", "finetuned", "retain", "unlearned")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS results (
    run TEXT NOT NULL,             -- run name (the run directory's name)
    model TEXT NOT NULL,           -- evaluated-model label, e.g. "ga/forget5/lr=1e-4"
    role TEXT NOT NULL,            -- base | finetuned | retain | unlearned
    method TEXT,                   -- unlearning method (NULL unless role = unlearned)
    forget_split TEXT NOT NULL DEFAULT '',  -- forget split the metrics refer to ('': none)
    variant TEXT NOT NULL DEFAULT '',  -- sweep variant, e.g. "lr=0.0001,scope=lora,seed=0"
    step INTEGER NOT NULL,         -- optimiser step of the checkpoint (0: start of unlearning)
    final INTEGER NOT NULL,        -- 1: the run's final model
    config_hash TEXT NOT NULL,     -- hash of everything that determined this evaluation
    metric TEXT NOT NULL,          -- flat metric name, e.g. "forget.ks_log10_p"
    value REAL,                    -- NULL: not computed (never silently 0); why in `undefined`
    higher_is_better INTEGER,      -- NULL: unknown
    judge TEXT,                    -- judge backend label, e.g. "similarity, offline"
    metrics_version INTEGER,       -- fiubench.metrics.version of the evaluation (1: before versioning)
    definitions TEXT,              -- JSON: how the numbers were defined, e.g. {"truth_ratio": "geometric"}
    created TEXT NOT NULL DEFAULT (datetime('now')),
    PRIMARY KEY (run, model, forget_split, variant, step, final, metric)
);
CREATE INDEX IF NOT EXISTS results_by_metric ON results (metric, method, forget_split);
CREATE TABLE IF NOT EXISTS plan (  -- what a run set out to evaluate (final models)
    run TEXT NOT NULL,
    model TEXT NOT NULL,
    role TEXT NOT NULL,
    method TEXT,
    forget_split TEXT NOT NULL DEFAULT '',
    variant TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (run, model, forget_split, variant)
);
-- identity-level bootstrap intervals of the headline figures of final models; a model
-- trained under several seeds is one row per metric (mean over seeds, seeds resampled)
CREATE TABLE IF NOT EXISTS intervals (
    run TEXT NOT NULL,
    model TEXT NOT NULL,           -- model group, e.g. "ga/forget5" (seeds merged)
    role TEXT NOT NULL,
    method TEXT,
    forget_split TEXT NOT NULL DEFAULT '',
    variant TEXT NOT NULL DEFAULT '',  -- sweep variant without the seed settings
    metric TEXT NOT NULL,
    estimate REAL,
    low REAL,
    high REAL,
    level REAL NOT NULL,
    n_seeds INTEGER NOT NULL,
    n_boot INTEGER NOT NULL,
    k TEXT,                        -- identities the interval rests on, e.g. "k=10 forget + 20 holdout"
    ci_method TEXT,                -- BCa | percentile | exact (no spread) | undefined
    PRIMARY KEY (run, model, forget_split, variant, metric)
);
-- differences a - b between two model groups: paired interval over identities and verdict
CREATE TABLE IF NOT EXISTS comparisons (
    run TEXT NOT NULL,
    forget_split TEXT NOT NULL DEFAULT '',
    model_a TEXT NOT NULL,
    model_b TEXT NOT NULL,
    metric TEXT NOT NULL,
    estimate REAL,
    low REAL,
    high REAL,
    level REAL NOT NULL,
    indistinguishable INTEGER,     -- 1: the interval includes 0
    k TEXT,
    margin REAL,                   -- equivalence margin (the metric's unit)
    p_differs REAL,                -- person-wise sign-flip permutation p
    p_differs_adjusted REAL,       -- Holm within (family, metric)
    p_equivalent REAL,             -- TOST p at +-margin (BCa)
    p_equivalent_adjusted REAL,
    verdict TEXT,                  -- better | worse | equivalent | undecided
    family TEXT,                   -- vs retain | vs best | pairs
    ci_method TEXT,
    PRIMARY KEY (run, forget_split, model_a, model_b, metric)
);
"""


@dataclass(frozen=True)
class ModelKey:
    """Which evaluated model a stored row is about: the identity columns the tables share."""

    run: str
    model: str
    role: str
    method: str | None
    forget_split: str | None
    variant: str


@dataclass(frozen=True)
class IntervalRow(ModelKey):
    """A headline figure of one (seed-merged) model with its bootstrap interval."""

    metric: str
    estimate: float | None
    low: float | None
    high: float | None
    level: float
    n_seeds: int
    n_boot: int
    k: str | None = None
    ci_method: str | None = None


@dataclass(frozen=True)
class ComparisonRow:
    """The paired bootstrap interval of model_a - model_b on one figure."""

    run: str
    forget_split: str | None
    model_a: str
    model_b: str
    metric: str
    estimate: float | None
    low: float | None
    high: float | None
    level: float
    indistinguishable: bool | None
    k: str | None = None
    margin: float | None = None
    p_differs: float | None = None
    p_differs_adjusted: float | None = None
    p_equivalent: float | None = None
    p_equivalent_adjusted: float | None = None
    verdict: str | None = None
    family: str | None = None
    ci_method: str | None = None


@dataclass(frozen=True)
class ResultRow(ModelKey):
    """One stored number."""

    step: int
    final: bool
    config_hash: str
    metric: str
    value: float | None
    higher_is_better: bool | None
    judge: str | None
    metrics_version: int | None = None
    definitions: str | None = None  # JSON text
    undefined: str | None = None  # why ``value`` is NULL: "not computed", "NaN", "+inf", "-inf"


COLUMNS = tuple(f.name for f in fields(ResultRow))
# Columns added after the first release of the store: older databases get them on open.
_ADDED_COLUMNS = {"metrics_version": "INTEGER", "definitions": "TEXT", "undefined": "TEXT"}
_ADDED_ELSEWHERE = {
    "intervals": {"k": "TEXT", "ci_method": "TEXT"},
    "comparisons": {"k": "TEXT", "margin": "REAL", "p_differs": "REAL", "p_differs_adjusted": "REAL",
                    "p_equivalent": "REAL", "p_equivalent_adjusted": "REAL", "verdict": "TEXT",
                    "family": "TEXT", "ci_method": "TEXT"},
}


def _checked(value: Any, what: str) -> tuple[float | None, str | None]:
    """(number or NULL, why NULL). NaN and +-inf are stored as NULL *with their name* (SQLite
    and CSV readers choke on them); something that is not a number is an error."""
    if value is None:
        return None, "not computed"
    if isinstance(value, bool):
        return float(value), None
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise FiubenchError(f"results store: {what} is not a number ({value!r})") from None
    if math.isnan(v):
        return None, "NaN"
    if math.isinf(v):
        return None, "+inf" if v > 0 else "-inf"
    return v, None


def _clean(value: Any, what: str = "a value") -> float | None:
    return _checked(value, what)[0]


class ResultsStore:
    """An SQLite file of evaluation results (created on first use)."""

    def __init__(self, path: str | Path, *, create: bool = True) -> None:
        """``create=False`` opens an existing store read-only (``fiubench results``,
        ``fiubench report``): a file that is not a fiubench store is refused, never
        rewritten."""
        self.path = Path(path)
        self.readonly = not create
        if not create:
            if not self.path.is_file():
                raise FiubenchError(f"results database {self.path} does not exist")
            try:
                self._con = sqlite3.connect(f"{self.path.resolve().as_uri()}?mode=ro", uri=True)
                cols = {r[1] for r in self._con.execute("PRAGMA table_info(results)")}
            except sqlite3.DatabaseError as e:
                raise FiubenchError(f"{self.path} is not a fiubench results store (not SQLite: {e})") from None
            if not set(COLUMNS) - set(_ADDED_COLUMNS) <= cols:
                self._con.close()
                what = "an empty file" if self.path.stat().st_size == 0 else "SQLite without fiubench's results table"
                raise FiubenchError(f"{self.path} is not a fiubench results store ({what})")
            missing = self._missing_columns(cols)
            if missing:  # an older store: upgraded in memory, the file stays as it is
                mem = sqlite3.connect(":memory:")
                self._con.backup(mem)
                self._con.close()
                self._con = mem
                with mem:
                    for table, col, typ in missing:
                        mem.execute(f"ALTER TABLE {table} ADD COLUMN {col} {typ}")
            self._has_plan = bool(list(self._con.execute("PRAGMA table_info(plan)")))
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._con = sqlite3.connect(self.path)
            tables = {r[0] for r in self._con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
            if tables and "results" not in tables:
                raise FiubenchError(f"{self.path} is an SQLite file of something else (tables: "
                                    f"{', '.join(sorted(tables))}); refusing to write into it")
            self._con.executescript(_SCHEMA)
            have = {r[1] for r in self._con.execute("PRAGMA table_info(results)")}
            with self._con:
                for table, col, typ in self._missing_columns(have):
                    self._con.execute(f"ALTER TABLE {table} ADD COLUMN {col} {typ}")
        except sqlite3.DatabaseError as e:
            raise FiubenchError(f"{self.path} is not a fiubench results database: {e}") from None
        self._has_plan = True

    def _missing_columns(self, results_cols: set[str]) -> list[tuple[str, str, str]]:
        """(table, column, type) added since a store was written (tables it lacks are skipped)."""
        out = [("results", c, t) for c, t in _ADDED_COLUMNS.items() if c not in results_cols]
        for table, added in _ADDED_ELSEWHERE.items():
            have = {r[1] for r in self._con.execute(f"PRAGMA table_info({table})")}
            out += [(table, c, t) for c, t in added.items() if have and c not in have]
        return out

    def close(self) -> None:
        self._con.close()

    def __enter__(self) -> ResultsStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ----------------------------------------------------------------- writing
    def add(
        self,
        metrics: Mapping[str, Any],
        *,
        run: str,
        model: str,
        role: str,
        config_hash: str,
        method: str | None = None,
        forget_split: str | None = None,
        variant: str = "",
        step: int = 0,
        final: bool = False,
        metric_info: Mapping[str, Mapping[str, Any]] | None = None,
        judge: str | None = None,
        metrics_version: int | None = None,
        definitions: Mapping[str, Any] | None = None,
    ) -> int:
        """Store one evaluation (flat metric name -> value); replaces an earlier copy.

        Returns the number of rows written. Re-adding the same evaluation (a rerun
        of the pipeline) overwrites instead of duplicating.
        """
        if role not in ROLES:
            raise FiubenchError(f"results store: role {role!r} is not one of {', '.join(ROLES)}")
        info = metric_info or {}
        defs = None if definitions is None else json.dumps(dict(definitions), sort_keys=True)
        rows = []
        for name, value in metrics.items():
            hib = info.get(name, {}).get("higher_is_better")
            v, why = _checked(value, f"metric {name} of {model}")
            rows.append((
                run, model, role, method, forget_split or "", variant, int(step), int(bool(final)),
                config_hash, str(name), v, None if hib is None else int(bool(hib)), judge,
                metrics_version, defs, why,
            ))
        with self._con:
            self._con.executemany(
                f"INSERT OR REPLACE INTO results ({', '.join(COLUMNS)}) "
                f"VALUES ({', '.join('?' * len(COLUMNS))})",
                rows,
            )
        return len(rows)

    def add_results_json(self, results: Mapping[str, Any], **keys: Any) -> int:
        """Store an evaluation given as the evaluator's ``results.json`` dict.

        Flat metrics plus the aggregates ``model_utility`` and ``forget_quality``
        (when they are not already among the metrics).
        """
        metrics = dict(results.get("metrics", {}))
        for agg in ("model_utility", "forget_quality"):
            if agg not in metrics and agg in results.get("aggregates", {}):
                metrics[agg] = results["aggregates"][agg]
        judge = results.get("judge")
        if isinstance(judge, Mapping) and judge.get("backend") not in (None, "none") and "calls" in judge:
            # counted per evaluation so that the report can say "N of M judge replies malformed"
            metrics.setdefault("judge.malformed", judge.get("malformed", 0))
            metrics.setdefault("judge.replies", judge.get("replies", judge.get("calls", 0)))
        keys.setdefault("metric_info", results.get("metric_info"))
        if "judge" not in keys:
            keys["judge"] = judge_label(results.get("judge"))
        keys.setdefault("metrics_version", version_of(results))
        keys.setdefault("definitions", results.get("definitions"))
        return self.add(metrics, **keys)

    def delete_run(self, run: str) -> None:
        with self._con:
            for table in ("results", "plan", "intervals", "comparisons"):
                self._con.execute(f"DELETE FROM {table} WHERE run = ?", (run,))

    def set_plan(self, run: str, planned: Iterable[Mapping[str, Any]]) -> None:
        """Record the final models ``run`` will evaluate; those without results are
        shown as incomplete by the report."""
        rows = [(run, p["model"], p["role"], p.get("method"), p.get("forget_split") or "", p.get("variant") or "")
                for p in planned]
        with self._con:
            self._con.execute("DELETE FROM plan WHERE run = ?", (run,))
            self._con.executemany("INSERT OR REPLACE INTO plan VALUES (?, ?, ?, ?, ?, ?)", rows)

    def plan(self, run: str | None = None) -> list[dict[str, Any]]:
        """The planned final models (of ``run``, or of every run); [] for stores without a plan."""
        if not self._has_plan:
            return []
        sql = "SELECT run, model, role, method, forget_split, variant FROM plan"
        rows = self._con.execute(sql + (" WHERE run = ?" if run else ""), (run,) if run else ())
        keys = ("run", "model", "role", "method", "forget_split", "variant")
        return [dict(zip(keys, r, strict=True)) for r in rows]

    def add_intervals(self, rows: Iterable[IntervalRow]) -> None:
        self._insert("intervals", IntervalRow, rows)

    def add_comparisons(self, rows: Iterable[ComparisonRow]) -> None:
        self._insert("comparisons", ComparisonRow, rows)

    def _insert(self, table: str, cls: type, rows: Iterable[Any]) -> None:
        cols = [f.name for f in fields(cls)]
        data = []
        for r in rows:
            vals = []
            for c in cols:
                v = getattr(r, c)
                if c in ("estimate", "low", "high", "margin") or c.startswith("p_"):
                    v = _clean(v, f"{table}.{c}")
                elif c == "forget_split":
                    v = v or ""
                elif isinstance(v, bool):
                    v = int(v)
                vals.append(v)
            data.append(tuple(vals))
        with self._con:
            self._con.executemany(
                f"INSERT OR REPLACE INTO {table} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})", data
            )

    def intervals(self, run: str | None = None) -> list[IntervalRow]:
        return [IntervalRow(**d) for d in self._select("intervals", IntervalRow, run)]

    def comparisons(self, run: str | None = None) -> list[ComparisonRow]:
        out = []
        for d in self._select("comparisons", ComparisonRow, run):
            d["indistinguishable"] = None if d["indistinguishable"] is None else bool(d["indistinguishable"])
            out.append(ComparisonRow(**d))
        return out

    def _select(self, table: str, cls: type, run: str | None) -> list[dict[str, Any]]:
        if not list(self._con.execute(f"PRAGMA table_info({table})")):
            return []  # a read-only store written before the table existed
        cols = [f.name for f in fields(cls)]
        sql = f"SELECT {', '.join(cols)} FROM {table}" + (" WHERE run = ?" if run is not None else "")
        out = []
        for r in self._con.execute(sql + " ORDER BY rowid", () if run is None else (run,)):
            d = dict(zip(cols, r, strict=True))
            d["forget_split"] = d["forget_split"] or None
            out.append(d)
        return out

    # ----------------------------------------------------------------- reading
    def rows(
        self,
        *,
        run: str | Sequence[str] | None = None,
        method: str | Sequence[str] | None = None,
        forget_split: str | Sequence[str] | None = None,
        metric: str | Sequence[str] | None = None,
        role: str | Sequence[str] | None = None,
        final_only: bool = False,
    ) -> list[ResultRow]:
        """Rows matching every given filter (a filter may be one value or a list)."""
        where, params = [], []
        for col, val in (
            ("run", run), ("method", method), ("forget_split", forget_split),
            ("metric", metric), ("role", role),
        ):
            if val is None:
                continue
            vals = [val] if isinstance(val, str) else list(val)
            where.append(f"{col} IN ({', '.join('?' * len(vals))})")
            params.extend(vals)
        if final_only:
            where.append("final = 1")
        sql = f"SELECT {', '.join(COLUMNS)} FROM results"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY run, forget_split, role, method, variant, step, final, metric"
        out = []
        for r in self._con.execute(sql, params):
            d = dict(zip(COLUMNS, r, strict=True))
            d["final"] = bool(d["final"])
            d["forget_split"] = d["forget_split"] or None
            d["higher_is_better"] = None if d["higher_is_better"] is None else bool(d["higher_is_better"])
            out.append(ResultRow(**d))
        return out

    def metric_versions(self, run: str | None = None) -> list[int | None]:
        """The metrics versions stored (for ``run``); more than one means mixed results."""
        sql = "SELECT DISTINCT metrics_version FROM results" + (" WHERE run = ?" if run else "") + " ORDER BY 1"
        return [r[0] for r in self._con.execute(sql, (run,) if run else ())]

    def distinct(self, column: str) -> list[Any]:
        if column not in COLUMNS:
            raise FiubenchError(f"results store: no column {column!r}")
        return [r[0] for r in self._con.execute(f"SELECT DISTINCT {column} FROM results ORDER BY 1")]


def judge_label(judge: Any) -> str | None:
    """A short human label of a judge record, e.g. ``"similarity, offline"``."""
    if judge is None:
        return None
    if isinstance(judge, str):
        return judge
    if isinstance(judge, Mapping):
        if judge.get("label"):
            return str(judge["label"])
        name = judge.get("backend") or judge.get("name") or judge.get("kind")
        if name is None:
            return None
        parts = [str(name)]
        if judge.get("model"):
            parts[0] += f" {judge['model']}"
        if judge.get("offline") is True:
            parts.append("offline")
        return ", ".join(parts)
    return str(judge)


def rows_to_csv(rows: Iterable[ResultRow], path: str | Path | None = None) -> str:
    """CSV text of ``rows`` (written atomically to ``path`` when given)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(COLUMNS)
    for r in rows:
        w.writerow(["" if getattr(r, c) is None else getattr(r, c) for c in COLUMNS])
    text = buf.getvalue()
    if path is not None:
        from fiubench.utils.io import atomic_write_text

        atomic_write_text(path, text)
    return text
