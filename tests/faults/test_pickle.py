"""Safetensors only: pickle weights (.bin/.pt) of a LoRA adapter, a model or the
offline judge are refused unless the user allows them explicitly."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from fiubench.errors import ConfigError


def _to_pickle(dirpath: Path, st_name: str, bin_name: str) -> None:
    torch.save(load_file(str(dirpath / st_name)), dirpath / bin_name)
    (dirpath / st_name).unlink()


def test_lora_adapter_saved_as_bin_is_refused_unless_allowed(random_tiny, tmp_path):
    from fiubench.models import ModelConfig, load_vlm
    from fiubench.models.config import TuningScope

    vlm = load_vlm(ModelConfig(name_or_path=str(random_tiny), device="cpu",
                               scope=TuningScope(lora=True, lora_r=4, lora_alpha=8)))
    ckpt = tmp_path / "lora"
    vlm.save(ckpt)
    assert (ckpt / "adapter_model.safetensors").is_file()
    _to_pickle(ckpt, "adapter_model.safetensors", "adapter_model.bin")
    with pytest.raises(ConfigError, match=r"adapter_model.bin.*safetensors only.*allow-pickle"):
        load_vlm(ModelConfig(name_or_path=str(ckpt), device="cpu"))
    assert load_vlm(ModelConfig(name_or_path=str(ckpt), device="cpu", allow_pickle=True)) is not None


def test_full_model_as_bin_is_refused(random_tiny, tmp_path):
    from fiubench.models import ModelConfig, load_vlm

    m = tmp_path / "m"
    shutil.copytree(random_tiny, m)
    _to_pickle(m, "model.safetensors", "pytorch_model.bin")
    with pytest.raises(ConfigError, match=r"pytorch_model.bin.*safetensors only"):
        load_vlm(ModelConfig(name_or_path=str(m), device="cpu"))


def test_offline_judge_weights_as_bin_are_refused(tmp_path):
    from fiubench.metrics.judge import JudgeConfig, build_judge
    from fiubench.metrics.judge.similarity import default_model_path

    src = default_model_path()
    m = tmp_path / "judge"
    m.mkdir()
    for f in src.iterdir():
        if f.is_file() and f.suffix != ".safetensors":
            shutil.copy(f, m / f.name)
    torch.save(load_file(str(src / "model.safetensors")), m / "pytorch_model.bin")
    with pytest.raises(ConfigError, match=r"judge.model: .*pytorch_model.bin.*judge.allow_pickle"):
        build_judge(JudgeConfig(backend="similarity", model=str(m)))
    ok = build_judge(JudgeConfig(backend="similarity", model=str(m), allow_pickle=True))
    assert ok.score("q", "a cat", "a cat").score == pytest.approx(1.0, abs=1e-3)
