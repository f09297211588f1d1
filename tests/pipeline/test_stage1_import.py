"""Bring your own stage 1: importing existing fine-tuned / retain checkpoints."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from fiubench.errors import ConfigError
from fiubench.pipeline.stage1_import import IMPORT_FILE, import_key, import_model, parse_source


def _ckpt(root: Path) -> Path:
    root.mkdir(parents=True)
    (root / "config.json").write_text('{"model_type": "llava"}')
    (root / "model.safetensors").write_bytes(b"\x00" * 64)
    return root


def test_sources_are_a_checkpoint_directory_or_a_hub_id(tmp_path: Path) -> None:
    ck = _ckpt(tmp_path / "ft")
    assert parse_source(str(ck), "w") == (str(ck.resolve()), None, True)
    assert parse_source("org/model@v1.0", "w") == ("org/model", "v1.0", False)
    with pytest.raises(ConfigError, match="run.learn.finetuned_from: .*no config.json"):
        parse_source(str(tmp_path), "run.learn.finetuned_from")
    with pytest.raises(ConfigError, match="run.learn.retain_from: './nowhere' is neither"):
        parse_source("./nowhere", "run.learn.retain_from")


def test_the_key_follows_the_checkpoint_and_the_copy_records_its_provenance(tmp_path: Path) -> None:
    ck = _ckpt(tmp_path / "ft")
    k1 = import_key(str(ck), "w")
    assert import_key(str(ck), "w") == k1
    (ck / "model.safetensors").write_bytes(b"\x01" * 65)  # a different checkpoint: a different key
    assert import_key(str(ck), "w") != k1
    step = tmp_path / "step"
    summary = import_model(step, source=str(ck), where="w")
    assert summary == {"model": "run/model", "imported_from": str(ck)}
    assert (step / "run" / "model" / "model.safetensors").read_bytes() == b"\x01" * 65
    rec = json.loads((step / IMPORT_FILE).read_text())
    assert rec["source"] == str(ck) and rec["kind"] == "local"
    assert rec["files"]["model.safetensors"] == {"bytes": 65, "sha256": hashlib.sha256(b"\x01" * 65).hexdigest()}
    import_model(step, source=str(ck), where="w")  # an interrupted or repeated import starts clean
    assert sorted(p.name for p in (step / "run").iterdir()) == ["model"]


def test_an_import_with_a_stage1_sweep_is_refused(tmp_path: Path) -> None:
    from fiubench.presets import load_run_config

    ck = _ckpt(tmp_path / "ft")
    cfg = load_run_config("smoke", None)
    cfg.learn.finetuned_from = str(ck)
    cfg.validate()  # alone: fine
    cfg.sweep.learn_lr = [1e-3, 2e-3]
    with pytest.raises(ConfigError, match=r"run.learn.finetuned_from: .*re-learnt per variant \(sweep.learn_lr\)"):
        cfg.validate()
    cfg.sweep.learn_lr = []
    cfg.learn.retain_from = str(tmp_path / "nope")
    with pytest.raises(ConfigError, match="run.learn.retain_from"):
        cfg.validate()
