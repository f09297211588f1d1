"""Sequential deletion requests and the stage-1 gate in `fiubench run`, end to end on the smoke
preset (slow): two requests with results per request, a kill between the requests and a
resume that redoes neither the first request nor stage 1; a one-epoch stage 1 stopped by the
gate before any unlearning, with an error naming the identities."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fiubench.report.store import ResultsStore

from .test_smoke_run import _config, _events

pytestmark = pytest.mark.slow

FIRST, SECOND = "unlearn/ga/forget10/requests=1of2", "unlearn/ga/forget10/requests=2of2"


def _cfg(tmp_path: Path, extra: str) -> Path:
    cfg = _config(tmp_path)  # the smoke preset (a random tiny base where the shipped one is missing)
    cfg.write_text(cfg.read_text() + "methods: [ga]\nattacks: {names: []}\n" + extra)
    return cfg


def test_two_requests_with_a_kill_between_them(tmp_path: Path) -> None:
    cfg = _cfg(tmp_path, "unlearn:\n  requests: 2\n")
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "fiubench", "run", "--config", str(cfg), "--out", str(out)]
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    log1 = tmp_path / "first.log"
    with open(log1, "w") as f:
        proc = subprocess.Popen(cmd, stdout=f, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    try:
        deadline = time.time() + 1800
        while time.time() < deadline and proc.poll() is None:
            if any(s == SECOND and what == "running" for s, what, _ in _events(log1.read_text())):
                break
            time.sleep(0.1)
        assert proc.poll() is None, log1.read_text()[-3000:]
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    done_before = {p.parent.name for p in (out / "steps").glob("*/DONE.json")}
    assert any(n.startswith("unlearn_ga_forget10_requests=1of2") for n in done_before), sorted(done_before)

    second = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=3600)
    assert second.returncode == 0, second.stderr[-3000:]
    events = _events(second.stderr)
    assert (FIRST, "cached") in {(s, w) for s, w, _ in events}
    assert {d for _, w, d in events if w in ("running", "resuming")}.isdisjoint(done_before)
    assert "WARNING: stage 1 learnt" in second.stderr  # the smoke preset overrides the gate: visibly

    with ResultsStore(out / "results.sqlite", create=False) as store:
        rows = {(r.model, r.metric): r.value for r in store.rows()}
    for i in (1, 2):
        model = f"ga/forget10/requests={i}of2"
        assert rows[(model, "seq.request")] == i
        assert (model, "seq.removed.forget_quality") in rows and (model, "seq.req1.forget_quality") in rows
    assert ("ga/forget10/requests=2of2", "seq.penalty_fq") in rows
    assert rows[("finetuned", "gate.n_identities")] == 2
    report = out / "report"
    assert (report / "tables" / "sequential_forget10.csv").is_file()
    assert (report / "plots" / "sequential_forget10.png").is_file()
    md = (report / "report.md").read_text()
    assert "Sequential deletion requests" in md and "stage 1 learnt" in md


def test_the_gate_stops_a_one_epoch_stage1(tmp_path: Path) -> None:
    cfg = _cfg(tmp_path, "learn:\n  train:\n    epochs: 1\ngate:\n  override: false\nuncertainty:\n  n_boot: 0\n")
    out = tmp_path / "run"
    res = subprocess.run([sys.executable, "-m", "fiubench", "run", "--config", str(cfg), "--out", str(out)],
                         capture_output=True, text=True, timeout=3600)
    assert res.returncode == 2, res.stderr[-3000:]
    assert "were not learnt" in res.stderr and "learn.train.epochs (now 1)" in res.stderr
    assert "gate.override" in res.stderr
    assert not list((out / "steps").glob("unlearn_*/DONE.json"))  # nothing was unlearnt
