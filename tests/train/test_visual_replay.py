"""Stage-1 visual replay: visual QA on non-benchmark faces mixed into learning."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from fiubench.errors import ConfigError
from fiubench.models import ModelConfig
from fiubench.tiny.pools import visual_replay
from fiubench.train import LearnConfig, learn
from fiubench.train.config import train_preset


def test_replay_is_deterministic_sized_and_visual():
    a, images_a = visual_replay(40, seed=3)
    b, images_b = visual_replay(40, seed=3)
    c, _ = visual_replay(40, seed=4)
    assert a == b and a != c
    assert len(a) == 40
    assert len(images_a) == 5  # ~8 QA per face keeps the faces varied
    for path, question, answer in a:
        assert path in images_a
        assert "the image" in question
        assert answer
    assert all(np.array_equal(np.asarray(images_a[k]), np.asarray(images_b[k])) for k in images_a)
    assert visual_replay(0, seed=3) == ([], {})


def test_replay_faces_are_not_benchmark_faces(tiny_data):
    _, images = visual_replay(64, seed=0)
    bench = [np.asarray(Image.open(p).convert("RGB")) for p in sorted((tiny_data / "images").glob("*.png"))]
    for img in images.values():
        arr = np.asarray(img)
        assert not any(arr.shape == b.shape and np.array_equal(arr, b) for b in bench)


def test_learn_mixes_replay_into_training(tiny_data, tiny_base, tmp_path):
    t = train_preset("tiny", progress=False, max_steps=2, batch_size=8)
    run = learn(LearnConfig(data=tiny_data, out=tmp_path / "r", split="full",
                            model=ModelConfig(name_or_path=str(tiny_base)), train=t, visual_replay=12),
                replay=visual_replay)
    summary = json.loads((run / "summary.json").read_text())
    assert summary["n_visual_replay"] == 12
    assert summary["n_examples"] == 10 * 4 + 12


def test_negative_replay_is_a_config_error(tiny_data, tmp_path):
    with pytest.raises(ConfigError, match="visual_replay"):
        LearnConfig(data=tiny_data, out=tmp_path, visual_replay=-1).validate()


def test_replay_is_refused_when_no_caller_supplies_it(tiny_data, tiny_base, tmp_path):
    """train/ never draws the tiny base's faces itself: replay asked for but no source given
    stops the run before any weights load, and writes nothing."""
    cfg = LearnConfig(data=tiny_data, out=tmp_path / "r", split="full",
                      model=ModelConfig(name_or_path=str(tiny_base)), visual_replay=4)
    with pytest.raises(ConfigError, match="learn.visual_replay: 4 asks for replayed QA"):
        learn(cfg)
    assert not (tmp_path / "r").exists()
