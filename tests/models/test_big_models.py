"""Big-model options: device_map / offload / 4-bit and 8-bit loading, checked before weights load."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch

from fiubench.errors import ConfigError
from fiubench.models.config import ModelConfig, TuningScope, placement_kwargs

HAS_BNB = importlib.util.find_spec("bitsandbytes") is not None


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"device_map": "everywhere"}, "model.device_map: 'everywhere' is not one of auto"),
        ({"device_map": "auto", "device": "cuda"}, "set either model.device or model.device_map"),
        ({"max_memory": {"0": "10GiB"}}, "model.max_memory: only with model.device_map"),
        ({"offload_folder": "/tmp/off"}, "model.offload_folder: only with model.device_map"),
        ({"quantization": "2bit"}, "model.quantization: '2bit' is not one of 4bit, 8bit"),
        ({"quantization": "4bit", "device": "cpu"}, "needs a CUDA GPU, but model.device is 'cpu'"),
    ],
)
def test_bad_placement_options_name_the_key(kwargs, message) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        ModelConfig(**kwargs).validate()


@pytest.mark.skipif(HAS_BNB, reason="bitsandbytes is installed here: the missing-package error cannot occur")
def test_quantization_without_bitsandbytes_says_how_to_install_it() -> None:
    with pytest.raises(ConfigError, match="pip install bitsandbytes"):
        ModelConfig(quantization="8bit").validate()


@pytest.mark.skipif(torch.cuda.is_available(), reason="a GPU is present: the no-GPU error cannot occur")
def test_quantization_on_a_machine_without_gpu_is_refused(monkeypatch) -> None:
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: object() if name == "bitsandbytes" else None)
    with pytest.raises(ConfigError, match="needs a CUDA GPU and this machine has none"):
        ModelConfig(quantization="4bit").validate()


def test_quantized_training_needs_lora() -> None:
    full = ModelConfig(quantization="4bit")
    with pytest.raises(ConfigError, match=r"learn.model.scope: 4bit weights cannot be trained in full"):
        full.check_trainable("learn.model")
    ModelConfig(quantization="4bit", scope=TuningScope(lora=True)).check_trainable()  # QLoRA: fine
    ModelConfig().check_trainable()  # not quantized: anything goes


def test_run_config_refuses_quantized_full_fine_tuning() -> None:
    from fiubench.presets import load_run_config

    cfg = load_run_config("smoke", None)
    cfg.model.quantization = "4bit"
    cfg.model.device = "cuda"
    with pytest.raises(ConfigError, match="run.model: 4bit weights cannot be trained in full|bitsandbytes"):
        cfg.validate()


def test_placement_kwargs_build_the_bitsandbytes_config() -> None:
    kw = placement_kwargs(ModelConfig(quantization="4bit", dtype="bfloat16"), ["model.multi_modal_projector"])
    q = kw["quantization_config"]
    assert q.load_in_4bit and q.bnb_4bit_quant_type == "nf4" and q.bnb_4bit_compute_dtype == torch.bfloat16
    assert q.llm_int8_skip_modules == ["model.multi_modal_projector"]
    assert kw["device_map"] == {"": "cuda"}
    kw = placement_kwargs(ModelConfig(quantization="8bit", device_map="auto", max_memory={"0": "70GiB", "cpu": "1TiB"}))
    assert kw["quantization_config"].load_in_8bit and kw["device_map"] == "auto"
    assert kw["max_memory"] == {0: "70GiB", "cpu": "1TiB"}
    assert placement_kwargs(ModelConfig()) == {}


def test_device_map_loads_and_evaluates_on_cpu(tmp_path: Path) -> None:
    """device_map goes through from_pretrained (accelerate's dispatch); on CPU it must
    give the same log-probabilities as the plain load."""
    from fiubench.models.loading import load_vlm
    from fiubench.tiny.model import save_random_tiny

    ckpt = save_random_tiny(tmp_path / "m", seed=0)
    plain = load_vlm(ModelConfig(name_or_path=str(ckpt), device="cpu"))
    mapped = load_vlm(ModelConfig(name_or_path=str(ckpt), device_map={"": "cpu"}))
    img = torch.zeros(3, 32, 32)
    from PIL import Image

    image = Image.fromarray((img.permute(1, 2, 0).numpy() * 255).astype("uint8"))
    batch = plain.train_batch([(image, "who is this?", "nobody.")])
    plain.model.eval()
    mapped.model.eval()
    with torch.no_grad():
        assert torch.equal(plain.forward(batch), mapped.forward(mapped.train_batch([(image, "who is this?", "nobody.")])))


def test_eval_cli_flags_are_checked_before_anything_loads(tmp_path: Path, capsys) -> None:
    from fiubench.cli.main import main

    base = ["eval", "--model", "tiny", "--data", str(tmp_path), "--out", str(tmp_path / "o")]
    assert main([*base, "--quantization", "4bit", "--device", "cpu"]) == 2
    assert "--quantization: 4bit loading (bitsandbytes) needs a CUDA GPU" in capsys.readouterr().err
    assert main([*base, "--max-memory", "0:70GiB", "--device-map", "auto"]) == 2
    assert "--max-memory: '0:70GiB' is not DEVICE=SIZE" in capsys.readouterr().err
    assert main([*base, "--offload-folder", str(tmp_path)]) == 2
    assert "--offload-folder: only with --device-map" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()
