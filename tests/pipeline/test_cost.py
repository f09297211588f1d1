"""`fiubench plan`: GPUs per step from the family's size, and the grid's step count and cost."""

from __future__ import annotations

import copy
import math
import subprocess
import sys

import pytest

from fiubench.errors import ConfigError
from fiubench.pipeline.cost import FAMILY_SIZES, Hardware, gpus_for, plan_run
from fiubench.presets import load_run_config


def _paper(family: str):
    cfg = load_run_config("paper_main", None)
    cfg.model.family = family
    return cfg


def test_gpus_per_step_follow_the_memory_of_weights_gradients_and_adam() -> None:
    # written out independently: bf16 weights (2 B/param); full training adds a bf16
    # gradient and two fp32 Adam moments per trained parameter (LLM 0.90 + projector 0.01),
    # x1.2 for activations; 90 % of an 80 GB GPU usable
    for family in ("llava-phi-3-mini", "llava-1.5", "llama-3.2-vision"):
        p = FAMILY_SIZES[family][0]
        full = (2 * p + 0.91 * p * (2 + 8)) * 1.2
        assert gpus_for(_paper(family), "learn") == math.ceil(full / 72)
        assert gpus_for(_paper(family), "eval") == math.ceil(2 * p * 1.2 / 72)
        assert gpus_for(_paper(family), "unlearn") == math.ceil(2 * p * 1.3 / 72)  # LoRA
    assert gpus_for(_paper("llava-phi-3-mini"), "learn") == 1
    assert gpus_for(_paper("llava-1.5"), "learn") == 2
    assert gpus_for(_paper("llava-1.5"), "learn", Hardware(gpu_memory_gb=40)) == 3
    assert gpus_for(_paper("llava-1.5"), "data") == 0


def test_an_unsized_family_is_named() -> None:
    cfg = load_run_config("paper_main", None)
    cfg.model.name_or_path, cfg.model.family = "/models/mine", None
    with pytest.raises(ConfigError, match="run.model.family"):
        plan_run(cfg)


def test_the_grid_scales_the_plan() -> None:
    cfg = _paper("llava-phi-3-mini")
    cfg.methods = ["gd", "kl", "po", "npo"]  # each with a retain term: the same cost per run
    one = plan_run(cfg)
    more = copy.deepcopy(cfg)
    more.methods = cfg.methods[:2]
    half = plan_run(more)
    u1, u2 = one.by_kind()["unlearn"], half.by_kind()["unlearn"]
    assert u1[0] == 2 * u2[0] and u1[1] == pytest.approx(2 * u2[1]) and u1[2] == 2 * u2[2]
    seeds = copy.deepcopy(cfg)
    seeds.seeds = 3
    assert plan_run(seeds).by_kind()["unlearn"][0] == 3 * u1[0]
    assert plan_run(seeds).by_kind()["learn"][0] == 2  # stage 1 is shared by the unlearning seeds
    # the checkpoints an unlearning run keeps: save_every 6 over epochs x ceil(samples / batch)
    per = math.ceil(cfg.data.split_size(5) * cfg.data.qa_per_identity / cfg.unlearn.train.batch_size)
    n_ckpt = per * cfg.unlearn.train.epochs // cfg.unlearn.train.save_every
    assert one.by_kind()["eval"][0] == 2 + 1 + len(cfg.methods) * n_ckpt  # retain, fine-tuned, base


def test_plan_command_prints_the_cost_and_refuses_bad_options() -> None:
    cmd = [sys.executable, "-m", "fiubench", "plan", "--preset", "paper_main", "--families", "llava-phi-3-mini,llava-1.5"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "paper_main[llava-1.5]" in proc.stdout and "all: " in proc.stdout and "GPU-hours" in proc.stdout
    bad = subprocess.run([*cmd, "--mfu", "2"], capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "--mfu" in bad.stderr


def test_an_external_dataset_is_sized_from_its_split_file(tmp_path) -> None:
    import json

    from fiubench.pipeline.cost import _split_sizes

    (tmp_path / "split.json").write_text(json.dumps({"forget5": ["a", "b"], "retain": ["c", "d", "e"],
                                                     "holdout": ["h"]}))
    cfg = load_run_config("paper_main", None)
    cfg.dataset = tmp_path
    assert _split_sizes(cfg) == {"forget5": 2, "retain": 3, "holdout": 1, "full": 5}
    few = plan_run(cfg).by_kind()["eval"][0]
    cfg.dataset = None  # the embedded 400-identity dataset: more unlearning steps, more checkpoints
    assert plan_run(cfg).by_kind()["eval"][0] > few
