"""`seeds:` / `--seeds N`: unlearning (and optionally learning) repeated under seeds."""

from __future__ import annotations

import pytest

from fiubench.cli.main import main
from fiubench.errors import ConfigError
from fiubench.presets import load_run_config
from fiubench.report.uncertainty import seedless


def test_seeds_repeat_unlearning_only_by_default() -> None:
    cfg = load_run_config("smoke", overrides={"seeds": 3, "unlearn": {"train": {"seed": 7}}})
    vs = cfg.variants()
    assert [v.values["unlearn_seed"] for v in vs] == [7, 8, 9]
    assert {v.learn_label for v in vs} == {""}  # one fine-tuned and one retain model
    assert [v.label for v in vs] == ["unlearn_seed=7", "unlearn_seed=8", "unlearn_seed=9"]
    assert {seedless(v.label) for v in vs} == {""}


def test_seeds_learn_repeats_both_stages() -> None:
    cfg = load_run_config("smoke", overrides={"seeds": 2, "seeds_learn": True})
    vs = cfg.variants()
    assert len({v.learn_label for v in vs}) == 2 and all("seed=" in v.label for v in vs)


def test_seeds_errors() -> None:
    with pytest.raises(ConfigError, match="run.seeds"):
        load_run_config("smoke", overrides={"seeds": 2, "sweep": {"seed": [0, 1]}}).validate()
    with pytest.raises(ConfigError, match="run.seeds"):
        load_run_config("smoke", overrides={"seeds": 0}).validate()


def test_cli_seeds_flag_is_checked(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "--preset", "smoke", "--seeds", "0", "--out", "/nonexistent/x"]) == 2
    assert "--seeds" in capsys.readouterr().err


def test_seedless_keeps_other_settings() -> None:
    assert seedless("unlearn_lr=0.001,unlearn_seed=2") == "unlearn_lr=0.001"
    assert seedless("seed=1,learn_scope=projector") == "learn_scope=projector"
