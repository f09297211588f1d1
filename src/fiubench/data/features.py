"""Pluggable image encoders: image -> feature vector (face selection, diversity, FID).

- ``"pixels"`` (default, no weights): an 8x8 RGB thumbnail (layout and colours)
  plus 8-bin per-channel colour histograms, 216 dims. Cheap enough for a 100k pool.
- a path to a local Hugging Face vision model (e.g. a CLIP checkpoint
  directory): its pooled output (``pooler_output``, else the mean of the last
  hidden state), with the checkpoint's PIL image processor. Loaded with
  ``trust_remote_code=False`` and safetensors only; never downloads.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from fiubench.errors import ConfigError, DataError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp")

Encoder = Callable[[Sequence[Path]], np.ndarray]


def open_rgb(path: Path, draft: int | None = None) -> Image.Image:
    """Open an image as RGB, with a clear error naming the file when unreadable."""
    try:
        im = Image.open(path)
        if draft is not None and im.format == "JPEG":
            im.draft("RGB", (draft, draft))  # decode JPEGs at reduced size: much faster
        return im.convert("RGB")
    except FileNotFoundError:
        raise DataError(f"{path}: image file not found") from None
    except (OSError, SyntaxError, ValueError) as e:
        raise DataError(f"{path}: unreadable image ({e})") from None


def pixel_features(images: Sequence[Image.Image]) -> np.ndarray:
    out = np.empty((len(images), 8 * 8 * 3 + 24), dtype=np.float32)
    for i, im in enumerate(images):
        small = np.asarray(im.resize((32, 32), Image.BILINEAR), dtype=np.float32) / 255.0
        thumb = small.reshape(8, 4, 8, 4, 3).mean(axis=(1, 3)).ravel()
        hist = np.concatenate(
            [np.histogram(small[..., c], bins=8, range=(0.0, 1.0))[0] / (32 * 32) for c in range(3)]
        )
        out[i, : thumb.size] = thumb
        out[i, thumb.size :] = hist
    return out


def _pixels_encoder(paths: Sequence[Path]) -> np.ndarray:
    feats = [pixel_features([open_rgb(p, draft=64)]) for p in paths]
    return np.concatenate(feats) if feats else np.zeros((0, 216), dtype=np.float32)


def _hf_encoder(model_dir: Path, batch_size: int = 32) -> Encoder:
    import torch
    from transformers import AutoConfig, AutoModel, CLIPImageProcessorPil, CLIPVisionModel

    try:
        config = AutoConfig.from_pretrained(model_dir, local_files_only=True)
    except (OSError, ValueError) as e:
        raise ConfigError(f"--encoder {model_dir}: not a loadable Hugging Face model directory ({e})") from None
    kind = getattr(config, "model_type", "")
    if kind == "clip":
        model = CLIPVisionModel.from_pretrained(model_dir, local_files_only=True, use_safetensors=True)
    else:
        model = AutoModel.from_pretrained(model_dir, local_files_only=True, use_safetensors=True)
    if hasattr(model, "vision_model") and kind != "clip":
        model = model.vision_model
    model.eval()
    try:
        processor = CLIPImageProcessorPil.from_pretrained(model_dir, local_files_only=True)
    except OSError as e:
        raise ConfigError(f"--encoder {model_dir}: no image processor config (preprocessor_config.json): {e}") from None

    def encode(paths: Sequence[Path]) -> np.ndarray:
        outs = []
        for i in range(0, len(paths), batch_size):
            ims = [open_rgb(p) for p in paths[i : i + batch_size]]
            pixel_values = processor(images=ims, return_tensors="pt")["pixel_values"]
            with torch.no_grad():
                o = model(pixel_values=pixel_values)
            pooled = getattr(o, "pooler_output", None)
            if pooled is None:
                pooled = o.last_hidden_state.mean(dim=1)
            outs.append(pooled.float().numpy())
        return np.concatenate(outs) if outs else np.zeros((0, 1), dtype=np.float32)

    return encode


def get_encoder(name: str) -> Encoder:
    """``"pixels"`` or a path to a local HF vision model directory."""
    if name == "pixels":
        return _pixels_encoder
    path = Path(name)
    if not path.is_dir():
        raise ConfigError(
            f"--encoder {name!r}: not 'pixels' and not a directory holding a local Hugging Face vision model"
        )
    return _hf_encoder(path)


def list_images(folder: Path) -> list[Path]:
    """Every image under ``folder`` (recursive), sorted for determinism."""
    if not folder.is_dir():
        raise DataError(f"--faces {folder}: not a directory")
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
