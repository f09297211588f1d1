"""`fiubench eval` under torchrun with two CPU processes equals one process, metric for metric.

measured.md: ``accelerate launch --num_processes 2 --cpu`` runs ONE process here, so
the test launches two real processes with torchrun (gloo) and checks both ran.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from fiubench.eval.shard import Shard


def _eval(args: list[str], launcher: list[str]) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([*launcher, "-m", "fiubench", "eval", *args], capture_output=True, text=True,
                          env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


@pytest.mark.slow
def test_two_process_eval_equals_one_process(eval_data_dir: Path, eval_ckpt: Path, tmp_path: Path) -> None:
    # batch size 3: many batches, an uneven split between the ranks, a short last batch
    common = ["--model", str(eval_ckpt), "--data", str(eval_data_dir), "--forget", "forget5",
              "--retain-eval", "self", "--batch-size", "3", "--max-new-tokens", "6"]
    _eval([*common, "--out", str(tmp_path / "one")], [sys.executable])
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
    proc = _eval([*common, "--out", str(tmp_path / "two")], torchrun)
    one = json.loads((tmp_path / "one" / "results.json").read_text())
    two = json.loads((tmp_path / "two" / "results.json").read_text())
    assert two["engine"]["processes"] == 2, proc.stderr[-2000:]  # two ranks really shared the work
    assert "processes" not in one["engine"]
    assert one["metrics"].keys() == two["metrics"].keys() and len(one["metrics"]) > 10
    assert one["metrics"] == two["metrics"]  # exactly, not approximately
    assert one["aggregates"] == two["aggregates"]
    per_one = (tmp_path / "one" / "per_sample.jsonl").read_text()
    per_two = (tmp_path / "two" / "per_sample.jsonl").read_text()
    assert per_one == per_two


class _FakeDist:
    """all_gather_object over in-process 'ranks' (each rank's part computed ahead)."""

    def __init__(self, parts: list) -> None:
        self.parts = parts

    def all_gather_object(self, out: list, obj) -> None:  # noqa: ANN001
        out[:] = self.parts


def test_batches_go_round_robin_and_come_back_in_order(monkeypatch) -> None:
    import torch.distributed as dist

    items = list(range(10))
    seen: dict[int, list[list[int]]] = {0: [], 1: []}
    parts = []
    for rank in (0, 1):  # what each rank computes on its own
        mine = {}
        for i, s in enumerate(range(0, 10, 3)):
            if i % 2 == rank:
                seen[rank].append(items[s:s + 3])
                mine[i] = [x * 10 for x in items[s:s + 3]]
        parts.append(mine)
    assert seen == {0: [[0, 1, 2], [6, 7, 8]], 1: [[3, 4, 5], [9]]}
    monkeypatch.setattr(dist, "all_gather_object", _FakeDist(parts).all_gather_object)
    calls = []
    out = Shard(1, 2).map_batches(items, 3, lambda b: calls.append(b) or [x * 10 for x in b])
    assert calls == [[3, 4, 5], [9]]  # rank 1 computes only its own batches
    assert out == [x * 10 for x in items]
