"""Sharded evaluation: the model passes of ``evaluate`` split across processes.

Under ``torchrun --nproc_per_node N`` or ``accelerate launch --num_processes N``,
``fiubench eval`` runs one process per GPU (or CPU worker). Every model pass
(generation, visual questions, scoring) is cut into the *same* batches as one
process would use, batch i goes to rank ``i mod N``, and the per-sample outputs are
gathered back in order. Because a batch is the unit that is computed identically
whatever the number of processes (same rows, same padding), every per-sample
statistic -- and so every metric -- equals the single-process one exactly. The
judge runs on rank 0 only (an API judge is paid per call) and its verdicts are
broadcast; rank 0 writes the results.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

T = TypeVar("T")
R = TypeVar("R")


@dataclass(frozen=True)
class Shard:
    """This process's place among ``world`` evaluating processes."""

    rank: int
    world: int

    @property
    def main(self) -> bool:
        return self.rank == 0

    def map_batches(self, items: Sequence[T], batch_size: int, fn: Callable[[list[T]], list[R]]) -> list[R]:
        """``fn`` over this rank's batches of ``items``; every rank gets every output, in order."""
        import torch.distributed as dist

        starts = list(range(0, len(items), batch_size))
        mine = {i: fn(list(items[s : s + batch_size])) for i, s in enumerate(starts) if i % self.world == self.rank}
        parts: list[Any] = [None] * self.world
        dist.all_gather_object(parts, mine)
        merged: dict[int, list[R]] = {}
        for p in parts:
            merged.update(p)
        return [x for i in range(len(starts)) for x in merged[i]]

    def from_main(self, value: Any) -> Any:
        """Rank 0's ``value`` on every rank."""
        import torch.distributed as dist

        box = [value if self.main else None]
        dist.broadcast_object_list(box, src=0)
        return box[0]


def launched_world() -> int:
    """How many processes the launcher (torchrun / accelerate launch) started (1: none)."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def init_shard() -> tuple[Shard | None, str | None]:
    """Join the launcher's process group (gloo on CPU, NCCL on GPUs, via accelerate).

    Returns this process's shard (None when not launched with several processes) and
    the device it should use (None: the default).
    """
    if launched_world() <= 1:
        return None, None
    import torch
    from accelerate import PartialState

    # without cpu=True accelerate leaves CPU processes unconnected (each one thinks it is alone)
    state = PartialState(cpu=not torch.cuda.is_available())
    if state.num_processes != launched_world():
        raise RuntimeError(f"launched {launched_world()} processes but only {state.num_processes} joined")
    device = "cpu" if state.device.type == "cpu" else str(state.device)
    return Shard(state.process_index, state.num_processes), device


def close_shard(shard: Shard | None) -> None:
    """Leave the process group cleanly (torch aborts at exit otherwise, measured.md)."""
    if shard is None:
        return
    import gc

    import torch.distributed as dist

    gc.collect()
    if dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()
