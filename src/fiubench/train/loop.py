"""The one training loop of both stages, on accelerate.

The same code runs on one CPU, one GPU, and several GPUs or nodes under
``accelerate launch`` / ``torchrun`` (DDP; FSDP and DeepSpeed ZeRO-3 configs ship in
``fiubench/configs``). An :class:`Objective` says what one micro-batch costs; the loop
does the rest: gradient accumulation (no gradient sync until the last micro-batch),
mixed precision, clipping, AdamW + warm-up/cosine schedule, JSONL log, optional
TensorBoard/W&B, checkpoints with full resume state, non-finite-loss guard, early
stop, progress bar, wall time and peak memory.
"""

from __future__ import annotations

import contextlib
import gc
import json
import math
import os
import resource
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import torch

from fiubench.errors import ConfigError, FiubenchError
from fiubench.train import checkpoint as ck
from fiubench.train.config import TrainConfig, resume_key
from fiubench.train.schedule import Plan, lr_factor, total_steps
from fiubench.utils.faults import kill_point
from fiubench.utils.io import atomic_dir, atomic_write_json
from fiubench.utils.provenance import provenance, to_jsonable

# Test hook: raise after this many optimiser steps of the current process (simulates a
# crash at an arbitrary point, for the kill-and-resume test).
FAIL_AFTER_ENV = "FIUBENCH_FAIL_AFTER_STEP"


class Objective(Protocol):
    """What one optimiser step of a stage computes.

    ``reduce``: how per-rank logged losses combine ("sum" when each rank's value is
    already normalised by a global count, "mean" otherwise).
    """

    reduce: str

    def begin_step(self, step: int) -> None: ...

    def micro_loss(self, step: int, micro: int) -> tuple[torch.Tensor, torch.Tensor, dict[str, float]]:
        """(loss to backpropagate, its contribution to the logged step loss, logs)."""
        ...


@dataclass
class Setup:
    """What a stage builds once the accelerator exists (weights load here)."""

    vlm: Any
    plan: Plan
    objective: Any  # (accelerator, prepared model) -> Objective
    loss_threshold: float | None = None
    extra_summary: dict[str, Any] = field(default_factory=dict)


@dataclass
class Job:
    kind: str  # "learn" or "unlearn"
    out: Path
    config: Any  # the full stage config (recorded; compared on resume)
    train: TrainConfig
    build: Callable[[Any], Setup]  # accelerator -> Setup
    find_unused_parameters: bool = False


class NonFiniteLoss(FiubenchError):
    """The loss or gradient became NaN/inf."""


def make_accelerator(train: TrainConfig, out: Path, find_unused: bool = False) -> Any:
    from accelerate import Accelerator
    from accelerate.utils import DistributedDataParallelKwargs

    kwargs: dict[str, Any] = {}
    if train.report_to:
        kwargs["log_with"] = list(train.report_to)
        kwargs["project_dir"] = str(out / "trackers")
    return Accelerator(
        cpu=not torch.cuda.is_available(),
        mixed_precision=train.mixed_precision,
        kwargs_handlers=[DistributedDataParallelKwargs(find_unused_parameters=find_unused)],
        **kwargs,
    )


def peak_memory() -> dict[str, Any]:
    if torch.cuda.is_available():
        return {"peak_memory_bytes": int(torch.cuda.max_memory_allocated()), "peak_memory_kind": "cuda_allocated"}
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    rss *= 1 if sys.platform == "darwin" else 1024  # Linux reports KiB
    return {"peak_memory_bytes": int(rss), "peak_memory_kind": "cpu_max_rss"}


def _finite(x: float) -> bool:
    return math.isfinite(x)


def _weights_finite(accelerator: Any, params: list[torch.Tensor]) -> bool:
    """Whether every trainable parameter is finite, on every rank (one sync per step)."""
    bad = torch.zeros((), device=accelerator.device)
    for p in params:
        if p.numel():
            bad += (~torch.isfinite(p.detach())).any().float()
    if accelerator.num_processes > 1:
        bad = accelerator.reduce(bad, reduction="sum")
    return bool(bad.item() == 0)


def prepare_run_dir(out: Path, cfg: Any, world: int, kind: str, overwrite: bool, is_main: bool) -> str:
    """Check ``out`` and say what to do: "fresh", "resume" or "done".

    A directory holding a run with the same config resumes (or is done); anything
    else in an existing non-empty directory is refused unless ``overwrite``.
    """
    run_file = out / "run.json"
    key = {"kind": kind, "world_size": world, "config": resume_key(cfg)}
    if out.exists() and overwrite and is_main:
        import shutil

        shutil.rmtree(out)
    if run_file.is_file():
        old = json.loads(run_file.read_text())
        if old.get("key") != key:
            diff = _diff(old.get("key", {}), key)
            raise ConfigError(
                f"{out} holds a different run (differs in: {', '.join(diff[:6]) or 'format'}); "
                "use another --out, or --overwrite to replace it"
            )
        return "done" if (out / "summary.json").is_file() else "resume"
    if out.exists() and any(p for p in out.iterdir() if not p.name.startswith(".")):
        raise ConfigError(f"output directory {out} exists and is not a fiubench {kind} run; "
                          "use another --out, or --overwrite to replace it")
    if is_main:
        out.mkdir(parents=True, exist_ok=True)
        atomic_write_json(run_file, {"key": key})
    return "fresh"


def _diff(a: Any, b: Any, prefix: str = "") -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        out: list[str] = []
        for k in sorted(set(a) | set(b)):
            out += _diff(a.get(k), b.get(k), f"{prefix}{k}.")
        return out
    return [] if a == b else [prefix.rstrip(".")]


@contextlib.contextmanager
def _maybe_no_sync(accelerator: Any, model: Any, sync: bool) -> Iterator[None]:
    if sync:
        yield
    else:
        with accelerator.no_sync(model):
            yield


@dataclass
class _Training:
    """One training run in progress: what its phases share."""

    job: Job
    accelerator: Any
    out: Path
    t_start: float
    setup: Setup
    model: Any
    params: list[torch.Tensor]
    optimizer: Any
    scheduler: Any
    objective: Any
    n_steps: int
    start: int = 0
    wall_before: float = 0.0
    stopped: bool = False
    last_loss: float = float("nan")
    resume_from: Path | None = None
    step: int = 0
    last_ckpt_step: int | None = None

    def wall(self) -> float:
        return self.wall_before + time.time() - self.t_start

    def save(self, loss: float) -> None:
        _save_checkpoint(self.accelerator, self.job, self.setup, self.model, self.optimizer, self.scheduler,
                         self.step, loss, self.stopped, self.wall())


def run(job: Job, overwrite: bool = False) -> Path:
    """Run (or resume, or skip when finished) a training job; return ``job.out``.

    Phases: the run directory (fresh, resume or done); the model, optimiser and
    objective; the resume state; the optimiser steps; the final model and summary.
    """
    t_start = time.time()
    train = job.train
    out = Path(job.out)
    accelerator = make_accelerator(train, out, job.find_unused_parameters)
    state = _run_dir_state(accelerator, job, out, overwrite)
    if state == "done":
        if accelerator.is_main_process:
            print(f"fiubench {job.kind}: {out} is already finished; nothing to do", file=sys.stderr)
        accelerator.end_training()
        return out
    r = _build(job, accelerator, out, t_start)
    if state == "resume":
        _resume(r)
    if train.report_to:
        accelerator.init_trackers(job.kind, config=_flat_hparams(job.config))
    _train_steps(r)
    if r.last_ckpt_step != r.step:  # pragma: no cover - every exit path above saves
        r.save(r.last_loss)
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        _write_result(r)
    # Measured pitfall (gloo, 2 CPU processes): free model/optimizer before end_training
    # or the process can abort at exit.
    del r
    gc.collect()
    if train.report_to:
        accelerator.end_training()
    accelerator.wait_for_everyone()
    return out


def _run_dir_state(accelerator: Any, job: Job, out: Path, overwrite: bool) -> str:
    """"fresh", "resume" or "done" (see :func:`prepare_run_dir`): rank 0 prepares, the others follow."""
    world = accelerator.num_processes
    state = "fresh"
    if accelerator.is_main_process:
        state = prepare_run_dir(out, job.config, world, job.kind, overwrite, True)
    accelerator.wait_for_everyone()
    if not accelerator.is_main_process:
        state = prepare_run_dir(out, job.config, world, job.kind, False, False)
    return state


def _build(job: Job, accelerator: Any, out: Path, t_start: float) -> _Training:
    """The stage's model (weights load here), AdamW with its schedule, the objective."""
    train = job.train
    world = accelerator.num_processes
    torch.manual_seed(train.seed + accelerator.process_index)
    setup = job.build(accelerator)
    if setup.plan.world != world:
        raise RuntimeError("plan built for a different world size")
    model = setup.vlm.model
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ConfigError("model.scope: no trainable parameters")
    decay = [p for p in params if p.dim() >= 2]
    no_decay = [p for p in params if p.dim() < 2]  # biases and norms: no weight decay
    optimizer = torch.optim.AdamW(
        [{"params": decay, "weight_decay": train.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=train.lr, betas=tuple(train.betas), eps=train.eps,
    )
    n_steps = total_steps(setup.plan, train.epochs, train.max_steps)
    warmup = int(round(train.warmup_ratio * n_steps))
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: lr_factor(s, n_steps, warmup, train.scheduler)
    )
    model, optimizer = accelerator.prepare(model, optimizer)
    model.train()
    objective: Objective = setup.objective(accelerator, model)
    return _Training(job, accelerator, out, t_start, setup, model, params, optimizer, scheduler, objective, n_steps)


def _resume(r: _Training) -> None:
    """Weights, optimiser, schedule and random state from the latest resumable checkpoint (if any)."""
    r.resume_from = ck.latest_resumable(r.out)
    if r.resume_from is None:
        return
    accelerator = r.accelerator
    meta = json.loads((r.resume_from / "checkpoint.json").read_text())
    rng = ck.load_state(r.resume_from / "state", accelerator.unwrap_model(r.model), r.optimizer, r.scheduler,
                        accelerator.process_index)
    ck.restore_rng(rng)
    r.start, r.wall_before = int(meta["step"]), float(meta.get("wall_time_s", 0.0))
    r.stopped, r.last_loss = bool(meta.get("stopped_early", False)), float(meta["loss"])
    if accelerator.is_main_process:
        print(f"fiubench {r.job.kind}: resuming {r.out} from step {r.start}", file=sys.stderr)


def _train_steps(r: _Training) -> None:
    """Optimiser steps until the planned total, the loss threshold or a failure: each
    logged (JSONL, trackers, progress bar) and checkpointed every ``save_every``."""
    from tqdm.auto import tqdm

    job, train, accelerator, setup = r.job, r.job.train, r.accelerator, r.setup
    is_main = accelerator.is_main_process
    log_path = r.out / "log.jsonl"
    if is_main:
        _truncate_log(log_path, r.start)
    save_every = train.save_every or setup.plan.steps_per_epoch
    fail_after = int(os.environ.get(FAIL_AFTER_ENV, "0") or 0)
    done_here = 0
    bar = tqdm(total=r.n_steps, initial=r.start, desc=f"{job.kind}", disable=not (train.progress and is_main))
    r.last_ckpt_step = r.start if r.resume_from is not None else None
    r.step = r.start
    log_file = open(log_path, "a") if is_main else None  # noqa: SIM115 - closed below
    try:
        while r.step < r.n_steps and not r.stopped:
            row = _optimizer_step(r)
            done_here += 1
            loss = r.last_loss
            if log_file is not None:
                log_file.write(json.dumps(row) + "\n")
                log_file.flush()
            if train.report_to:
                accelerator.log({k: v for k, v in row.items() if k != "step"}, step=r.step)
            bar.update(1)
            bar.set_postfix(loss=f"{loss:.4f}")
            if setup.loss_threshold is not None and loss < setup.loss_threshold:
                r.stopped = True
                if is_main:
                    print(f"fiubench {job.kind}: loss {loss:.3f} < threshold {setup.loss_threshold} at "
                          f"step {r.step}: early stop", file=sys.stderr)
            if r.step % save_every == 0 or r.step == r.n_steps or r.stopped:
                r.save(loss)
                r.last_ckpt_step = r.step
                kill_point(f"{job.kind}:{r.step}")
            if fail_after and done_here >= fail_after:
                raise RuntimeError(f"{FAIL_AFTER_ENV}={fail_after}: simulated crash after step {r.step}")
    finally:
        bar.close()
        if log_file is not None:
            log_file.close()


def _optimizer_step(r: _Training) -> dict[str, Any]:
    """One optimiser step (gradient accumulation over the micro-batches, clipping, the
    non-finite guards); returns its log row."""
    job, train, accelerator, objective, params = r.job, r.job.train, r.accelerator, r.objective, r.params
    step, out = r.step, r.out
    objective.begin_step(step)
    loss_acc = torch.zeros((), device=accelerator.device)
    logs_acc: dict[str, float] = {}
    for m in range(train.grad_accum):
        with _maybe_no_sync(accelerator, r.model, m == train.grad_accum - 1):
            with accelerator.autocast():
                bwd, contrib, logs = objective.micro_loss(step, m)
            accelerator.backward(bwd)
        loss_acc += contrib.detach().float()
        for k, v in logs.items():
            logs_acc[k] = logs_acc.get(k, 0.0) + v / train.grad_accum
    loss = float(accelerator.reduce(loss_acc, reduction=objective.reduce).item())
    clip = train.max_grad_norm if train.max_grad_norm is not None else float("inf")
    grad_norm = float(accelerator.clip_grad_norm_(params, clip))
    last_ckpt_step = r.last_ckpt_step
    if not _finite(loss) or (not _finite(grad_norm) and train.mixed_precision != "fp16"):
        what = "loss" if not _finite(loss) else "gradient norm"
        keep = f"the last good checkpoint is step {last_ckpt_step}" if last_ckpt_step else "no checkpoint was written yet"
        raise NonFiniteLoss(
            f"{job.kind}: non-finite {what} ({loss if what == 'loss' else grad_norm}) at step "
            f"{step + 1}; stopped without applying it ({keep}, in {out / 'checkpoints'}). "
            "Lower --lr or check the data."
        )
    lr = r.scheduler.get_last_lr()[0]
    r.optimizer.step()
    if not _weights_finite(accelerator, params):
        # A finite loss can still blow the weights up (a huge lr): never save them,
        # never mark the run done. The last checkpoint on disk predates this step.
        keep = (f"the last finite checkpoint is step {last_ckpt_step}" if last_ckpt_step
                else "no checkpoint was written")
        raise NonFiniteLoss(
            f"{job.kind}: the weights became non-finite (NaN/inf) at step {step + 1} (lr {lr:g}); "
            f"stopped without saving them ({keep}, in {out / 'checkpoints'}). Lower the learning rate."
        )
    r.scheduler.step()
    r.optimizer.zero_grad(set_to_none=True)
    step += 1
    r.step = step
    if hasattr(objective, "after_step"):  # e.g. a method that masks its updates
        objective.after_step(step)
    r.last_loss = loss
    world = accelerator.num_processes
    if world > 1 and logs_acc:
        keys = sorted(logs_acc)
        t = accelerator.reduce(torch.tensor([logs_acc[k] for k in keys], device=accelerator.device), "mean")
        logs_acc = dict(zip(keys, t.tolist(), strict=True))
    return {"step": step, "epoch": step / r.setup.plan.steps_per_epoch, "loss": loss, "lr": lr,
            "grad_norm": grad_norm, "world_size": world, **logs_acc}


def _write_result(r: _Training) -> None:
    """The final model, provenance and summary (rank 0; the summary last: it marks the run done)."""
    job, setup, vlm = r.job, r.setup, r.setup.vlm
    vlm.save(r.out / "model")
    trainable, total = vlm.trainable_parameters()
    summary = {
        "kind": job.kind,
        "final_loss": r.last_loss,
        "steps": r.step,
        "total_steps": r.n_steps,
        "epochs": r.step / setup.plan.steps_per_epoch,
        "stopped_early": r.stopped,
        "loss_threshold": setup.loss_threshold,
        "world_size": r.accelerator.num_processes,
        "global_batch": setup.plan.global_batch,
        "trainable_params": trainable,
        "total_params": total,
        "wall_time_s": r.wall(),
        "resumed_from_step": r.start if r.resume_from is not None else None,
        **peak_memory(),
        **setup.extra_summary,
    }
    atomic_write_json(r.out / "provenance.json", provenance(job.config, job.train.seed))
    atomic_write_json(r.out / "summary.json", summary)  # written last: marks the run done


def _save_checkpoint(accelerator: Any, job: Job, setup: Setup, model: Any, optimizer: Any, scheduler: Any,
                     step: int, loss: float, stopped: bool, wall: float) -> None:
    from accelerate.utils import gather_object

    rngs = gather_object([ck.capture_rng()]) if accelerator.num_processes > 1 else [ck.capture_rng()]
    if accelerator.is_main_process:
        final = job.out / "checkpoints" / ck.step_dir_name(step)
        with atomic_dir(final, overwrite=True) as tmp:
            setup.vlm.save(tmp / "model")
            ck.save_state(tmp / "state", accelerator.unwrap_model(model), optimizer, scheduler, rngs)
            atomic_write_json(tmp / "checkpoint.json", {
                "step": step,
                "epoch": step / setup.plan.steps_per_epoch,
                "loss": loss,
                "stopped_early": stopped,
                "wall_time_s": wall,
                "config": to_jsonable(job.config),
            })
        ck.prune(job.out, final, job.train.save_total_limit)
    accelerator.wait_for_everyone()


def _truncate_log(path: Path, upto: int) -> None:
    """Keep log rows of steps <= ``upto`` (steps after the checkpoint are redone)."""
    if not path.is_file():
        return
    rows = [ln for ln in path.read_text().splitlines() if ln.strip()]
    keep = [ln for ln in rows if json.loads(ln)["step"] <= upto]
    if len(keep) != len(rows):
        from fiubench.utils.io import atomic_write_text

        atomic_write_text(path, "".join(k + "\n" for k in keep))


def _flat_hparams(cfg: Any) -> dict[str, Any]:
    flat: dict[str, Any] = {}

    def walk(d: Any, prefix: str) -> None:
        for k, v in d.items():
            if isinstance(v, dict):
                walk(v, f"{prefix}{k}.")
            elif isinstance(v, (int, float, str, bool)):
                flat[f"{prefix}{k}"] = v
            else:
                flat[f"{prefix}{k}"] = str(v)

    walk(to_jsonable(cfg), "")
    return flat
