"""Evaluations of an older metrics version are redone by `fiubench run`, never mixed in."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import fiubench.metrics.version as version
from fiubench.errors import FiubenchError
from fiubench.eval.config import EvalConfig
from fiubench.pipeline.cache import StepResult, step_key
from fiubench.pipeline.results import store_eval
from fiubench.pipeline.steps import eval_key_config
from fiubench.report.store import ResultsStore


def test_eval_step_key_changes_with_the_metrics_version(monkeypatch: pytest.MonkeyPatch) -> None:
    inputs = {"data": "d", "model": "m"}
    now = step_key("eval/x", eval_key_config(EvalConfig()), inputs)
    assert now == step_key("eval/x", eval_key_config(EvalConfig()), inputs)
    monkeypatch.setattr(version, "METRICS_VERSION", version.METRICS_VERSION + 1)
    assert step_key("eval/x", eval_key_config(EvalConfig()), inputs) != now


def test_store_refuses_an_evaluation_of_another_version(tmp_path: Path) -> None:
    step = tmp_path / "eval-step"
    (step / "eval").mkdir(parents=True)
    (step / "eval" / "results.json").write_text(json.dumps({"metrics": {"forget_quality": 0.5}, "aggregates": {}}))
    res = StepResult("eval/x", "k", step, ran=False)
    with ResultsStore(tmp_path / "r.sqlite") as st:
        with pytest.raises(FiubenchError, match=f"metrics version 1.*version {version.METRICS_VERSION}"):
            store_eval(st, res, run="r", model="m", role="finetuned", split="forget5", variant="")
        assert st.rows() == []
        (step / "eval" / "results.json").write_text(json.dumps(
            {"metrics_version": version.METRICS_VERSION, "definitions": {"truth_ratio": "geometric"},
             "metrics": {"forget_quality": 0.5}, "aggregates": {}}))
        store_eval(st, res, run="r", model="m", role="finetuned", split="forget5", variant="")
        assert [r.metrics_version for r in st.rows()] == [version.METRICS_VERSION]
