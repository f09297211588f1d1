"""Image loading."""

from __future__ import annotations

from pathlib import Path

from PIL import Image, UnidentifiedImageError

from fiubench.errors import DataError


def load_image(path: str | Path) -> Image.Image:
    """Open an image file as RGB (fully read, file closed)."""
    path = Path(path)
    try:
        with Image.open(path) as im:
            return im.convert("RGB")
    except FileNotFoundError:
        raise DataError(f"image file not found: {path}") from None
    except (UnidentifiedImageError, OSError) as e:
        raise DataError(f"{path}: not a readable image ({e})") from None
