"""Checkpoints: an evaluable model plus everything needed to resume bit-for-bit.

Layout of ``RUN/checkpoints/step-000006/``::

    checkpoint.json        step, epoch, loss, wall time, stopped_early, config
    model/                 ``vlm.save`` output (evaluate it to draw utility-vs-forget curves)
    state/                 resume state (only in the latest checkpoint of a run)
        trainable.safetensors   every trainable parameter, by name
        optimizer.safetensors   optimiser state tensors ("<param index>.<key>")
        optimizer.json          the rest of the optimiser state (param groups, scalars)
        scheduler.json          LR scheduler state
        rng.safetensors         torch RNG state of every rank (and CUDA, if any)

Tensors are stored as safetensors, the rest as JSON: nothing is unpickled.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from fiubench.errors import FiubenchError
from fiubench.utils.io import atomic_write_json

_STEP_DIR = re.compile(r"^step-(\d+)$")


def step_dir_name(step: int) -> str:
    return f"step-{step:06d}"


def list_checkpoints(run_dir: str | Path) -> list[tuple[int, Path]]:
    """(step, path) of every complete checkpoint of a run, by increasing step."""
    root = Path(run_dir) / "checkpoints"
    out = []
    if root.is_dir():
        for p in root.iterdir():
            m = _STEP_DIR.match(p.name)
            if m and (p / "checkpoint.json").is_file():
                out.append((int(m.group(1)), p))
    return sorted(out)


def latest_resumable(run_dir: str | Path) -> Path | None:
    """The newest checkpoint that holds resume state, if any."""
    for _, path in reversed(list_checkpoints(run_dir)):
        if (path / "state" / "trainable.safetensors").is_file():
            return path
    return None


def trainable_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {
        n: p.detach().to("cpu", copy=True).contiguous()
        for n, p in model.named_parameters()
        if p.requires_grad
    }


def load_trainable(model: torch.nn.Module, path: Path) -> None:
    tensors = load_file(str(path))
    params = dict(model.named_parameters())
    missing = [n for n in tensors if n not in params]
    if missing:
        raise FiubenchError(f"{path}: parameters {missing[:3]} are not in the model (different model?)")
    with torch.no_grad():
        for n, t in tensors.items():
            params[n].copy_(t.to(params[n].device, params[n].dtype))


def _split_optimizer(sd: dict[str, Any]) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, dict[str, Any]] = {}
    for idx, st in sd["state"].items():
        for k, v in st.items():
            if isinstance(v, torch.Tensor):
                tensors[f"{idx}.{k}"] = v.detach().to("cpu", copy=True).contiguous()
            else:
                scalars.setdefault(str(idx), {})[k] = v
    return tensors, {"param_groups": sd["param_groups"], "scalars": scalars,
                     "indices": [str(i) for i in sd["state"]]}


def _join_optimizer(tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> dict[str, Any]:
    state: dict[int, dict[str, Any]] = {int(i): {} for i in meta["indices"]}
    for key, t in tensors.items():
        idx, k = key.split(".", 1)
        state[int(idx)][k] = t
    for idx, st in meta["scalars"].items():
        state[int(idx)].update(st)
    return {"state": state, "param_groups": meta["param_groups"]}


def save_state(
    state_dir: Path,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    rng_states: list[dict[str, torch.Tensor]],
) -> None:
    """Write the resume state of a run (main process only)."""
    state_dir.mkdir(parents=True, exist_ok=True)
    save_file(trainable_state(model), str(state_dir / "trainable.safetensors"))
    tensors, meta = _split_optimizer(optimizer.state_dict())
    save_file(tensors, str(state_dir / "optimizer.safetensors"))
    atomic_write_json(state_dir / "optimizer.json", meta)
    sched = {k: v for k, v in scheduler.state_dict().items() if k != "lr_lambdas"}
    atomic_write_json(state_dir / "scheduler.json", sched)
    rng = {f"rank{r}.{k}": v.contiguous() for r, st in enumerate(rng_states) for k, v in st.items()}
    save_file(rng, str(state_dir / "rng.safetensors"))


def load_state(
    state_dir: Path,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    rank: int,
) -> dict[str, torch.Tensor]:
    """Restore model, optimiser and scheduler; return this rank's RNG state."""
    load_trainable(model, state_dir / "trainable.safetensors")
    tensors = load_file(str(state_dir / "optimizer.safetensors"))
    meta = json.loads((state_dir / "optimizer.json").read_text())
    optimizer.load_state_dict(_join_optimizer(tensors, meta))
    sched = json.loads((state_dir / "scheduler.json").read_text())
    scheduler.load_state_dict({**scheduler.state_dict(), **sched})
    rng = load_file(str(state_dir / "rng.safetensors"))
    prefix = f"rank{rank}."
    return {k[len(prefix):]: v for k, v in rng.items() if k.startswith(prefix)}


def capture_rng() -> dict[str, torch.Tensor]:
    st = {"cpu": torch.get_rng_state()}
    if torch.cuda.is_available():
        st["cuda"] = torch.cuda.get_rng_state()
    return st


def restore_rng(st: dict[str, torch.Tensor]) -> None:
    if "cpu" in st:
        torch.set_rng_state(st["cpu"])
    if "cuda" in st and torch.cuda.is_available():
        torch.cuda.set_rng_state(st["cuda"])


def prune(run_dir: Path, keep_state: Path, total_limit: int | None) -> None:
    """Drop resume state from all but ``keep_state``; keep at most ``total_limit`` checkpoints."""
    ckpts = list_checkpoints(run_dir)
    for _, path in ckpts:
        if path != keep_state and (path / "state").exists():
            shutil.rmtree(path / "state", ignore_errors=True)
    if total_limit is not None:
        for _, path in ckpts[:-total_limit]:
            if path != keep_state:
                shutil.rmtree(path, ignore_errors=True)
