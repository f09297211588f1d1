"""Bad input gets a clear ConfigError naming the option."""

from __future__ import annotations

import json

import pytest

from fiubench.errors import ConfigError
from fiubench.models import ModelConfig, TuningScope, list_families, load_vlm
from fiubench.utils.config import from_dict


def test_missing_path(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_vlm(ModelConfig(name_or_path=str(tmp_path / "nope")))
    with pytest.raises(ConfigError, match="does not exist"):
        load_vlm(ModelConfig(name_or_path="./relative/missing"))


def test_dir_without_config(tmp_path):
    with pytest.raises(ConfigError, match="no config.json"):
        load_vlm(ModelConfig(name_or_path=str(tmp_path)))


def test_unknown_family_lists_supported():
    with pytest.raises(ConfigError) as e:
        ModelConfig(family="llava-2").validate()
    msg = str(e.value)
    assert "llava-2" in msg
    for f in list_families():
        assert f.name in msg


def test_checkpoint_of_another_family(tiny_family_dir):
    with pytest.raises(ConfigError, match=r"'idefics2'.*not a 'qwen2-vl'"):
        load_vlm(ModelConfig(name_or_path=str(tiny_family_dir("idefics2")), family="qwen2-vl"))
    # same model_type, other language model
    with pytest.raises(ConfigError, match="phi3"):
        load_vlm(ModelConfig(name_or_path=str(tiny_family_dir("llava-1.5")), family="llava-phi-3-mini"))


def test_saved_family_mismatch(tiny_vlm_dir):
    with pytest.raises(ConfigError, match="saved as family 'tiny'"):
        load_vlm(ModelConfig(name_or_path=str(tiny_vlm_dir), family="llava-1.5"))


def test_undetectable_family(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "bert"}))
    with pytest.raises(ConfigError, match="cannot detect the family"):
        load_vlm(ModelConfig(name_or_path=str(tmp_path)))


def test_lora_with_no_matching_modules(tiny_vlm_dir):
    scope = TuningScope(lora=True, lora_targets=["does_not_exist"])
    with pytest.raises(ConfigError, match="LoRA matches no module"):
        load_vlm(ModelConfig(name_or_path=str(tiny_vlm_dir), scope=scope))
    # LoRA asked but only the projector is in scope: nothing to adapt
    scope = TuningScope(lora=True, language=False, vision=False, projector=True)
    with pytest.raises(ConfigError, match="LoRA matches no module"):
        load_vlm(ModelConfig(name_or_path=str(tiny_vlm_dir), scope=scope))


def test_bad_values():
    with pytest.raises(ConfigError, match="dtype"):
        ModelConfig(dtype="float8").validate()
    with pytest.raises(ConfigError, match="nothing to train"):
        TuningScope(vision=False, projector=False, language=False).validate()
    with pytest.raises(ConfigError, match="attn_implementation"):
        ModelConfig(attn_implementation="fast").validate()
    with pytest.raises(ConfigError, match="unknown key"):
        from_dict(ModelConfig, {"name_or_pth": "tiny"})
    cfg = from_dict(ModelConfig, {"name_or_path": "x", "scope": {"lora": True, "lora_r": 8}})
    assert cfg.scope.lora_r == 8


def test_custom_lora_targets_stay_in_scope(tiny_vlm_dir):
    """'q_proj' also names vision-tower layers; only the language model's get LoRA."""
    scope = TuningScope(lora=True, lora_r=2, lora_alpha=4, lora_targets=["q_proj"])
    vlm = load_vlm(ModelConfig(name_or_path=str(tiny_vlm_dir), scope=scope))
    wrapped = [n for n, m in vlm.model.named_modules() if hasattr(m, "lora_A")]
    assert wrapped and all("language_model" in n and n.endswith("q_proj") for n in wrapped)
    scope = TuningScope(lora=True, lora_r=2, lora_alpha=4, vision=True, lora_targets=["q_proj"])
    vlm = load_vlm(ModelConfig(name_or_path=str(tiny_vlm_dir), scope=scope))
    wrapped = [n for n, m in vlm.model.named_modules() if hasattr(m, "lora_A")]
    assert any("vision_tower" in n for n in wrapped)


def test_cli_models_lists_families(capsys):
    from fiubench.cli.main import main

    assert main(["models"]) == 0
    out = capsys.readouterr().out
    for ckpt in ("llava-hf/llava-1.5-7b-hf", "xtuner/llava-phi-3-mini-hf",
                 "meta-llama/Llama-3.2-11B-Vision-Instruct", "HuggingFaceM4/idefics2-8b",
                 "Qwen/Qwen2-VL-7B-Instruct", "Qwen/Qwen2.5-VL-7B-Instruct"):
        assert ckpt in out


def test_load_image(tmp_path):
    from PIL import Image

    from fiubench.errors import DataError
    from fiubench.models import load_image

    Image.new("L", (8, 8), 128).save(tmp_path / "g.png")
    assert load_image(tmp_path / "g.png").mode == "RGB"
    with pytest.raises(DataError, match="not found"):
        load_image(tmp_path / "missing.png")
    (tmp_path / "bad.png").write_text("not an image")
    with pytest.raises(DataError, match="not a readable image"):
        load_image(tmp_path / "bad.png")


def test_lora_adapter_refuses_a_changed_base(tmp_path, face_image):
    import shutil

    from fiubench.tiny.model import save_random_tiny

    base = save_random_tiny(tmp_path / "base", seed=0)
    scope = TuningScope(lora=True, lora_r=2, lora_alpha=4)
    vlm = load_vlm(ModelConfig(name_or_path=str(base), scope=scope))
    vlm.save(tmp_path / "adapter")
    shutil.rmtree(base)
    save_random_tiny(base, seed=1)  # same path, other weights
    with pytest.raises(ConfigError, match="changed since"):
        load_vlm(ModelConfig(name_or_path=str(tmp_path / "adapter"), scope=scope))
