"""``fiubench run --executor ray``: every step a Ray task, on one machine or a cluster.

Each step is submitted as a task with its resource requests (``num_cpus``,
``num_gpus``, ``memory``) as soon as its inputs are finished; Ray places it on a
node with room. The task runs :func:`fiubench.pipeline.ray_nodes.run_step`, which
writes the step's output and its ``DONE.json`` marker into the run directory --
which is why every node must see the run directory at the same path (a shared
filesystem, checked by :meth:`RayExecutor.preflight` before any step runs, and
again for every finished step: the driver must see the files the node wrote before
it schedules the steps that read them). The driver alone writes ``results.sqlite``
and the report.

A step that asks for GPUs runs in a fresh worker process (Ray's ``max_calls=1``,
which Ray only sets for a function *declared* with GPUs: hence two remote
functions), so no CUDA memory or state leaks into the next step; Ray sets its
``CUDA_VISIBLE_DEVICES`` to the GPUs it reserved. Retries are the scheduler's (same
directory, so training resumes from its checkpoints), not Ray's: one policy and one
log for every executor; a lost node or a dead worker comes back as
:class:`~fiubench.pipeline.graph.InfrastructureError`, the only kind retried.
"""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from fiubench.errors import ConfigError
from fiubench.pipeline.graph import (
    InfrastructureError,
    Outcome,
    Resources,
    Step,
    payload,
    visible_gpus,
)
from fiubench.pipeline.ray_nodes import (
    PASS_ENV,
    SECRET_ENV,
    cluster_nodes,
    largest_fit,
    missing_outputs,
    preflight,
    run_step,
)

INSTALL_HINT = 'pip install "fiubench[ray]"  (or: pip install "ray>=2.9")'


def import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise ConfigError(f"--executor ray: Ray is not installed; install it with {INSTALL_HINT}") from None
    return ray


def _cpu_step(*args: Any) -> dict[str, Any]:
    return run_step(*args)


def _gpu_step(*args: Any) -> dict[str, Any]:
    return run_step(*args)


# Ray's errors that mean the machine failed, not the step (retried by the scheduler).
_INFRA = ("WorkerCrashedError", "NodeDiedError", "LocalRayletDiedError", "ObjectLostError",
          "OwnerDiedError", "OutOfMemoryError")


class RayExecutor:
    """Steps as Ray tasks. ``address``: ``auto``, ``HOST:PORT`` or ``ray://HOST:PORT``;
    None: ``RAY_ADDRESS`` if set, else a local Ray instance started for this command
    (stopped at the end). ``runtime_env``: Ray's (``working_dir``, ``pip``, ``conda``,
    ``container``/``image_uri``...), merged with the forwarded variables;
    ``secret_env``: names of variables a step may need that are secrets (sent with
    each task, never put in the ``runtime_env``: Ray logs it)."""

    capture = True

    def __init__(self, address: str | None = None, *, log: Callable[[str], None] | None = None,
                 num_cpus: int | None = None, runtime_env: Mapping[str, Any] | None = None,
                 secret_env: Sequence[str] = SECRET_ENV) -> None:
        ray = import_ray()
        self.ray = ray
        self.log = log or (lambda m: print(m, file=sys.stderr, flush=True))
        source = "--address"
        if address is None and os.environ.get("RAY_ADDRESS"):
            address, source = os.environ["RAY_ADDRESS"], "RAY_ADDRESS"
        self._started = not ray.is_initialized()
        if self._started and address is None:
            ray.init(**self._init_kwargs(None, num_cpus, runtime_env))
        elif self._started:
            self._connect(address, source, runtime_env)
        self.secrets = {k: os.environ[k] for k in secret_env if os.environ.get(k)}
        self.nodes = cluster_nodes(ray)
        total = ray.cluster_resources()
        where = "started a local instance" if address is None else f"connected to {address} ({source})"
        self.log(f"ray: {where} ({total.get('CPU', 0):g} CPU, {total.get('GPU', 0):g} GPU "
                 f"on {len(self.nodes)} node(s))")
        self._cpu = ray.remote(max_retries=0)(_cpu_step)
        # declared with a GPU: Ray gives this function max_calls=1 (a fresh worker per GPU step)
        self._gpu = ray.remote(num_gpus=1, max_retries=0)(_gpu_step)
        self._running: dict[Any, tuple[Step, Path]] = {}

    def _init_kwargs(self, address: str | None, num_cpus: int | None,
                     runtime_env: Mapping[str, Any] | None) -> dict[str, Any]:
        env = {k: os.environ[k] for k in PASS_ENV if k in os.environ}
        renv = dict(runtime_env or {})
        renv["env_vars"] = {**env, **dict(renv.get("env_vars") or {})}
        kwargs: dict[str, Any] = {"log_to_driver": False, "runtime_env": renv}
        if not (address or "").startswith("ray://"):  # Ray Client takes no dashboard option
            kwargs["include_dashboard"] = False
        if address is None:  # a new local instance: this machine's cores and visible GPUs only
            kwargs["num_cpus"] = num_cpus or os.cpu_count() or 1
            kwargs["num_gpus"] = len(visible_gpus())
        return kwargs

    def _connect(self, address: str, source: str, runtime_env: Mapping[str, Any] | None) -> None:
        # connecting to an existing cluster: its nodes' resources are its own (no num_cpus)
        try:
            self.ray.init(address=address, **self._init_kwargs(address, None, runtime_env))
        except ConnectionError as e:
            raise ConfigError(f"{source} {address}: no Ray cluster there ({e})") from None

    # ----------------------------------------------------------- plan time
    def fits(self, step: Step) -> str | None:
        return largest_fit(self.nodes, step.resources)

    def preflight(self, out: Path, planned: Sequence[tuple[str, Resources]] = ()) -> None:
        """Before any step: every planned step fits on some node, and every node runs
        the driver's versions and sees the run directory (see :mod:`ray_nodes`)."""
        self.nodes = cluster_nodes(self.ray)
        for name, res in planned:
            why = largest_fit(self.nodes, res)
            if why is not None:
                raise ConfigError(f"step {name}: {why}")
        preflight(self.ray, self.nodes, Path(out).resolve(), self.log)

    # ------------------------------------------------------------- running
    def has_room(self, step: Step) -> bool:
        return True  # Ray queues tasks until a node has their resources

    def submit(self, step: Step, out: Path) -> Any:
        r = step.resources
        opts: dict[str, Any] = {"name": step.name, "num_cpus": r.cpus}
        fn = self._cpu
        if r.gpus > 0:
            fn, opts["num_gpus"] = self._gpu, r.gpus
        if r.memory_gb:
            opts["memory"] = int(math.ceil(r.memory_gb * 2**30))
        ref = fn.options(**opts).remote(payload(step), out, self.secrets, r.cpus)
        self._running[ref] = (step, out)
        return ref

    def wait(self) -> Outcome:
        ready, _ = self.ray.wait(list(self._running), num_returns=1)
        ref = ready[0]
        step, out = self._running.pop(ref)
        try:
            res = self.ray.get(ref)
        except Exception as e:  # noqa: BLE001 - a task error, a dead worker or node
            return Outcome(ref, error=self._error(e))
        missing = missing_outputs(out, res["files"])
        if missing:
            shown = ", ".join(missing[:5]) + (f" (+{len(missing) - 5} more)" if len(missing) > 5 else "")
            return Outcome(ref, error=ConfigError(
                f"step {step.name} finished on {res['node']} but the driver does not see its outputs in "
                f"{out}: {shown}. The run directory must be on storage shared by every node (docs/scale.md)"))
        return Outcome(ref, res["seconds"])

    def _error(self, e: BaseException) -> BaseException:
        if type(e).__name__ in _INFRA:
            return InfrastructureError(f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}")
        cause = getattr(e, "cause", None)  # RayTaskError: the step's own exception
        return cause if isinstance(cause, BaseException) else e

    def close(self) -> None:
        for ref in self._running:
            self.ray.cancel(ref, force=True)
        self._running.clear()
        if self._started:
            self.ray.shutdown()
