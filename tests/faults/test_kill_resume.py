"""kill -9 during each step kind (data, learn, unlearn, eval), the run directory moved
elsewhere half-way, then resumed: the numbers equal those of an undisturbed run, and
`fiubench report` on the half-finished run marks what is missing as incomplete."""

from __future__ import annotations

import json
import shutil

import pytest

from .conftest import fiubench, micro_config, numbers, steps

pytestmark = pytest.mark.slow


def test_kill_9_in_every_step_kind_then_resume_gives_identical_numbers(tmp_path):
    cfg = str(micro_config(tmp_path))
    ref = tmp_path / "ref" / "micro"
    done = fiubench("run", "--config", cfg, "--out", str(ref), "--no-report")
    assert done.returncode == 0, done.stderr[-3000:]

    run = tmp_path / "first-home" / "micro"
    logs = {}
    for point in ("data", "learn:1", "unlearn:1", "eval"):
        p = fiubench("run", "--config", cfg, "--out", str(run), "--no-report", FIUBENCH_KILL_AT=point)
        assert p.returncode == -9, f"{point}: {p.returncode}\n{p.stderr[-3000:]}"
        assert not any(run.glob("**/.*.tmp")), "a temporary file survived the kill"
        logs[point] = steps(p.stderr)
        if point == "learn:1":  # killed inside a training step: move the whole run directory
            moved = tmp_path / "second-home" / "micro"
            moved.parent.mkdir()
            shutil.move(str(run), str(moved))
            run = moved

    # each restart picked up where the previous one was killed
    assert dict(logs["learn:1"])["data"] in ("running", "resuming")  # killed before its marker: built again
    assert ("learn/finetuned", "resuming") in logs["unlearn:1"]  # moved, then resumed from step 1
    assert ("data", "cached") in logs["unlearn:1"]
    assert ("unlearn/ga/forget10", "resuming") in logs["eval"]

    # a report of the half-finished run: GA has no final model yet
    rep = fiubench("report", str(run))
    assert rep.returncode == 0, rep.stderr[-2000:]
    status = json.loads((run / "report" / "status.json").read_text())
    assert not status["complete"]
    assert [p["method"] for p in status["incomplete"]] == ["ga"]
    assert "GA (incomplete" in (run / "report" / "report.md").read_text()
    assert "INCOMPLETE" in (run / "report" / "index.html").read_text()

    final = fiubench("run", "--config", cfg, "--out", str(run))
    assert final.returncode == 0, final.stderr[-3000:]
    ran = [n for n, what in steps(final.stderr) if what != "cached"]
    # the killed evaluations, then the bootstrap intervals that read them (never run yet)
    assert ran == [
        "eval/ga/forget10/step-000001/forget10", "eval/ga/forget10/step-000002/forget10", "uncertainty/forget10",
    ], ran
    assert numbers(run / "results.sqlite") == numbers(ref / "results.sqlite")
    assert json.loads((run / "report" / "status.json").read_text())["complete"]


def test_overwrite_starts_over_and_gives_the_same_numbers(tmp_path):
    cfg = str(micro_config(tmp_path))
    out = tmp_path / "micro"
    first = fiubench("run", "--config", cfg, "--out", str(out), "--no-report", FIUBENCH_KILL_AT="unlearn:1")
    assert first.returncode == -9
    (out / "stray.txt").write_text("left over")
    again = fiubench("run", "--config", cfg, "--out", str(out), "--no-report", "--overwrite")
    assert again.returncode == 0, again.stderr[-3000:]
    assert not (out / "stray.txt").exists()
    assert all(what == "running" for _, what in steps(again.stderr))
