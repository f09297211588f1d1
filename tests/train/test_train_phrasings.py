"""Stage 1 on training-only phrasings (learn.train_phrasings)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fiubench.data.phrasings import MAX_PHRASINGS
from fiubench.errors import ConfigError, DataError
from fiubench.models import ModelConfig
from fiubench.train import LearnConfig, learn
from fiubench.train.config import resume_key, train_preset

from .conftest import N_IDENTITIES, QA_PER_IDENTITY

OFFICIAL = Path(__file__).resolve().parents[1] / "fixtures" / "official" / "dataset"


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _cfg(data: Path, out: Path, base: Path, n: int) -> LearnConfig:
    return LearnConfig(data=data, out=out, split="full", model=ModelConfig(name_or_path=str(base)),
                       train=train_preset("tiny", progress=False, max_steps=1, batch_size=8), train_phrasings=n)


def test_learn_adds_the_phrasings_and_leaves_the_dataset_byte_identical(tiny_data, tiny_base, tmp_path):
    before = _files(tiny_data)
    summary = json.loads((learn(_cfg(tiny_data, tmp_path / "r", tiny_base, 2)) / "summary.json").read_text())
    n_qa = N_IDENTITIES * QA_PER_IDENTITY
    assert (summary["n_examples"], summary["n_phrasings"]) == (3 * n_qa, 2 * n_qa)
    assert _files(tiny_data) == before  # evaluation data untouched: nothing written, nothing changed
    off = json.loads((learn(_cfg(tiny_data, tmp_path / "off", tiny_base, 0)) / "summary.json").read_text())
    assert (off["n_examples"], off["n_phrasings"]) == (n_qa, 0)


def test_the_official_release_is_refused_before_weights_load(tiny_base, tmp_path):
    with pytest.raises(DataError, match="learn.train_phrasings: 1 needs each QA's profile field"):
        learn(_cfg(OFFICIAL, tmp_path / "r", tiny_base, 1))
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("n", [-1, MAX_PHRASINGS + 1, True])
def test_out_of_range_is_a_config_error(tiny_data, tmp_path, n):
    with pytest.raises(ConfigError, match=r"learn.train_phrasings: must be an integer in \[0, "):
        LearnConfig(data=tiny_data, out=tmp_path, train_phrasings=n).validate()


def test_resume_key_only_carries_the_option_when_set(tiny_data, tmp_path):
    assert "train_phrasings" not in resume_key(LearnConfig(data=tiny_data, out=tmp_path))
    assert resume_key(LearnConfig(data=tiny_data, out=tmp_path, train_phrasings=2))["train_phrasings"] == 2
