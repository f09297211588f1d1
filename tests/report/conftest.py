"""Fixtures of the report tests: a temp database of synthetic results."""

from __future__ import annotations

from pathlib import Path

import pytest

from .report_synthetic import populate


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return populate(tmp_path / "results.sqlite")
