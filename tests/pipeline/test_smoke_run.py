"""`fiubench run --preset smoke` end to end, killed half-way and rerun.

One test does both jobs of the issue: the smoke preset runs the whole pipeline
(data -> learn -> evaluate -> unlearn -> evaluate checkpoints -> SQLite -> report),
and a run killed with SIGKILL mid-way redoes no finished step when started again.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fiubench.report.store import ResultsStore

pytestmark = pytest.mark.slow

STEP_LINE = re.compile(r"\] (\S+): (running|resuming|cached) \((\S+)\)")


def _config(tmp_path: Path) -> Path:
    """The smoke preset; on a checkout where the embedded tiny base has not been built
    yet, a random tiny VLM of the same architecture stands in for it."""
    from fiubench.models.loading import resolve_path

    text = "base: smoke\n"
    try:
        resolve_path("tiny")
    except Exception:  # noqa: BLE001 - missing asset: use a random tiny base instead
        from fiubench.tiny.model import save_random_tiny

        base = save_random_tiny(tmp_path / "tinybase")
        text += f"model:\n  name_or_path: {base}\n"
    cfg = tmp_path / "smoke.yaml"
    cfg.write_text(text)
    return cfg


def _events(log: str) -> list[tuple[str, str, str]]:
    return STEP_LINE.findall(log)


def test_smoke_run_end_to_end_with_kill_and_resume(tmp_path: Path) -> None:
    cfg = _config(tmp_path)
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "fiubench", "run", "--config", str(cfg), "--out", str(out)]
    env = dict(os.environ, PYTHONUNBUFFERED="1")

    # 1. start, and kill -9 while the first unlearning run is under way
    log1 = tmp_path / "first.log"
    with open(log1, "w") as f:
        proc = subprocess.Popen(cmd, stdout=f, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    try:
        deadline = time.time() + 600
        while time.time() < deadline and proc.poll() is None:
            if any(s.startswith("unlearn/") and what == "running" for s, what, _ in _events(log1.read_text())):
                break
            time.sleep(0.05)
        assert proc.poll() is None, log1.read_text()[-3000:]
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    finished_before = {p.parent.name for p in (out / "steps").glob("*/DONE.json")}
    assert any(n.startswith("learn_finetuned") for n in finished_before)

    # 2. rerun to the end: nothing that had finished runs again
    second = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900)
    assert second.returncode == 0, second.stderr[-3000:]
    events = _events(second.stderr)
    ran = {d for _, what, d in events if what in ("running", "resuming")}
    cached = {d for _, what, d in events if what == "cached"}
    assert not (ran & finished_before), f"finished steps redone: {ran & finished_before}"
    assert finished_before <= cached
    assert any(s.startswith("unlearn/") for s, what, _ in events if what in ("running", "resuming"))

    # 3. what the run produced
    with ResultsStore(out / "results.sqlite", create=False) as st:
        roles = set(st.distinct("role"))
        methods = set(st.distinct("method"))
        ga = st.rows(method="ga", metric="forget_quality")
    assert roles == {"base", "finetuned", "retain", "unlearned"}
    assert methods == {None, "ga", "po"}
    assert [r.step for r in ga] == [1, 2] and [r.final for r in ga] == [False, True]
    with ResultsStore(out / "results.sqlite", create=False) as st:
        attacked = {(r.role, r.method) for r in st.rows(metric="attack.relearn")}
        robust = st.rows(metric="forget_quality_robust", role="unlearned")
        attack_metrics = {r.metric for r in st.rows(role="finetuned") if r.metric.startswith("attack.")}
        marked = {r.method for r in st.rows(metric="attack.marked", role="unlearned") if r.value}
    # the smoke preset's attacks ran on every final model and both baselines
    assert attacked == {("finetuned", None), ("retain", None), ("unlearned", "ga"), ("unlearned", "po")}
    assert {"attack.quantization.int8", "attack.quantization.int4", "attack.profile_dump.profile",
            "attack.relearn.lr1e-03_s2"} <= attack_metrics
    # a model marked by the attack summary (below retain, utility collapsed) has no robust FQ
    assert robust and all(r.final and (r.value is not None) != (r.method in marked) for r in robust)
    html = (out / "report" / "index.html").read_text()
    assert 'id="main_forget10"' in html and "data:image/png;base64," in html
    assert 'id="robustness_forget10"' in html and "robust FQ" in html
    assert (out / "report" / "tables" / "main_forget10.tex").is_file()
    prov = json.loads((out / "provenance.json").read_text())
    assert prov["config"]["name"] == "smoke" and "packages" in prov
    marker = json.loads(next((out / "steps").glob("learn_finetuned-*/DONE.json")).read_text())
    assert marker["provenance"]["config_hash"]

    # 4. a third run does nothing but rebuild the database and the report
    third = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert third.returncode == 0, third.stderr[-3000:]
    assert not [e for e in _events(third.stderr) if e[1] != "cached"]
    assert "finished: 0 step(s) run" in third.stderr
