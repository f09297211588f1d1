"""The run graph: steps described declaratively, and one scheduler for every executor.

A :class:`Step` says *what* (a name and its resolved config, hashed with its
inputs' keys into the step key of :mod:`fiubench.pipeline.cache`), *after what*
(``deps``: the steps whose output it reads), *with what* (:class:`Resources`:
CPUs, GPUs, memory) and *how* (``fn(step_dir) -> summary``, a picklable callable:
a module-level function or a ``functools.partial`` of one, so that a worker
process or a Ray task can run it). ``then`` runs on the driver once the step is
finished (run or cached) and may add steps that depend on its output (one
evaluation per checkpoint an unlearning run saved).

:class:`Scheduler` starts every step as soon as its dependencies are finished and
its executor has room for it, in declaration order among the ready ones:

* :class:`InlineExecutor` (``--jobs 1``, the default): one step at a time in this
  process -- exactly the historic sequential loop;
* :class:`ProcessExecutor` (``--jobs N``): up to N steps at once, each in a fresh
  process, a GPU each when steps ask for GPUs (``CUDA_VISIBLE_DEVICES``);
* ``RayExecutor`` (``--executor ray``, :mod:`fiubench.pipeline.ray_executor`): Ray
  tasks with the steps' resource requests, on one machine or a cluster.

Executors depend on this module, never the reverse: :mod:`fiubench.pipeline.executors`
picks one (``make_executor``).

A finished step is skipped (its marker exists), whatever the executor. A step that
fails for the machine's sake (a lost node, a dead worker, out of memory once:
:func:`retryable`) is retried up to ``retries`` times in the same directory (training
resumes from its checkpoints); a step's own error is not retried. A failed step is
reported with the tail of its log; no new step starts after a failure, the running
ones finish, and :class:`StepFailed` is raised -- or, with ``keep_going``, its
dependants are skipped and everything else runs. Progress is logged as ``k/N steps``
per stage with an ETA.
"""

from __future__ import annotations

import bisect
import concurrent.futures as cf
import math
import multiprocessing
import os
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Protocol

from fiubench.errors import FiubenchError
from fiubench.pipeline.cache import LOG, StepCache, StepResult, execute_step, log_tail, step_key


@dataclass(frozen=True)
class Resources:
    """What one step needs while it runs: CPU cores, GPUs, host memory (GiB)."""

    cpus: float = 1.0
    gpus: float = 0.0
    memory_gb: float | None = None


@dataclass(eq=False)
class Step:
    """One node of the run graph (see the module docstring)."""

    name: str
    config: Any
    fn: Callable[[Path], Any]
    inputs: Mapping[str, str] = field(default_factory=dict)
    deps: Sequence[Step] = ()
    seed: int | None = None
    resources: Resources = field(default_factory=Resources)
    then: Callable[[StepResult], Sequence[Step]] | None = None
    meta: dict[str, Any] = field(default_factory=dict)  # driver-side bookkeeping (what to store)

    @cached_property
    def key(self) -> str:
        return step_key(self.name, self.config, dict(self.inputs))


class StepFailed(FiubenchError):
    """A step failed after its retries; the message names it, its directory and log."""


@dataclass
class Outcome:
    """What an executor reports back about one attempt."""

    handle: Any
    seconds: float = 0.0
    error: BaseException | None = None


class Executor(Protocol):
    capture: bool  # steps' output goes to their step.log (workers) or stays on the terminal

    def fits(self, step: Step) -> str | None:
        """Why this step can never run here (None: it can)."""

    def has_room(self, step: Step) -> bool: ...

    def submit(self, step: Step, out: Path) -> Any: ...

    def wait(self) -> Outcome: ...

    def close(self) -> None: ...


def _call(payload: dict[str, Any], out: Path, capture: bool) -> float:
    return execute_step(payload.pop("fn"), out, capture=capture, **payload)


def payload(step: Step) -> dict[str, Any]:
    """What a worker needs of a step (not ``then``/``meta``: they stay on the driver)."""
    return {"fn": step.fn, "name": step.name, "key": step.key, "config": step.config,
            "inputs": dict(step.inputs), "seed": step.seed}


class InlineExecutor:
    """One step at a time, in this process (``--jobs 1``)."""

    capture = False

    def __init__(self) -> None:
        self._done: list[Outcome] = []

    def fits(self, step: Step) -> str | None:
        return None

    def has_room(self, step: Step) -> bool:
        return not self._done

    def submit(self, step: Step, out: Path) -> Any:
        handle = object()
        try:
            self._done.append(Outcome(handle, _call(payload(step), out, False)))
        except Exception as e:  # noqa: BLE001 - handed to the scheduler, which re-raises or retries
            self._done.append(Outcome(handle, error=e))
        return handle

    def wait(self) -> Outcome:
        return self._done.pop(0)

    def close(self) -> None:
        pass


def _worker_env(env: dict[str, str]) -> None:
    os.environ.update(env)
    _die_with_parent()


def _die_with_parent() -> None:
    """Linux: a worker ends when the driver is killed, so that a resumed run never shares
    a step directory with an orphan still writing into it."""
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes
        import signal

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, int(signal.SIGKILL))  # PR_SET_PDEATHSIG
    except OSError:
        pass


def visible_gpus() -> list[str]:
    """GPU ids this machine lets us use (``CUDA_VISIBLE_DEVICES`` or every CUDA device)."""
    env = os.environ.get("CUDA_VISIBLE_DEVICES")
    if env is not None:
        return [g for g in env.split(",") if g.strip() and g.strip() != "-1"]
    try:
        import torch

        return [str(i) for i in range(torch.cuda.device_count())]
    except Exception:  # noqa: BLE001 - no usable torch/CUDA: no GPU
        return []


class ProcessExecutor:
    """Up to ``jobs`` steps at once, in ``jobs`` worker processes (``--jobs N``).

    Worker i is a spawned process that lives for the whole run (torch is imported once
    per worker, not once per step) and owns a fixed share of the GPUs
    (``CUDA_VISIBLE_DEVICES``): with N GPUs and ``--jobs N``, one GPU each. A step goes
    to a free worker with at least the GPUs it asks for. Each step seeds its own
    randomness, so where it runs does not change its output. A worker that dies
    (killed, out of memory) is replaced; its step counts as failed.
    """

    capture = True

    def __init__(self, jobs: int, gpus: Sequence[str] | None = None) -> None:
        if jobs < 1:
            raise FiubenchError(f"--jobs: must be >= 1, got {jobs}")
        self.jobs = jobs
        all_gpus = list(visible_gpus() if gpus is None else gpus)
        if len(all_gpus) >= jobs:
            per = len(all_gpus) // jobs
            self.slot_gpus = [all_gpus[i * per:(i + 1) * per] for i in range(jobs)]
        else:
            self.slot_gpus = [[g] for g in all_gpus] + [[] for _ in range(jobs - len(all_gpus))]
        self._ctx = multiprocessing.get_context("spawn")
        self._pools: list[cf.ProcessPoolExecutor | None] = [None] * jobs
        self._busy: dict[int, tuple[cf.Future, Any]] = {}

    def _env(self, slot: int) -> dict[str, str]:
        env = {"CUDA_VISIBLE_DEVICES": ",".join(self.slot_gpus[slot])}
        if "OMP_NUM_THREADS" not in os.environ:  # N steps on one machine share its cores
            env["OMP_NUM_THREADS"] = str(max(1, (os.cpu_count() or 1) // self.jobs))
        return env

    def _pool(self, slot: int) -> cf.ProcessPoolExecutor:
        if self._pools[slot] is None:
            self._pools[slot] = cf.ProcessPoolExecutor(1, mp_context=self._ctx, initializer=_worker_env,
                                                       initargs=(self._env(slot),))
        return self._pools[slot]  # type: ignore[return-value]

    def _free_slot(self, step: Step) -> int | None:
        need = math.ceil(step.resources.gpus)
        free = [i for i in range(self.jobs) if i not in self._busy and len(self.slot_gpus[i]) >= need]
        # the smallest GPU share that fits: keep GPU workers for GPU steps
        return min(free, key=lambda i: len(self.slot_gpus[i]), default=None)

    def fits(self, step: Step) -> str | None:
        need = math.ceil(step.resources.gpus)
        most = max(len(g) for g in self.slot_gpus)
        if need > most:
            n = sum(len(g) for g in self.slot_gpus)
            return (f"needs {need} GPU(s); with --jobs {self.jobs} on {n} GPU(s) a worker has at most {most} "
                    "(lower --jobs, or use --executor ray)")
        return None

    def has_room(self, step: Step) -> bool:
        return self._free_slot(step) is not None

    def submit(self, step: Step, out: Path) -> Any:
        slot = self._free_slot(step)
        assert slot is not None
        handle = object()
        self._busy[slot] = (self._pool(slot).submit(_call, payload(step), out, True), handle)
        return handle

    def wait(self) -> Outcome:
        by_future = {fut: slot for slot, (fut, _) in self._busy.items()}
        done, _ = cf.wait(list(by_future), return_when=cf.FIRST_COMPLETED)
        fut = next(iter(done))
        slot = by_future[fut]
        _, handle = self._busy.pop(slot)
        try:
            return Outcome(handle, fut.result())
        except BaseException as e:  # noqa: BLE001 - the step's error, or a dead worker
            if isinstance(e, BrokenProcessPool):
                self._pools[slot].shutdown(wait=False)  # type: ignore[union-attr]
                self._pools[slot] = None
            return Outcome(handle, error=e)

    def close(self) -> None:
        for pool in self._pools:
            if pool is not None:
                pool.shutdown(wait=True, cancel_futures=True)
        self._pools = [None] * self.jobs
        self._busy.clear()


def retryable(error: BaseException) -> str | None:
    """Why ``error`` is worth another attempt (None: it is not).

    Only the machine's failures are retried: a lost node or a dead worker
    (:class:`InfrastructureError`, a broken worker pool) and running out of memory
    (once: another process may have held the memory). A step's own error (a bug, a bad
    file, a diverged loss) would fail the same way again."""
    if isinstance(error, (InfrastructureError, BrokenProcessPool)):
        return "infrastructure"
    if isinstance(error, MemoryError) or type(error).__name__ == "OutOfMemoryError":
        return "out of memory"
    return None


class InfrastructureError(FiubenchError):
    """The machine failed, not the step: a node was lost, its worker died or was killed."""


@dataclass
class _Progress:
    """``k/N steps`` overall and per stage (the first part of a step's name), with an ETA
    from the pace of the steps this run has executed so far."""

    log: Callable[[str], None]
    total: dict[str, int] = field(default_factory=dict)
    done: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0  # wall time of the executed (not cached) steps' attempts
    ran: int = 0
    t0: float = field(default_factory=time.monotonic)

    @staticmethod
    def stage(step: Step) -> str:
        return step.name.split("/", 1)[0]

    def planned(self, step: Step) -> None:
        st = self.stage(step)
        self.total[st] = self.total.get(st, 0) + 1

    def finished(self, step: Step, ran: bool, show: bool = True) -> None:
        st = self.stage(step)
        self.done[st] = self.done.get(st, 0) + 1
        self.ran += ran
        if not show:
            return
        k, n = sum(self.done.values()), sum(self.total.values())
        stages = ", ".join(f"{s} {self.done.get(s, 0)}/{t}" for s, t in self.total.items())
        eta = ""
        if self.ran and k < n:
            per = (time.monotonic() - self.t0) / self.ran  # wall per executed step, parallelism included
            left = round(per * (n - k))
            eta = f", ETA {left // 3600}:{left // 60 % 60:02d}:{left % 60:02d} (at this run's pace; more steps may be added)"
        self.log(f"progress: {k}/{n} steps ({stages}){eta}")


class Scheduler:
    """Runs a step graph with one executor (see the module docstring).

    ``retries``: further attempts of a step that failed for the machine's sake
    (:func:`retryable`); ``keep_going``: a failed step does not stop the run: its
    dependants are skipped, everything else finishes, and :attr:`failed` /
    :attr:`skipped` say what is missing."""

    def __init__(self, cache: StepCache, executor: Executor | None = None, *, retries: int = 0,
                 log: Callable[[str], None] | None = None, keep_going: bool = False) -> None:
        self.cache = cache
        self.executor = executor or InlineExecutor()
        self.retries = retries
        self.keep_going = keep_going
        self.log = log or cache.log
        self.order: dict[Step, tuple[int, ...]] = {}  # each step's place in the sequential order
        self.done: dict[Step, StepResult] = {}  # every finished step, over every call of run()
        self.failed: dict[Step, BaseException] = {}  # with keep_going: steps that failed for good
        self.skipped: list[Step] = []  # with keep_going: steps not run because a dependency failed

    def order_of(self, step: Step) -> tuple[int, ...]:
        return self.order[step]

    def close(self) -> None:
        self.executor.close()

    def run(self, steps: Iterable[Step]) -> dict[Step, StepResult]:
        """Run (or find cached) every step and every step their ``then`` adds; their results.

        Dependencies may be steps of an earlier call (the dataset, built and checked first)."""
        r = _Run(self)
        r.add(list(steps), ())
        while True:
            r.start_ready()
            if not r.running:
                break
            r.collect(self.executor.wait())
        if r.failed and not self.keep_going:
            raise _step_failed(self.cache, *r.failed[0])
        r.skip_blocked()
        if r.queue:
            names = ", ".join(s.name for _, _, s in r.queue[:5])
            raise FiubenchError(f"steps that could not start (a dependency never finished): {names}")
        return r.done


def _step_failed(cache: StepCache, step: Step, err: BaseException) -> StepFailed:
    out = cache.path(step.name, step.key)
    tail = log_tail(out)
    return StepFailed(
        f"step {step.name} failed ({type(err).__name__}: {err}); its directory: {out}; "
        f"its log: {out / LOG}" + (f"\n--- last lines of {LOG}:\n{tail}" if tail else "")
    )


class _Run:
    """The state of one :meth:`Scheduler.run` call."""

    def __init__(self, sched: Scheduler) -> None:
        self.s = sched
        self.queue: list[tuple[tuple[int, ...], int, Step]] = []  # (order, tiebreak, step), sorted
        self.counter = 0
        self.done: dict[Step, StepResult] = {}  # this call's steps
        self.running: dict[Any, tuple[Step, int]] = {}
        self.attempts: dict[Step, int] = {}
        self.oom: set[Step] = set()
        self.failed: list[tuple[Step, BaseException]] = []
        self.progress = _Progress(sched.log)

    def add(self, new: Sequence[Step], parent: tuple[int, ...]) -> None:
        for i, st in enumerate(new):
            self.counter += 1
            self.progress.planned(st)
            bisect.insort(self.queue, (parent + (i,), self.counter, st), key=lambda t: (t[0], t[1]))

    def finish(self, step: Step, res: StepResult, pos: tuple[int, ...]) -> None:
        self.done[step] = self.s.done[step] = res
        self.progress.finished(step, res.ran, show=res.ran)
        if step.then is not None:
            self.add(step.then(res), pos)

    def blocked(self, step: Step) -> bool:
        return any(d in self.s.failed or d in self.s.skipped for d in step.deps)

    def start_ready(self) -> None:
        s, ex = self.s, self.s.executor
        started = True
        while started and (not self.failed or s.keep_going):
            started = False
            for item in list(self.queue):
                pos, _, step = item
                if not all(d in s.done for d in step.deps):
                    continue
                res = s.cache.lookup(step.name, step.config, step.inputs)
                if res is not None:
                    self.queue.remove(item)
                    s.order[step] = pos
                    self.finish(step, res, pos)
                    started = True
                    break  # `then` may have added steps ahead of the rest: rescan
                why = ex.fits(step)
                if why is not None:
                    raise FiubenchError(f"step {step.name}: {why}")
                if not ex.has_room(step):
                    continue
                self.queue.remove(item)
                s.order[step] = pos
                self.attempts[step] = self.attempts.get(step, 0) + 1
                out = s.cache.start(step.name, step.key)
                self.running[ex.submit(step, out)] = (step, self.attempts[step])
                started = True
                break  # an inline executor has already finished it: rescan from the top

    def collect(self, outcome: Outcome) -> None:
        s = self.s
        step, attempt = self.running.pop(outcome.handle)
        if outcome.error is None:
            self.finish(step, s.cache.finished(step.name, step.key, outcome.seconds), s.order[step])
            return
        err = outcome.error
        why = retryable(err)
        again = why is not None and attempt <= s.retries and not (why == "out of memory" and step in self.oom)
        if again:
            if why == "out of memory":
                self.oom.add(step)
            s.log(f"{step.name}: failed ({why}: {type(err).__name__}: {err}); "
                  f"retrying (attempt {attempt + 1} of {s.retries + 1})")
            bisect.insort(self.queue, (s.order[step], -1, step), key=lambda t: (t[0], t[1]))
            return
        kind = "" if why else ", not retried: the step's own error"
        s.log(f"{step.name}: FAILED after {attempt} attempt(s){kind} ({s.cache.path(step.name, step.key).name})")
        if not s.executor.capture and not s.keep_going:
            raise err
        self.failed.append((step, err))
        s.failed[step] = err
        self.progress.finished(step, False)

    def skip_blocked(self) -> None:
        """With keep_going: the steps left waiting on a failed step are reported skipped."""
        changed = True
        while changed:
            changed = False
            for item in list(self.queue):
                step = item[2]
                if self.blocked(step):
                    self.queue.remove(item)
                    self.s.skipped.append(step)
                    self.s.log(f"{step.name}: skipped (a step it reads failed)")
                    changed = True
        for step, err in self.failed:
            self.s.log(f"--keep-going: {_step_failed(self.s.cache, step, err)}")


__all__ = [
    "Executor", "InfrastructureError", "InlineExecutor", "Outcome", "ProcessExecutor", "Resources", "Scheduler", "Step",
    "StepFailed", "retryable", "visible_gpus",
]

