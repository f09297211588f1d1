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


def gate_step(p: Any, label: str, split: str, retain_eval: Any, finetuned_eval: Any) -> Any:
    """The gate of learning variant ``label`` on ``split`` (``p``: the run's planner); the
    unlearning steps of that split list it among their dependencies."""
    import dataclasses
    import functools

    from fiubench.pipeline.graph import Step

    cfg = p.cfg
    rule = cfg.gate.rule()
    fn = functools.partial(run_gate, finetuned_eval=p.cache.path(finetuned_eval.name, finetuned_eval.key) / "eval",
                           retain_eval=p.cache.path(retain_eval.name, retain_eval.key) / "eval", split=split,
                           rule=rule, override=cfg.gate.override, epochs=cfg.learn.train.epochs)
    name = "/".join(x for x in ("gate", label, split) if x)
    return Step(name, {"rule": dataclasses.asdict(rule), "override": cfg.gate.override, "split": split}, fn,
                inputs={"finetuned": finetuned_eval.key, "retain": retain_eval.key},
                deps=[retain_eval, finetuned_eval], meta={"gate": {"split": split, "variant": label}})


def store_gates(store: Any, done: Any, run: str, log: Any = None) -> None:
    """Each gate's ``gate.*`` metrics on its fine-tuned model's stored row; an overridden
    gate's warning goes to ``log`` (every run: the warning stays visible)."""
    for step, res in done:
        g = step.meta.get("gate")
        if not g or not (res.path / GATE_FILE).is_file():
            continue
        result, warning = load_gate(res.path)
        if warning and log is not None:
            log(warning)
        store.add(gate_metrics(result, warning), run=run, model="finetuned", role="finetuned", config_hash=res.key,
                  method=None, forget_split=g["split"], variant=g["variant"], step=0, final=False,
                  metric_info={k: {"higher_is_better": True} for k in ("gate.fraction_learnt", "gate.passed")})
