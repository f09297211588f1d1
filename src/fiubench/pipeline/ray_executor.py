"""``fiubench run --executor ray``: every step a Ray task, on one machine or a cluster.

Each step is submitted as a task with its resource requests (``num_cpus``,
``num_gpus``, ``memory``) as soon as its inputs are finished; Ray places it on a
node with room. The task runs :func:`fiubench.pipeline.cache.execute_step`, which
writes the step's output and its ``DONE.json`` marker into the run directory --
which is why every node must see the run directory at the same path (a shared
filesystem). The driver alone writes ``results.sqlite`` and the report.

Retries are the scheduler's (same directory, so training resumes from its
checkpoints), not Ray's: one policy and one log for every executor.
"""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fiubench.errors import ConfigError
from fiubench.pipeline.graph import Outcome, Step, _call, payload

INSTALL_HINT = 'pip install "fiubench[ray]"  (or: pip install "ray>=2.9")'


def import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise ConfigError(f"--executor ray: Ray is not installed; install it with {INSTALL_HINT}") from None
    return ray


class RayExecutor:
    """Steps as Ray tasks. ``address``: ``auto``, ``HOST:PORT`` or ``ray://HOST:PORT``;
    None starts a local Ray instance for this command (stopped at the end)."""

    capture = True

    def __init__(self, address: str | None = None, *, log: Callable[[str], None] | None = None,
                 num_cpus: int | None = None) -> None:
        ray = import_ray()
        self.ray = ray
        log = log or (lambda m: print(m, file=sys.stderr, flush=True))
        # Workers import fiubench from wherever the driver does (an editable checkout, a
        # PYTHONPATH): pass the path on, and keep each task's torch at its CPU request.
        env = {k: os.environ[k] for k in ("PYTHONPATH", "OMP_NUM_THREADS", "HF_HOME", "HF_HUB_OFFLINE")
               if k in os.environ}
        self._started = not ray.is_initialized()
        if self._started:
            kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False,
                                      "runtime_env": {"env_vars": env} if env else None}
            if address is None:
                kwargs["num_cpus"] = num_cpus or os.cpu_count() or 1
            try:
                ray.init(address=address, **kwargs)
            except ConnectionError as e:
                raise ConfigError(f"--address {address}: no Ray cluster there ({e})") from None
        total = ray.cluster_resources()
        self.total = {"CPU": total.get("CPU", 0.0), "GPU": total.get("GPU", 0.0),
                      "memory": total.get("memory", 0.0)}
        log(f"ray: {'started a local instance' if address is None else 'connected to ' + address} "
            f"({self.total['CPU']:g} CPU, {self.total['GPU']:g} GPU)")
        self._task = ray.remote(max_retries=0)(_call)
        self._running: dict[Any, Any] = {}

    def fits(self, step: Step) -> str | None:
        r = step.resources
        if r.gpus > self.total["GPU"]:
            return f"needs {r.gpus:g} GPU(s), the Ray cluster has {self.total['GPU']:g}"
        if r.cpus > self.total["CPU"]:
            return f"needs {r.cpus:g} CPU(s), the Ray cluster has {self.total['CPU']:g}"
        if r.memory_gb and self.total["memory"] and r.memory_gb * 2**30 > self.total["memory"]:
            return f"needs {r.memory_gb:g} GiB of memory, the Ray cluster has {self.total['memory'] / 2**30:.0f}"
        return None

    def has_room(self, step: Step) -> bool:
        return True  # Ray queues tasks until a node has their resources

    def submit(self, step: Step, out: Path) -> Any:
        r = step.resources
        opts: dict[str, Any] = {"num_cpus": r.cpus, "num_gpus": r.gpus}
        if r.memory_gb:
            opts["memory"] = int(math.ceil(r.memory_gb * 2**30))
        ref = self._task.options(name=step.name, **opts).remote(payload(step), out, True)
        self._running[ref] = ref
        return ref

    def wait(self) -> Outcome:
        ready, _ = self.ray.wait(list(self._running), num_returns=1)
        ref = self._running.pop(ready[0])
        try:
            return Outcome(ref, self.ray.get(ref))
        except Exception as e:  # noqa: BLE001 - a task error, a dead worker or node
            cause = getattr(e, "cause", None)
            return Outcome(ref, error=cause if isinstance(cause, BaseException) else e)

    def close(self) -> None:
        for ref in self._running:
            self.ray.cancel(ref, force=True)
        self._running.clear()
        if self._started:
            self.ray.shutdown()
