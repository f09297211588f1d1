"""EvalResult: what an evaluation produces, and its on-disk form.

Directory layout (written atomically):
    results.json      {"metrics_version", "definitions", "metrics", "metric_info", "aggregates",
                       "judge", "provenance", "engine"}
    per_sample.jsonl  one record per QA / visual question (see eval.compute), so every
                      metric can be recomputed and the retain model's truth ratios
                      reused as the KS reference.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fiubench.errors import DataError
from fiubench.eval.compute import Record, RetainReference, forget_truth_ratios, mia_aucs
from fiubench.metrics.version import METRICS_VERSION, UNVERSIONED
from fiubench.utils.io import atomic_dir, atomic_write_json

RESULTS_FILE = "results.json"
SAMPLES_FILE = "per_sample.jsonl"


@dataclass
class EvalResult:
    metrics: dict[str, float | None]
    metric_info: dict[str, dict[str, Any]]
    aggregates: dict[str, Any]
    judge: dict[str, Any]
    provenance: dict[str, Any]
    records: list[Record] = field(default_factory=list)
    engine: dict[str, Any] = field(default_factory=dict)
    # How the numbers were defined (fiubench.metrics.version): results of different
    # versions or definitions are never compared silently.
    metrics_version: int = METRICS_VERSION
    definitions: dict[str, Any] = field(default_factory=dict)

    @property
    def forget_split(self) -> str | None:
        cfg = (self.provenance or {}).get("config") or {}
        return cfg.get("forget")

    def forget_truth_ratios(self) -> dict[tuple[str, int], float]:
        return forget_truth_ratios(self.records)

    @property
    def truth_ratio_mean(self) -> str | None:
        """The truth-ratio definition of these results (None: not recorded)."""
        if "truth_ratio" in self.definitions:
            return self.definitions["truth_ratio"]
        # Unversioned results recorded it only in the evaluation config.
        return ((self.provenance or {}).get("config") or {}).get("truth_ratio_mean")

    def as_reference(self) -> RetainReference:
        """These results as the KS / privacy-leak reference of another evaluation."""
        return RetainReference(
            self.forget_truth_ratios(), self.truth_ratio_mean, self.metrics_version, mia_aucs(self.metrics)
        )

    def summary(self) -> dict[str, Any]:
        return {
            "metrics_version": self.metrics_version,
            "definitions": self.definitions,
            "metrics": self.metrics,
            "metric_info": self.metric_info,
            "aggregates": self.aggregates,
            "judge": self.judge,
            "provenance": self.provenance,
            "engine": self.engine,
        }

    def write_into(self, d: Path) -> None:
        atomic_write_json(d / RESULTS_FILE, self.summary())
        lines = "".join(json.dumps(r, separators=(",", ":")) + "\n" for r in self.records)
        (d / SAMPLES_FILE).write_text(lines, encoding="utf-8")

    def save(self, out: str | Path, overwrite: bool = False) -> Path:
        with atomic_dir(out, overwrite=overwrite) as tmp:
            self.write_into(tmp)
        return Path(out)

    @classmethod
    def load(cls, path: str | Path) -> EvalResult:
        path = Path(path)
        d = path.parent if path.name == RESULTS_FILE else path
        rf, sf = d / RESULTS_FILE, d / SAMPLES_FILE
        if not rf.is_file():
            raise DataError(f"{d}: not an evaluation result ({RESULTS_FILE} missing)")
        try:
            data = json.loads(rf.read_text(encoding="utf-8"))
        except json.JSONDecodeError as e:
            raise DataError(f"{rf}: invalid JSON ({e.msg} at line {e.lineno})") from None
        records: list[Record] = []
        if sf.is_file():
            for i, line in enumerate(sf.read_text(encoding="utf-8").splitlines(), 1):
                if line.strip():
                    try:
                        records.append(json.loads(line))
                    except json.JSONDecodeError as e:
                        raise DataError(f"{sf}:{i}: invalid JSON ({e.msg})") from None
        missing = [k for k in ("metrics", "aggregates", "provenance") if k not in data]
        if missing:
            raise DataError(f"{rf}: missing field(s) {', '.join(missing)}")
        return cls(
            metrics=data["metrics"], metric_info=data.get("metric_info", {}), aggregates=data["aggregates"],
            judge=data.get("judge", {}), provenance=data["provenance"], records=records,
            engine=data.get("engine", {}),
            metrics_version=int(data.get("metrics_version") or UNVERSIONED),
            definitions=data.get("definitions") or {},
        )
