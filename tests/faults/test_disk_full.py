"""A full disk: a clear message (exit 2, no traceback), nothing half-written, and the
same command finishes the run once there is space again."""

from __future__ import annotations

import errno
import json
import os
import subprocess
from pathlib import Path

import pytest

import fiubench.utils.io as io_mod
from fiubench.cli.main import main
from fiubench.utils.io import atomic_write_json

from .conftest import micro_config, steps


def _enospc_for(predicate):
    real = io_mod._write_all

    def write(f, data, path):
        if predicate(Path(path)):
            f.write(data[: len(data) // 2])  # half of it made it to disk
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
        return real(f, data, path)

    return write


def test_atomic_write_on_a_full_disk_keeps_the_old_file_and_no_temporary(tmp_path, monkeypatch):
    target = tmp_path / "results.json"
    atomic_write_json(target, {"v": 1})
    monkeypatch.setattr(io_mod, "_write_all", _enospc_for(lambda p: True))
    with pytest.raises(OSError) as e:
        atomic_write_json(target, {"v": 2, "pad": "x" * 10000})
    assert e.value.errno == errno.ENOSPC
    assert json.loads(target.read_text()) == {"v": 1}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results.json"]


@pytest.fixture
def tiny_tmpfs(tmp_path):
    """A 256 KiB tmpfs (root only); skipped where mounting is not allowed."""
    mnt = tmp_path / "small"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mnt)], capture_output=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({r.stderr.decode().strip()[:80]}); the simulated tests cover it")
    yield mnt
    subprocess.run(["umount", "-l", str(mnt)], check=False)


def test_data_build_on_a_really_full_disk(tiny_tmpfs, capsys):
    out = tiny_tmpfs / "ds"
    rc = main(["data", "build", "--out", str(out), "--n-identities", "60", "--image-size", "128"])
    err = capsys.readouterr().err
    assert rc == 2, err
    assert "no space left on device" in err and "Traceback" not in err
    assert list(tiny_tmpfs.iterdir()) == []  # nothing half-written


@pytest.mark.slow
def test_run_stopped_by_a_full_disk_resumes_with_the_same_command(tmp_path, monkeypatch, capsys):
    cfg = str(micro_config(tmp_path))
    out = tmp_path / "run"
    hit = {"n": 0}

    def eval_results(p: Path) -> bool:  # the disk fills up while the second evaluation is saved
        if p.name == "results.json" and "eval_finetuned" in str(p):
            hit["n"] += 1
            return True
        return False

    monkeypatch.setattr(io_mod, "_write_all", _enospc_for(eval_results))
    rc = main(["run", "--config", cfg, "--out", str(out), "--no-report"])
    err = capsys.readouterr().err
    assert rc == 2 and hit["n"] == 1, err[-3000:]
    assert "no space left on device" in err and "Traceback" not in err
    assert not list(out.rglob("*.tmp")), "half-written temporaries left behind"
    finetuned = list((out / "steps").glob("eval_finetuned*"))
    assert finetuned and not list(finetuned[0].glob("DONE.json")) and not (finetuned[0] / "eval").exists()

    monkeypatch.undo()
    assert main(["run", "--config", cfg, "--out", str(out), "--no-report"]) == 0
    events = dict(steps(capsys.readouterr().err))
    assert events["learn/finetuned"] == "cached" and events["eval/retain/forget10"] == "cached"
    assert events["eval/finetuned/forget10"] in ("running", "resuming")
