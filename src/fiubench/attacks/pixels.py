"""What the optimised image attacks share: the model's pixel space and the answer loss.

Perturbations live in image units (pixel values in [0, 1], an L-infinity budget such as
8/255) on the image the processor feeds the model: the processor's resized, cropped
face, ``pixel_values = (x - mean) / std`` per channel. Families whose processor yields
``[B, 3, H, W]`` pixel values (LLaVA-style, the tiny family) are supported; others
(patch-flattened pixels: Qwen2-VL, tiled: LLaVA-NeXT, Mllama) raise a clear error. A
perturbed face is written as a lossless PNG of the processor's size, so the attack is a
real 8-bit image and is asked through the standard evaluation engine.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from fiubench.errors import ConfigError

IGNORE = -100


def norm_stats(vlm: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """(mean, std) of the image processor as [1, 3, 1, 1] tensors on the model's device."""
    ip = getattr(vlm.processor, "image_processor", None)
    mean, std = getattr(ip, "image_mean", None), getattr(ip, "image_std", None)
    if mean is None or std is None:
        raise ConfigError(f"attack: family {vlm.family.name}: its image processor has no image_mean/image_std")
    shape = (1, 3, 1, 1)
    return (torch.tensor(mean, dtype=torch.float32, device=vlm.device).view(shape),
            torch.tensor(std, dtype=torch.float32, device=vlm.device).view(shape))


def answer_batch(vlm: Any, image: Any, qa: Sequence[tuple[str, str]]) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """The training batch of (image, question, answer) for every pair, and the face as
    image-unit pixels [1, 3, H, W] (what the perturbation is added to)."""
    batch = vlm.train_batch([(image, q, a) for q, a in qa])
    pix = batch["pixel_values"]
    if pix.dim() != 4 or pix.shape[1] != 3:
        raise ConfigError(
            f"attack: family {vlm.family.name} gives pixel values of shape {tuple(pix.shape)}; the optimised image "
            "attacks need [batch, 3, height, width] (LLaVA-style or tiny families)"
        )
    mean, std = norm_stats(vlm)
    return batch, (pix[:1].float() * std + mean).detach()


def answer_loss(vlm: Any, batch: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy of the answer tokens with the face replaced by image-unit pixels ``x``."""
    mean, std = norm_stats(vlm)
    pix = ((x - mean) / std).to(vlm.dtype).expand(batch["input_ids"].shape[0], -1, -1, -1)
    logits = vlm.forward({**batch, "pixel_values": pix}).float()
    labels = batch["labels"]
    return torch.nn.functional.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]),
                                             labels[:, 1:].reshape(-1), ignore_index=IGNORE)


def pgd_step(x0: torch.Tensor, delta: torch.Tensor, grad: torch.Tensor, alpha: float, eps: float) -> torch.Tensor:
    """One signed-gradient descent step on ``delta``, projected on the L-inf ball and on [0, 1]."""
    delta = (delta - alpha * grad.sign()).clamp(-eps, eps)
    return (x0 + delta).clamp(0, 1) - x0


def save_face(x: torch.Tensor, path: Path) -> Path:
    """Image-unit pixels [1, 3, H, W] as a lossless 8-bit PNG."""
    from PIL import Image

    arr = (x[0].detach().clamp(0, 1).permute(1, 2, 0).cpu().numpy() * 255).round().astype("uint8")
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).save(path)
    return path


def frozen(vlm: Any) -> Any:
    """``vlm`` in eval mode with no parameter gradients (only the pixels are optimised)."""
    vlm.model.eval()
    for p in vlm.model.parameters():
        p.requires_grad_(False)
    return vlm
