"""Two runs on one directory: the second is refused naming the first one's pid; a lock
left by a dead process is taken over."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from fiubench.cli.main import main
from fiubench.utils.lock import LOCK_NAME, RunLock, RunLocked

from .conftest import env, micro_config

HOLD = """
import sys, time
from fiubench.utils.lock import RunLock
RunLock(sys.argv[1]).acquire()
print("held", flush=True)
time.sleep(120)
"""


def test_a_second_run_on_the_same_directory_is_refused_naming_the_holder(tmp_path, capsys):
    out = tmp_path / "run"
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(out)], stdout=subprocess.PIPE, text=True, env=env())
    try:
        assert holder.stdout.readline().strip() == "held"
        rc = main(["run", "--config", str(micro_config(tmp_path)), "--out", str(out)])
        err = capsys.readouterr().err
        assert rc == 2, err
        assert f"pid {holder.pid}" in err and "in use" in err and "Traceback" not in err
        assert sorted(p.name for p in out.iterdir()) == [LOCK_NAME]  # the refused run wrote nothing
    finally:
        holder.kill()  # SIGKILL: the holder dies without cleaning up
        holder.wait()
    # the dead holder's lock is stale: taken over
    with RunLock(out) as lock:
        assert json.loads(lock.path.read_text())["pid"] == os.getpid()


def test_stale_lock_file_with_a_dead_pid_is_taken_over(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (tmp_path / LOCK_NAME).write_text(json.dumps({"pid": dead.pid, "host": "here"}))
    with RunLock(tmp_path) as lock:
        assert json.loads(lock.path.read_text())["pid"] == os.getpid()
    with pytest.raises(RunLocked, match=f"pid {os.getpid()}"), RunLock(tmp_path), RunLock(tmp_path):
        pass


@pytest.mark.slow
def test_two_concurrent_runs_one_finishes_the_other_is_refused(tmp_path):
    """Two real `fiubench run` processes started together on one directory."""
    cfg = micro_config(tmp_path)
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "fiubench", "run", "--config", str(cfg), "--out", str(out), "--no-report"]
    a = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env(),
                         start_new_session=True)
    time.sleep(0.5)
    b = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env(),
                         start_new_session=True)
    try:
        (_, ea), (_, eb) = a.communicate(timeout=900), b.communicate(timeout=900)
    finally:
        for p in (a, b):
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGKILL)
    codes = sorted([a.returncode, b.returncode])
    assert codes == [0, 2], (ea[-2000:], eb[-2000:])
    loser = eb if b.returncode == 2 else ea
    winner = a if b.returncode == 2 else b
    assert f"pid {winner.pid}" in loser and "Traceback" not in loser
