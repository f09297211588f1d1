"""learn.train_phrasings in `fiubench run`: validated, and in stage 1's cache key only when set."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from fiubench.errors import ConfigError
from fiubench.pipeline.cache import step_key
from fiubench.pipeline.run import Pipeline
from fiubench.presets import load_run_config


def _learn(cfg, tmp_path: Path):
    pipe = Pipeline(cfg, tmp_path / "run", log=lambda _m: None)
    return pipe.learn_step(tmp_path / "ds", "data-key", "full", cfg.variants()[0])


def test_off_keeps_the_stage1_key_and_on_changes_it(tmp_path: Path) -> None:
    cfg = load_run_config("smoke")
    assert cfg.learn.train_phrasings == 0
    off = _learn(cfg, tmp_path)
    assert "train_phrasings" not in off.config  # runs from before the option keep their cached stage 1
    on_cfg = dataclasses.replace(cfg, learn=dataclasses.replace(cfg.learn, train_phrasings=2))
    on = _learn(on_cfg, tmp_path)
    assert on.config["train_phrasings"] == 2 and on.fn.keywords["train_phrasings"] == 2
    assert step_key(on.name, on.config, on.inputs) != step_key(off.name, off.config, off.inputs)


def test_run_config_refuses_a_bad_count() -> None:
    cfg = load_run_config("smoke")
    bad = dataclasses.replace(cfg, learn=dataclasses.replace(cfg.learn, train_phrasings=-1))
    with pytest.raises(ConfigError, match="run.learn.train_phrasings"):
        bad.validate()


def test_the_official_release_is_refused_before_any_training(tmp_path: Path) -> None:
    """The official release's QA carry no profile field: the run stops at its dataset check,
    naming the option; with the option off the same dataset passes the check."""
    official = Path(__file__).resolve().parents[1] / "fixtures" / "official" / "dataset"
    cfg = load_run_config("smoke")
    cfg = dataclasses.replace(cfg, forget_splits=["forget1"],
                              eval=dataclasses.replace(cfg.eval, skip=[*cfg.eval.skip, "mia"]))
    Pipeline(cfg, tmp_path / "off", log=lambda _m: None).check_dataset(official)
    on = dataclasses.replace(cfg, learn=dataclasses.replace(cfg.learn, train_phrasings=1))
    with pytest.raises(ConfigError, match="run.learn.train_phrasings: 1 needs each QA's profile field"):
        Pipeline(on, tmp_path / "on", log=lambda _m: None).check_dataset(official)
