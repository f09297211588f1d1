"""Pipeline checks that must fail before anything heavy runs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fiubench.data.build import build_dataset
from fiubench.errors import ConfigError
from fiubench.pipeline.run import Pipeline
from fiubench.presets import load_run_config


def test_missing_split_fails_before_any_training(tmp_path: Path) -> None:
    """A dataset without the MIA holdout split is refused right after loading it."""
    cfg = load_run_config("smoke")
    data = build_dataset(cfg.data, tmp_path / "ds")
    splits = json.loads((data / "split.json").read_text())
    splits.pop("holdout")
    (data / "split.json").write_text(json.dumps(splits))
    cfg.dataset = data
    with pytest.raises(ConfigError, match=r"holdout_split.*'holdout'"):
        Pipeline(cfg, tmp_path / "run", log=lambda _m: None).run()
    assert not list((tmp_path / "run" / "steps").glob("learn*"))


def test_new_face_renderer_rebuilds_the_dataset(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Same data config, other renderer version: another data-step key, so a cached
    dataset drawn by the old renderer is not reused."""
    import fiubench.data.faces as faces

    cfg = load_run_config("smoke")
    before = Pipeline(cfg, tmp_path / "run", log=lambda _m: None).data_step()[1]
    assert Pipeline(cfg, tmp_path / "run", log=lambda _m: None).data_step()[1] == before
    monkeypatch.setattr(faces, "RENDER_VERSION", faces.RENDER_VERSION + 1)
    assert Pipeline(cfg, tmp_path / "run", log=lambda _m: None).data_step()[1] != before


def test_new_shipped_base_relearns(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """"tiny" names package data: other shipped weights give the stage-1 step another
    key, so a cache does not reuse models learnt from the old base; a local checkpoint's
    key is its config alone."""
    import dataclasses

    import fiubench.pipeline.steps as steps
    from fiubench.models.loading import tiny_base_dir
    from fiubench.models.vlm import weights_fingerprint

    cfg = load_run_config("smoke")
    assert cfg.model.name_or_path == "tiny"
    assert steps.model_key(cfg.model)["tiny_base"] == weights_fingerprint(tiny_base_dir()) is not None

    def key() -> str:
        from fiubench.pipeline.cache import step_key

        pipe = Pipeline(cfg, tmp_path / "run", log=lambda _m: None)
        step = pipe.learn_step(tmp_path / "ds", "data-key", "retain", cfg.variants()[0])
        return step_key(step.name, step.config, step.inputs)

    before = key()
    assert key() == before
    monkeypatch.setattr(steps, "tiny_base_fingerprint", lambda: "another base")
    assert key() != before
    local = dataclasses.replace(cfg.model, name_or_path=str(tmp_path / "ckpt"))
    assert "tiny_base" not in steps.model_key(local)


def test_new_visual_questions_rebuild_the_dataset(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The visual questions' version is in the data step's key: a cached dataset asked
    the old questions is rebuilt, not reused (its config alone is unchanged)."""
    import fiubench.data.visual as visual

    def key() -> str:
        return Pipeline(load_run_config("smoke"), tmp_path / "run", log=lambda _m: None).data_step()[1]

    before = key()
    monkeypatch.setattr(visual, "VISUAL_QA_VERSION", visual.VISUAL_QA_VERSION + 1)
    assert key() != before
