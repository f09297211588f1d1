"""The step cache with fake cheap steps: skip, redo on change, resume after a kill."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from fiubench.pipeline.cache import MARKER, StepCache


def _chain(cache: StepCache, calls: list[str], lr: float = 1e-3) -> dict[str, str]:
    """data -> learn -> (eval, unlearn): keys flow downstream as inputs."""

    def step(name: str):
        def fn(out: Path) -> dict:
            calls.append(name)
            (out / "output.txt").write_text(name)
            return {"name": name}
        return fn

    data = cache.run("data", {"n": 4}, step("data"))
    learn = cache.run("learn", {"lr": lr}, step("learn"), inputs={"data": data.key})
    ev = cache.run("eval/finetuned", {"k": 1}, step("eval"), inputs={"model": learn.key})
    un = cache.run("unlearn/ga/forget5", {"m": "ga"}, step("unlearn"), inputs={"model": learn.key})
    return {"data": data.key, "learn": learn.key, "eval": ev.key, "unlearn": un.key}


def test_unchanged_steps_are_skipped(tmp_path: Path) -> None:
    calls: list[str] = []
    logs: list[str] = []
    k1 = _chain(StepCache(tmp_path, logs.append), calls)
    assert calls == ["data", "learn", "eval", "unlearn"]
    k2 = _chain(StepCache(tmp_path, logs.append), calls)
    assert calls == ["data", "learn", "eval", "unlearn"]  # nothing redone
    assert k1 == k2
    assert sum("cached" in m for m in logs) == 4
    assert (tmp_path / f"learn-{k1['learn']}" / MARKER).is_file()


def test_changed_input_redoes_that_step_and_everything_downstream(tmp_path: Path) -> None:
    calls: list[str] = []
    k1 = _chain(StepCache(tmp_path), calls, lr=1e-3)
    calls.clear()
    k2 = _chain(StepCache(tmp_path), calls, lr=2e-3)
    assert calls == ["learn", "eval", "unlearn"]  # data unchanged: skipped
    assert k2["data"] == k1["data"] and k2["learn"] != k1["learn"] and k2["eval"] != k1["eval"]
    calls.clear()
    _chain(StepCache(tmp_path), calls, lr=1e-3)  # back to the old config: all cached
    assert calls == []


def test_failed_step_leaves_no_marker_and_reruns(tmp_path: Path) -> None:
    cache = StepCache(tmp_path)

    def boom(out: Path) -> None:
        (out / "partial").write_text("x")
        raise RuntimeError("killed")

    with pytest.raises(RuntimeError):
        cache.run("learn", {"lr": 1}, boom)
    seen = []
    res = cache.run("learn", {"lr": 1}, lambda out: seen.append((out / "partial").exists()))
    assert res.ran and seen == [True]  # same directory: the step can resume its own work


SCRIPT = textwrap.dedent(
    """
    import os, sys, time
    from pathlib import Path
    from fiubench.pipeline.cache import StepCache

    root, log = Path(sys.argv[1]), Path(sys.argv[2])
    cache = StepCache(root)

    def step(name, block=False):
        def fn(out):
            with open(log, "a") as f:
                f.write(f"start {name} resumed={(out / 'ckpt').exists()}\\n")
            (out / "ckpt").write_text("half")  # like a saved training checkpoint
            if block and os.environ.get("BLOCK"):
                time.sleep(600)  # killed here
            with open(log, "a") as f:
                f.write(f"end {name}\\n")
        return fn

    a = cache.run("data", {}, step("data"))
    b = cache.run("learn", {}, step("learn"), inputs={"data": a.key})
    c = cache.run("unlearn", {}, step("unlearn", block=True), inputs={"model": b.key})
    cache.run("eval", {}, step("eval"), inputs={"model": c.key})
    """
)


def test_kill_and_rerun_redoes_no_finished_step(tmp_path: Path) -> None:
    script = tmp_path / "fake_pipeline.py"
    script.write_text(SCRIPT)
    log = tmp_path / "log.txt"
    root = tmp_path / "steps"
    env = dict(os.environ, BLOCK="1")
    proc = subprocess.Popen([sys.executable, str(script), str(root), str(log)], env=env,
                            start_new_session=True)
    try:
        deadline = time.time() + 60
        while time.time() < deadline and "start unlearn" not in (log.read_text() if log.exists() else ""):
            time.sleep(0.05)
        assert "start unlearn" in log.read_text()
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # like a power cut: no cleanup runs
        proc.wait()
    env.pop("BLOCK")
    subprocess.run([sys.executable, str(script), str(root), str(log)], env=env, check=True)
    lines = log.read_text().splitlines()
    assert lines == [
        "start data resumed=False", "end data",
        "start learn resumed=False", "end learn",
        "start unlearn resumed=False",  # killed
        "start unlearn resumed=True", "end unlearn",  # resumed in place, finished ones untouched
        "start eval resumed=False", "end eval",
    ]

