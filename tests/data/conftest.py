"""Small builds shared by the data tests (12 identities x 5 QA: well under a second)."""

from __future__ import annotations

from pathlib import Path

import pytest

from fiubench.data.build import DataConfig, build_dataset

FIXTURE_OFFICIAL = Path(__file__).resolve().parents[1] / "fixtures" / "official" / "dataset"


def small_config(**kw: object) -> DataConfig:
    base: dict[str, object] = {"n_identities": 40, "qa_per_identity": 5, "seed": 3}
    base.update(kw)
    return DataConfig(**base)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def small_ds(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_dataset(small_config(), tmp_path_factory.mktemp("ds") / "small")
