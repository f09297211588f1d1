"""`fiubench run --preset smoke` with `--jobs 2` and `--executor ray` gives the local results.

The local (sequential, in-process) run is the reference; the parallel runs execute
every step in other processes (worker processes, Ray tasks) and must store exactly
the same rows: same steps, same keys, same metric values.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from fiubench.report.store import ResultsStore

from .test_smoke_run import _config

pytestmark = pytest.mark.slow


def _run(cfg: Path, out: Path, *extra: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    cmd = [sys.executable, "-m", "fiubench", "run", "--config", str(cfg), "--out", str(out), "--no-report", *extra]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return proc


def _rows(out: Path) -> list[tuple]:
    with ResultsStore(out / "results.sqlite", create=False) as st:
        rows = st.rows()
    return sorted(
        (r.model, r.role, r.method or "", r.forget_split or "", r.step, r.final, r.config_hash, r.metric,
         "nan" if r.value is None else repr(r.value))
        for r in rows
    )


@pytest.fixture(scope="module")
def local_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[tuple]]:
    tmp = tmp_path_factory.mktemp("executors")
    cfg = _config(tmp)
    out = tmp / "local"
    _run(cfg, out)
    return cfg, _rows(out)


def _same_as_local(local_run: tuple[Path, list[tuple]], out: Path, *extra: str) -> str:
    cfg, expected = local_run
    proc = _run(cfg, out, *extra)
    got = _rows(out)
    assert len(got) == len(expected) > 50
    assert got == expected
    return proc.stderr


def test_jobs_2_gives_the_local_results(local_run, tmp_path: Path) -> None:
    log = _same_as_local(local_run, tmp_path / "jobs2", "--jobs", "2")
    assert "unlearn/ga/forget10: running" in log and "unlearn/po/forget10: running" in log


def test_ray_executor_gives_the_local_results(local_run, tmp_path: Path) -> None:
    pytest.importorskip("ray", reason="ray is not installed: pip install 'fiubench[ray]' to run this test")
    log = _same_as_local(local_run, tmp_path / "ray", "--executor", "ray")
    assert "ray: started a local instance" in log


def test_ray_executor_without_ray_says_how_to_install_it(tmp_path: Path) -> None:
    # a stub that makes `import ray` fail, first on the path
    stub = tmp_path / "stub"
    stub.mkdir()
    (stub / "ray.py").write_text("raise ImportError('no ray here')\n")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(stub), os.environ.get("PYTHONPATH", "")]))
    proc = subprocess.run([sys.executable, "-m", "fiubench", "run", "--preset", "smoke", "--executor", "ray",
                           "--out", str(tmp_path / "r")], capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 2
    assert 'pip install "fiubench[ray]"' in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "r").exists()  # nothing half-written
