"""Sharded evaluation inside ``fiubench run``: one evaluation step over several processes.

An evaluation step with ``resources.eval.processes: N`` -- or, by default, with
several GPUs and no ``model.device_map`` (a model that fits one GPU: data parallel
rather than model parallel) -- runs as ``torchrun --standalone --nproc_per_node N``
inside the step (inside its Ray task, on the GPUs Ray gave it). Each process
evaluates its share of the batches (:mod:`fiubench.eval.shard`: the same batches as
one process, so every stored number equals the single-process one); rank 0 adds the
exposure pass and writes the results. The step's CPU cores are split between the
processes.
"""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
from pathlib import Path
from typing import Any

from fiubench.errors import FiubenchError

ARGS = "shard_args.pkl"
SUMMARY = "shard_summary.json"


def eval_processes(cfg: Any) -> int:
    """How many processes an evaluation step of ``cfg`` runs as (1: unsharded)."""
    from fiubench.pipeline.config import step_resources

    r = cfg.resources.eval
    if r.processes is not None:
        return r.processes
    gpus = step_resources(cfg, "eval").gpus
    return int(gpus) if gpus > 1 and cfg.model.device_map is None else 1


def run_eval_sharded(d: Path, *, nproc: int, cpus: float = 1.0, **kwargs: Any) -> dict:
    """The step function: ``torchrun`` N copies of :func:`main` on this step's directory."""
    (d / ARGS).write_bytes(pickle.dumps(kwargs))
    (d / SUMMARY).unlink(missing_ok=True)
    env = dict(os.environ, OMP_NUM_THREADS=str(max(1, int(cpus) // nproc)))
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}",
           "-m", "fiubench.pipeline.sharded", str(d)]
    proc = subprocess.run(cmd, env=env)
    if proc.returncode != 0 or not (d / SUMMARY).is_file():
        raise FiubenchError(f"sharded evaluation ({nproc} processes) failed with exit status {proc.returncode}; "
                            f"see {d / 'step.log'}")
    (d / ARGS).unlink()
    return json.loads((d / SUMMARY).read_text(encoding="utf-8"))


def main(d: Path) -> None:
    """One rank of a sharded evaluation step."""
    from fiubench.eval.shard import close_shard, init_shard
    from fiubench.pipeline.evaluation import evaluate_checkpoint
    from fiubench.pipeline.steps import load_dataset_cached

    kw = pickle.loads((d / ARGS).read_bytes())
    shard, device = init_shard()
    overrides = dict(kw["overrides"])
    if shard is not None and overrides.get("device") is None:
        overrides["device"] = device  # one process per GPU (or CPU worker)
    try:
        summary = evaluate_checkpoint(kw["model_dir"], load_dataset_cached(kw["data"]), kw["ecfg"], d / "eval",
                                      reference=kw["reference"], model_overrides=overrides, shard=shard)
        if shard is None or shard.main:
            tmp = d / (SUMMARY + ".tmp")
            tmp.write_text(json.dumps(summary), encoding="utf-8")
            tmp.rename(d / SUMMARY)
    finally:
        close_shard(shard)


if __name__ == "__main__":
    main(Path(sys.argv[1]))
