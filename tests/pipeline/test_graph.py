"""The step graph and its scheduler, with cheap steps: order, parallelism, retries, failures."""

from __future__ import annotations

import functools
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fiubench.errors import FiubenchError
from fiubench.pipeline.cache import LOG, MARKER, StepCache
from fiubench.pipeline.graph import (
    InlineExecutor,
    ProcessExecutor,
    Resources,
    Scheduler,
    Step,
    StepFailed,
)

from . import graph_steps


def _graph(cache: StepCache, meet: Path | None = None) -> list[Step]:
    """data -> (a, b independent) -> c reads both; b's `then` adds two children.
    ``meet``: a and b wait for each other (they must run concurrently)."""

    def step(name: str, *deps: Step, then=None, other: str | None = None) -> Step:
        reads = tuple(str(cache.path(d.name, d.key)) for d in deps)
        m = (str(meet), other) if meet is not None and other else None
        fn = functools.partial(graph_steps.write, value=name, reads=reads, meet=m)
        return Step(name, {"v": name}, fn, inputs={d.name: d.key for d in deps}, deps=deps, then=then)

    data = step("data")
    a = step("a", data, other="b")
    b = step("b", data, then=lambda res: [step(f"b/child{i}", b) for i in range(2)], other="a")
    c = step("c", a, b)
    return [data, a, b, c]


def _value(cache: StepCache, s: Step) -> str:
    return (cache.path(s.name, s.key) / "value.txt").read_text()


def test_inline_runs_in_declaration_order_with_children_after_their_parent(tmp_path: Path) -> None:
    logs: list[str] = []
    cache = StepCache(tmp_path, logs.append)
    steps = _graph(cache)
    done = Scheduler(cache).run(steps)
    ran = [m.split(":")[0] for m in logs if ": running" in m]
    assert ran == ["data", "a", "b", "b/child0", "b/child1", "c"]
    assert len(done) == 6
    assert _value(cache, steps[3]) == "c+a+data+b+data"
    # a second run: all cached, `then` still adds the children (they are found cached too)
    logs.clear()
    done = Scheduler(cache).run(_graph(cache))
    assert len(done) == 6 and all(not r.ran for r in done.values())
    assert sum(": cached" in m for m in logs) == 6


def test_jobs_run_independent_steps_concurrently_with_the_same_outputs(tmp_path: Path) -> None:
    seq = StepCache(tmp_path / "seq")
    Scheduler(seq).run(_graph(seq))
    par = StepCache(tmp_path / "par")
    (tmp_path / "meet").mkdir()
    steps = _graph(par, meet=tmp_path / "meet")
    Scheduler(par, ProcessExecutor(2, gpus=[])).run(steps)  # a and b would time out if run one by one
    for s_seq, s_par in zip(_graph(seq), steps, strict=True):
        assert s_seq.key == s_par.key
        assert _value(seq, s_seq) == _value(par, s_par)
    span = {s.name: json.loads((par.path(s.name, s.key) / "span.json").read_text()) for s in steps}
    a, b = span["a"], span["b"]
    assert a[2] != b[2]  # a and b in two worker processes
    assert span["c"][0] >= max(a[1], b[1])  # c waited for both


def test_infrastructure_failure_is_retried_then_succeeds(tmp_path: Path) -> None:
    logs: list[str] = []
    cache = StepCache(tmp_path, logs.append)
    s = Step("flaky", {}, functools.partial(graph_steps.flaky, fail_times=1, infra=True))
    done = Scheduler(cache, ProcessExecutor(1, gpus=[]), retries=2).run([s])
    assert done[s].ran
    assert any("retrying (attempt 2 of 3)" in m for m in logs)
    marker = json.loads((cache.path(s.name, s.key) / MARKER).read_text())
    assert marker["summary"] == {"attempts": 2}


def test_a_steps_own_error_is_never_retried(tmp_path: Path) -> None:
    logs: list[str] = []
    cache = StepCache(tmp_path, logs.append)
    s = Step("buggy", {}, functools.partial(graph_steps.flaky, fail_times=1))  # would pass a second time
    with pytest.raises(StepFailed, match="planned failure 1"):
        Scheduler(cache, ProcessExecutor(1, gpus=[]), retries=2).run([s])
    assert not any("retrying" in m for m in logs)
    assert (cache.path(s.name, s.key) / "attempts").read_text() == "1"
    assert any("not retried: the step's own error" in m for m in logs)


def test_out_of_memory_is_retried_once_only(tmp_path: Path) -> None:
    from fiubench.pipeline.graph import InfrastructureError, retryable

    assert retryable(graph_steps.OutOfMemoryError("CUDA out of memory")) == "out of memory"
    assert retryable(InfrastructureError("node lost")) == "infrastructure"
    assert retryable(RuntimeError("shape mismatch")) is None and retryable(KeyError("x")) is None
    cache = StepCache(tmp_path)
    once = Step("once", {}, functools.partial(graph_steps.flaky, fail_times=1, oom=True))
    twice = Step("twice", {}, functools.partial(graph_steps.flaky, fail_times=2, oom=True))
    sched = Scheduler(cache, InlineExecutor(), retries=5, keep_going=True)
    done = sched.run([once, twice])
    assert once in done and set(sched.failed) == {twice}
    assert (cache.path(twice.name, twice.key) / "attempts").read_text() == "2"


def test_step_failing_every_retry_is_reported_with_its_log(tmp_path: Path) -> None:
    cache = StepCache(tmp_path)
    bad = Step("bad", {}, functools.partial(graph_steps.flaky, fail_times=9, infra=True))
    after = Step("after", {}, functools.partial(graph_steps.write, value="x"), deps=[bad])
    with pytest.raises(StepFailed) as e:
        Scheduler(cache, ProcessExecutor(1, gpus=[]), retries=1).run([bad, after])
    msg = str(e.value)
    assert "step bad failed" in msg and "planned failure 2" in msg and LOG in msg
    assert "attempt 2: the step's own output" in msg  # the tail of its log
    assert not (cache.path(bad.name, bad.key) / MARKER).exists()
    assert not cache.path(after.name, after.key).exists()  # nothing downstream started


def test_keep_going_finishes_the_rest_and_reports_what_is_missing(tmp_path: Path) -> None:
    logs: list[str] = []
    cache = StepCache(tmp_path, logs.append)
    bad = Step("bad", {}, functools.partial(graph_steps.flaky, fail_times=9))
    child = Step("bad/child", {}, functools.partial(graph_steps.write, value="c"), deps=[bad])
    grandchild = Step("bad/grandchild", {}, functools.partial(graph_steps.write, value="g"), deps=[child])
    other = Step("other", {}, functools.partial(graph_steps.write, value="o"))
    sched = Scheduler(cache, InlineExecutor(), keep_going=True)
    done = sched.run([bad, child, grandchild, other])
    assert set(done) == {other}
    assert set(sched.failed) == {bad} and sched.skipped == [child, grandchild]
    assert not cache.path(child.name, child.key).exists()
    assert any(m.startswith("progress: 2/4 steps") for m in logs)  # bad (failed) and other, in order
    assert any("--keep-going: step bad failed" in m for m in logs)


def test_inline_failure_raises_the_step_error_itself(tmp_path: Path) -> None:
    cache = StepCache(tmp_path)
    bad = Step("bad", {}, functools.partial(graph_steps.flaky, fail_times=9))
    with pytest.raises(RuntimeError, match="planned failure 1"):
        Scheduler(cache, InlineExecutor()).run([bad])


def test_step_needing_more_gpus_than_the_machine_has_is_an_error(tmp_path: Path) -> None:
    cache = StepCache(tmp_path)
    s = Step("gpu", {}, functools.partial(graph_steps.write, value="x"), resources=Resources(gpus=1))
    with pytest.raises(FiubenchError, match="step gpu: needs 1 GPU"):
        Scheduler(cache, ProcessExecutor(2, gpus=[])).run([s])


def test_gpus_are_shared_out_between_workers() -> None:
    ex = ProcessExecutor(2, gpus=["0", "1", "2", "3"])
    assert ex.slot_gpus == [["0", "1"], ["2", "3"]]
    ex = ProcessExecutor(3, gpus=["0"])
    assert ex.slot_gpus == [["0"], [], []]
    cpu_step = Step("c", {}, functools.partial(graph_steps.write, value="x"))
    gpu_step = Step("g", {}, functools.partial(graph_steps.write, value="x"), resources=Resources(gpus=1))
    assert ex._free_slot(cpu_step) == 1 and ex._free_slot(gpu_step) == 0  # CPU steps leave the GPU free
    assert "at most 1" in (ex.fits(Step("g2", {}, gpu_step.fn, resources=Resources(gpus=2))) or "")


def test_executor_options_are_checked() -> None:
    from fiubench.pipeline.executors import make_executor

    with pytest.raises(FiubenchError, match="--jobs"):
        make_executor("local", jobs=0)
    with pytest.raises(FiubenchError, match="--address"):
        make_executor("local", address="auto")
    assert isinstance(make_executor("local", jobs=1), InlineExecutor)


def test_step_resources_follow_the_config_and_the_model_device() -> None:
    from fiubench.errors import ConfigError
    from fiubench.pipeline.config import step_resources
    from fiubench.presets import load_run_config

    cfg = load_run_config("smoke", None)
    cfg.model.device = "cpu"
    assert step_resources(cfg, "learn") == Resources(cpus=1.0, gpus=0.0)
    cfg.model.device = "cuda:0"
    assert step_resources(cfg, "eval").gpus == 1.0
    assert step_resources(cfg, "data").gpus == 0.0  # never a GPU
    cfg.resources.eval.gpus = 2
    cfg.resources.eval.memory_gb = 64
    assert step_resources(cfg, "eval") == Resources(cpus=1.0, gpus=2.0, memory_gb=64)
    cfg.resources.learn.cpus = 0
    with pytest.raises(ConfigError, match="run.resources.learn.cpus: must be > 0"):
        cfg.validate()


DRIVER = """
import functools, sys
from pathlib import Path
sys.path.insert(0, sys.argv[2])
from pipeline import graph_steps
from fiubench.pipeline.cache import StepCache
from fiubench.pipeline.graph import ProcessExecutor, Scheduler, Step
cache = StepCache(Path(sys.argv[1]) / "steps")
step = Step("wait", {}, functools.partial(graph_steps.wait_for, flag=str(Path(sys.argv[1]) / "go")))
Scheduler(cache, ProcessExecutor(1, gpus=[])).run([step])
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux only")
def test_workers_die_with_a_killed_driver(tmp_path: Path) -> None:
    tests_dir = Path(__file__).resolve().parents[1]
    proc = subprocess.Popen([sys.executable, "-c", DRIVER, str(tmp_path), str(tests_dir)])
    pid_file = tmp_path / "go.pid"
    deadline = time.time() + 120
    # The worker writes its pid non-atomically: wait for the whole number, not the file.
    while not (pid_file.exists() and pid_file.read_text().strip()) and time.time() < deadline:
        time.sleep(0.05)
    assert pid_file.exists() and pid_file.read_text().strip(), "the worker never started"
    worker = int(pid_file.read_text())
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            os.kill(worker, 0)
        except ProcessLookupError:
            break
        time.sleep(0.1)
    else:
        os.kill(worker, signal.SIGKILL)
        pytest.fail("the worker outlived its killed driver")
