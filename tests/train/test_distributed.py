"""Two real CPU processes (torchrun + gloo) run the tiny learn like one process does.

measured.md: ``accelerate launch --num_processes 2 --cpu`` silently runs ONE process
here, so the test uses torchrun and checks that two ranks really ran.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from .test_engine import _learn, _log

HERE = Path(__file__).parent


@pytest.mark.slow
def test_two_process_learn_matches_one_process(tiny_data, tiny_base, tmp_path):
    steps = 3
    single = _learn(tiny_data, tiny_base, tmp_path / "one", batch_size=8, max_steps=steps)
    out = tmp_path / "two"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           str(HERE / "ddp_learn.py"), str(tiny_data), str(tiny_base), str(out), "4", str(steps)]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    pids = {p.name: p.read_text() for p in (tmp_path / "two.ranks").iterdir()}
    assert sorted(pids) == ["rank0", "rank1"] and len(set(pids.values())) == 2
    rows = _log(out)
    assert all(r["world_size"] == 2 for r in rows)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["world_size"] == 2 and summary["global_batch"] == 8
    one = _log(single)
    assert [r["loss"] for r in rows] == pytest.approx([r["loss"] for r in one], rel=1e-4)
    assert summary["final_loss"] == pytest.approx(one[-1]["loss"], rel=1e-4)
