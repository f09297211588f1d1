"""The stage-1 gate as a pipeline step (``fiubench.metrics.gate``).

After the fine-tuned and retain models are evaluated on a forget split, the gate compares
them person by person. Its step writes ``gate.json``; every unlearning step of that split
depends on it, so a failing gate stops the run before any unlearning (an error naming the
identities and suggesting more stage-1 epochs) unless ``gate.override`` is set, in which
case the run goes on and the log and the report carry the warning. The gate's figures are
stored on the fine-tuned model's rows (``gate.*``) for the report.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fiubench.metrics.gate import GateResult, GateRule, enforce, stage1_gate
from fiubench.utils.io import atomic_write_json

GATE_FILE = "gate.json"


def run_gate(d: Path, *, finetuned_eval: Path, retain_eval: Path, split: str, rule: GateRule, override: bool,
             epochs: int | None = None) -> dict[str, Any]:
    """The gate step's function: raises ``Stage1NotLearnt`` when it fails and is not overridden."""
    from fiubench.eval.result import EvalResult

    ft = EvalResult.load(finetuned_eval).records
    rt = EvalResult.load(retain_eval).records
    result = stage1_gate(ft, rt, split, rule)
    warning = enforce(result, override, epochs)  # raises before anything is written
    atomic_write_json(d / GATE_FILE, {**result.as_dict(), "overridden": warning is not None, "warning": warning})
    return {"fraction_learnt": result.fraction_learnt, "passed": result.passed, "warning": warning}


def load_gate(step_dir: Path) -> tuple[GateResult, str | None]:
    data = json.loads((step_dir / GATE_FILE).read_text(encoding="utf-8"))
    return GateResult.from_dict(data), data.get("warning")


def gate_metrics(result: GateResult, warning: str | None) -> dict[str, float]:
    """The flat ``gate.*`` metrics stored with the fine-tuned model (report.stage1 reads them)."""
    return {"gate.fraction_learnt": result.fraction_learnt, "gate.n_identities": float(len(result.identities)),
            "gate.passed": float(result.passed), "gate.overridden": float(warning is not None)}
