"""Cheap picklable step functions for the scheduler tests (worker processes import them)."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path


def write(d: Path, *, value: str, reads: tuple[str, ...] = (), meet: tuple[str, str] | None = None) -> dict:
    """Write ``value`` (+ what the steps it reads wrote) and when it ran.

    ``meet=(folder, other)``: announce this step in ``folder`` and wait (up to 60 s) for
    step ``other`` to announce itself: both can only finish if they run at the same time.
    """
    t0 = time.time()
    if meet is not None:
        folder = Path(meet[0])
        (folder / value).touch()
        deadline = time.time() + 60
        while not (folder / meet[1]).exists():
            if time.time() > deadline:
                raise TimeoutError(f"{value} never met {meet[1]}: the steps did not run concurrently")
            time.sleep(0.05)
    got = [Path(r, "value.txt").read_text() for r in reads]
    (d / "value.txt").write_text("+".join([value, *got]))
    (d / "span.json").write_text(json.dumps([t0, time.time(), os.getpid()]))
    return {"value": value}


class OutOfMemoryError(RuntimeError):
    """Named as torch's CUDA out-of-memory error."""


def flaky(d: Path, *, fail_times: int, infra: bool = False, oom: bool = False) -> dict:
    """Fail the first ``fail_times`` attempts (counted in the step directory); ``infra``:
    as the machine would (InfrastructureError); ``oom``: out of memory; else as a bug would."""
    n = int((d / "attempts").read_text()) if (d / "attempts").exists() else 0
    (d / "attempts").write_text(str(n + 1))
    print(f"attempt {n + 1}: the step's own output")
    if n < fail_times:
        from fiubench.pipeline.graph import InfrastructureError

        raise (InfrastructureError if infra else OutOfMemoryError if oom else RuntimeError)(
            f"planned failure {n + 1}")
    return {"attempts": n + 1}


def wait_for(d: Path, *, flag: str) -> dict:
    """Announce the worker's pid, then wait (up to 120 s) for ``flag`` to exist."""
    pid = Path(flag).with_suffix(".pid")
    pid.with_suffix(".tmp").write_text(str(os.getpid()))
    pid.with_suffix(".tmp").rename(pid)  # the test reads it as soon as it exists
    deadline = time.time() + 120
    while not Path(flag).exists() and time.time() < deadline:
        time.sleep(0.05)
    return {}


def where(d: Path, *, value: str, flag: str | None = None) -> dict:
    """Record the process, node, visible GPUs, threads and HF_TOKEN presence of the task;
    with ``flag``: first announce the node (``flag``.node) and wait for ``flag`` to exist."""
    import hashlib

    import ray
    import torch

    node = ray.get_runtime_context().get_node_id()
    if flag is not None:
        Path(flag + ".tmp").write_text(node)
        Path(flag + ".tmp").rename(flag + ".node")
        deadline = time.time() + 120
        while not Path(flag).exists() and time.time() < deadline:
            time.sleep(0.05)
    info = {"value": value, "pid": os.getpid(), "node": node, "cuda": os.environ.get("CUDA_VISIBLE_DEVICES"),
            "threads": torch.get_num_threads(), "token": hashlib.sha256(os.environ.get("HF_TOKEN", "").encode()).hexdigest()}  # not the value
    (d / "where.json").write_text(json.dumps(info))
    return {"value": value}
