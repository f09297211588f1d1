"""Shared fixtures: tiny random-initialised VLMs built offline (no downloads).

``tiny_vlm_dir``: a random tiny LLaVA checkpoint directory (session-scoped, built
once); ``tiny_vlm``: a fresh ``VLM`` loaded from it (function-scoped, so tests may
train it); ``face_image``: a 64 px RGB image.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def tiny_vlm_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from fiubench.tiny.model import save_random_tiny

    return save_random_tiny(tmp_path_factory.mktemp("tiny_vlm") / "model", seed=0)


@pytest.fixture(scope="session")
def tiny_family_dir(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Path]:
    """family name -> a tiny random checkpoint dir of that family (cached per session)."""
    from fiubench.tiny.testing import save_tiny_family

    cache: dict[str, Path] = {}

    def get(family: str) -> Path:
        if family not in cache:
            cache[family] = save_tiny_family(family, tmp_path_factory.mktemp(family) / "model", seed=0)
        return cache[family]

    return get


@pytest.fixture
def tiny_vlm(tiny_vlm_dir: Path):  # -> fiubench.models.VLM
    from fiubench.models import ModelConfig, load_vlm

    return load_vlm(ModelConfig(name_or_path=str(tiny_vlm_dir), device="cpu"))


@pytest.fixture
def face_image():  # -> PIL.Image.Image
    from PIL import Image

    img = Image.new("RGB", (64, 64), (180, 140, 120))
    for x in range(20, 44):
        for y in range(24, 30):
            img.putpixel((x, y), (30, 30, 30))
    return img
