"""Content-addressed step cache: skip finished steps, redo changed ones, resume killed runs.

A step's key is a hash of everything that determines its output: the step's
name, its own resolved config, and the keys of the steps it reads from (which in
turn hash *their* configs and inputs, so a change anywhere upstream changes every
key downstream). Its output lives in ``<root>/<name>-<key>/``.

A step is finished only when its completion marker ``DONE.json`` exists; the
marker is written atomically *after* the step's function returned, so a step
killed half-way has no marker and is run again on the next invocation -- in the
same directory, so a training step can resume from the checkpoints it had saved.
An unchanged step is skipped; a step whose config or inputs changed gets a new
key, hence a new directory, and runs afresh (the old directory is kept: switching
back is free).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import sys
import time
import traceback
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fiubench.utils.io import atomic_write_json
from fiubench.utils.provenance import config_hash, provenance, to_jsonable

MARKER = "DONE.json"
LOG = "step.log"  # a step's own output when it runs in a worker (--jobs N, Ray)


@dataclass(frozen=True)
class StepResult:
    """Where a step's output is, its key, and whether this call ran it."""

    name: str
    key: str
    path: Path
    ran: bool
    seconds: float = 0.0


def step_key(name: str, config: Any, inputs: Mapping[str, str]) -> str:
    """Hash of the step name, its config and its inputs' keys."""
    return config_hash({"step": name, "config": to_jsonable(config), "inputs": dict(sorted(inputs.items()))})


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.=-]+", "_", name).strip("_") or "step"


class StepCache:
    """Runs steps under ``root``; ``log`` receives one progress line per event."""

    def __init__(self, root: str | Path, log: Callable[[str], None] | None = None) -> None:
        self.root = Path(root)
        self.log = log or (lambda _msg: None)
        self.results: list[StepResult] = []

    def path(self, name: str, key: str) -> Path:
        return self.root / f"{_slug(name)}-{key}"

    def is_done(self, name: str, key: str) -> bool:
        return (self.path(name, key) / MARKER).is_file()

    def lookup(self, name: str, config: Any, inputs: Mapping[str, str] | None = None) -> StepResult | None:
        """The finished step's result (logged as ``cached``), or None when it must run."""
        key = step_key(name, config, dict(inputs or {}))
        out = self.path(name, key)
        if not (out / MARKER).is_file():
            return None
        self.log(f"{name}: cached ({out.name})")
        res = StepResult(name, key, out, ran=False)
        self.results.append(res)
        return res

    def start(self, name: str, key: str) -> Path:
        """Log that the step starts (``running`` or ``resuming`` an interrupted attempt)."""
        out = self.path(name, key)
        resumed = out.exists() and any(p.name not in (MARKER, LOG) for p in out.iterdir())
        self.log(f"{name}: {'resuming' if resumed else 'running'} ({out.name})")
        return out

    def finished(self, name: str, key: str, seconds: float) -> StepResult:
        self.log(f"{name}: done in {seconds:.1f}s")
        res = StepResult(name, key, self.path(name, key), ran=True, seconds=seconds)
        self.results.append(res)
        return res

    def run(
        self,
        name: str,
        config: Any,
        fn: Callable[[Path], Any],
        inputs: Mapping[str, str] | None = None,
        seed: int | None = None,
    ) -> StepResult:
        """Run ``fn(step_dir)`` unless this exact step already finished.

        ``fn`` writes its output inside ``step_dir`` (which may hold a previous,
        interrupted attempt) and may return a JSON-able summary stored in the marker.
        """
        inputs = dict(inputs or {})
        cached = self.lookup(name, config, inputs)
        if cached is not None:
            return cached
        key = step_key(name, config, inputs)
        out = self.start(name, key)
        dt = execute_step(fn, out, name=name, key=key, config=config, inputs=inputs, seed=seed)
        return self.finished(name, key, dt)

    def summary(self, name: str, key: str) -> Any:
        """The summary a finished step returned (from its marker)."""
        return json.loads((self.path(name, key) / MARKER).read_text())["summary"]


def execute_step(
    fn: Callable[[Path], Any],
    out: Path,
    *,
    name: str,
    key: str,
    config: Any,
    inputs: Mapping[str, str],
    seed: int | None,
    capture: bool = False,
) -> float:
    """Run one step in ``out`` and write its marker; returns the seconds it took.

    Module-level so that a worker process or a Ray task can run it: the marker is
    written where the step ran (the run directory is shared), so a finished step
    survives a killed driver. ``capture``: send the step's stdout/stderr (and the
    traceback of a failure) to ``out/step.log`` -- what the driver shows when the
    step fails in a worker.
    """
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    with _captured(out / LOG) if capture else contextlib.nullcontext():
        try:
            summary = fn(out)
        except BaseException:
            if capture:
                traceback.print_exc()
            raise
    dt = time.perf_counter() - t0
    record = {
        "step": name,
        "key": key,
        "inputs": dict(inputs),
        "seconds": round(dt, 3),
        "summary": to_jsonable(summary),
        "provenance": provenance(config, seed),
    }
    atomic_write_json(out / MARKER, record)  # last: only now is the step finished
    return dt


@contextlib.contextmanager
def _captured(path: Path) -> Iterator[None]:
    """Point file descriptors 1 and 2 (Python's and C libraries' output) at ``path``."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with open(path, "a", encoding="utf-8") as f:
        f.write(f"--- attempt at {time.strftime('%Y-%m-%d %H:%M:%S')} on {os.uname().nodename}\n")
        f.flush()
        os.dup2(f.fileno(), 1)
        os.dup2(f.fileno(), 2)
        try:
            yield
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])


def log_tail(out: Path, lines: int = 30) -> str:
    """The last lines of a step's log (empty when it has none)."""
    path = out / LOG
    if not path.is_file():
        return ""
    return "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
