"""Fixtures: a small dataset and a random tiny VLM, built offline once per session."""

from __future__ import annotations

from pathlib import Path

import pytest

N_IDENTITIES, QA_PER_IDENTITY = 10, 4
FORGET = "forget20"  # 2 of the 10 identities


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from fiubench.data.build import DataConfig, build_dataset

    out = tmp_path_factory.mktemp("data") / "fiu"
    build_dataset(DataConfig(n_identities=N_IDENTITIES, qa_per_identity=QA_PER_IDENTITY, seed=0,
                             forget_percents=(20,), retain_percents=(10,)), out)
    return out


@pytest.fixture(scope="session")
def tiny_base(tiny_vlm_dir: Path) -> Path:
    """The shared random tiny LLaVA checkpoint (tests/conftest.py)."""
    return tiny_vlm_dir
