"""The stage-1 gate step (pipeline.stage1) on saved evaluations: a failing gate raises before
writing anything, an overridden one writes its warning, and its figures reach the store's
``gate.*`` metrics."""

from __future__ import annotations

from pathlib import Path

import pytest

from fiubench.eval.result import EvalResult
from fiubench.metrics.gate import GateRule, Stage1NotLearnt
from fiubench.pipeline.stage1 import GATE_FILE, gate_metrics, load_gate, run_gate


def _save(path: Path, per_person: dict[str, tuple[float, float]]) -> Path:
    records = [{"kind": "qa", "split": "forget", "unique_id": u, "qa_index": i, "exact_match": em, "answer_nll": nll}
               for u, (em, nll) in per_person.items() for i in range(3)]
    return EvalResult(metrics={}, metric_info={}, aggregates={}, judge={}, provenance={}, records=records).save(path)


def test_gate_step_stops_or_warns(tmp_path: Path) -> None:
    rt = _save(tmp_path / "rt", {"a": (0.0, 3.0), "b": (0.0, 3.0)})
    half = _save(tmp_path / "ft", {"a": (1.0, 0.2), "b": (0.0, 2.9)})
    out = tmp_path / "gate"
    out.mkdir()
    with pytest.raises(Stage1NotLearnt, match=r"1 of 2 .*identities b .*learn\.train\.epochs \(now 1\)"):
        run_gate(out, finetuned_eval=half, retain_eval=rt, split="forget10", rule=GateRule(), override=False,
                 epochs=1)
    assert not (out / GATE_FILE).exists()
    res = run_gate(out, finetuned_eval=half, retain_eval=rt, split="forget10", rule=GateRule(), override=True)
    assert res["passed"] is False and res["warning"].startswith("WARNING")
    result, warning = load_gate(out)
    m = gate_metrics(result, warning)
    assert m == {"gate.fraction_learnt": 0.5, "gate.n_identities": 2.0, "gate.passed": 0.0, "gate.overridden": 1.0}
    full = _save(tmp_path / "ft2", {"a": (1.0, 0.2), "b": (0.9, 0.4)})
    assert run_gate(out, finetuned_eval=full, retain_eval=rt, split="forget10", rule=GateRule(),
                    override=False)["warning"] is None


def test_gate_and_requests_options_are_checked_before_anything_runs() -> None:
    from fiubench.errors import ConfigError
    from fiubench.presets import load_run_config

    assert load_run_config("smoke").gate.override is True  # its 2-epoch stage 1 learns nobody
    assert load_run_config("tiny").gate.override is False and load_run_config("tiny").unlearn.requests == 1
    with pytest.raises(ConfigError, match="run.unlearn.requests"):
        load_run_config("smoke", overrides={"unlearn": {"requests": 0}}).validate()
    with pytest.raises(ConfigError, match="run.gate.min_learnt"):
        load_run_config("smoke", overrides={"gate": {"min_learnt": 1.5}}).validate()
