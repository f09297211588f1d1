"""Fault injection points for the fault suite (``tests/faults``): what a user's machine
does to a run, on purpose and at a known place.

``FIUBENCH_KILL_AT=<point>`` makes the process SIGKILL itself when it reaches
``<point>``: ``data`` (dataset built, step not yet marked done), ``learn:<step>`` /
``unlearn:<step>`` (right after the checkpoint of that optimiser step), ``eval``
(metrics computed, results not yet written). Nothing happens when the variable is unset.
"""

from __future__ import annotations

import os
import signal

KILL_ENV = "FIUBENCH_KILL_AT"


def kill_point(name: str) -> None:
    if os.environ.get(KILL_ENV) == name:
        os.kill(os.getpid(), signal.SIGKILL)
