"""Fixtures: a small dataset (6 identities x 4 QA, forget split of 2) built offline once."""

from __future__ import annotations

from pathlib import Path

import pytest

FORGET = "forget34"  # 2 of the 6 identities


@pytest.fixture(scope="session")
def attack_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from fiubench.data.build import DataConfig, build_dataset

    out = tmp_path_factory.mktemp("attack_data") / "fiu"
    build_dataset(DataConfig(n_identities=6, qa_per_identity=4, seed=0, holdout_fraction=0.34,
                             forget_percents=(34,), retain_percents=(34,), select="random"), out)
    return out


@pytest.fixture(scope="session")
def attack_dataset(attack_data: Path):  # -> FIUDataset
    from fiubench.data import load_dataset

    return load_dataset(attack_data)


@pytest.fixture
def ctx_for(attack_dataset, tmp_path: Path):  # -> (work name) -> AttackContext
    from fiubench.attacks import AttackContext

    def make(name: str = "work", **kw):  # noqa: ANN202
        kw.setdefault("max_new_tokens", 8)
        return AttackContext(dataset=attack_dataset, forget=FORGET, work=tmp_path / name,
                             model_overrides={"device": "cpu"}, **kw)

    return make
