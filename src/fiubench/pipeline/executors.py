"""Which executor runs a graph: ``--executor local|ray``, ``--jobs N``, ``--address``.

Kept apart from :mod:`fiubench.pipeline.graph` so that the executors depend on the
graph and not the other way round (the Ray executor imports the graph's types).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fiubench.errors import FiubenchError
from fiubench.pipeline.graph import Executor, InlineExecutor, ProcessExecutor


def make_executor(kind: str = "local", *, jobs: int = 1, address: str | None = None,
                  log: Callable[[str], None] | None = None, **ray_options: Any) -> Executor:
    """``local`` (inline for one job, processes for more) or ``ray`` (``ray_options``:
    keyword arguments of :class:`~fiubench.pipeline.ray_executor.RayExecutor`)."""
    if kind == "local":
        if address is not None:
            raise FiubenchError("--address: only with --executor ray")
        return InlineExecutor() if jobs == 1 else ProcessExecutor(jobs)
    if kind == "ray":
        from fiubench.pipeline.ray_executor import RayExecutor

        return RayExecutor(address, log=log, **ray_options)
    raise FiubenchError(f"--executor: {kind!r} is not local or ray")


__all__ = ["make_executor"]
