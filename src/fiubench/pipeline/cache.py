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

import json
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fiubench.utils.io import atomic_write_json
from fiubench.utils.provenance import config_hash, provenance, to_jsonable

MARKER = "DONE.json"


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
        key = step_key(name, config, inputs)
        out = self.path(name, key)
        marker = out / MARKER
        if marker.is_file():
            self.log(f"{name}: cached ({out.name})")
            res = StepResult(name, key, out, ran=False)
            self.results.append(res)
            return res
        resumed = out.exists() and any(p.name != MARKER for p in out.iterdir())
        out.mkdir(parents=True, exist_ok=True)
        self.log(f"{name}: {'resuming' if resumed else 'running'} ({out.name})")
        t0 = time.perf_counter()
        summary = fn(out)
        dt = time.perf_counter() - t0
        record = {
            "step": name,
            "key": key,
            "inputs": inputs,
            "seconds": round(dt, 3),
            "summary": to_jsonable(summary),
            "provenance": provenance(config, seed),
        }
        atomic_write_json(marker, record)  # last: only now is the step finished
        self.log(f"{name}: done in {dt:.1f}s")
        res = StepResult(name, key, out, ran=True, seconds=dt)
        self.results.append(res)
        return res

    def summary(self, name: str, key: str) -> Any:
        """The summary a finished step returned (from its marker)."""
        return json.loads((self.path(name, key) / MARKER).read_text())["summary"]
