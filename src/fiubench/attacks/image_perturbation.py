"""Image perturbation: the forget faces cropped, flipped, blurred, JPEG-compressed,
colour-jittered, then the standard forget questions.

Unlearning driven by the exact training image may only break the link for that
image; a slightly changed face of the same person can still retrieve the facts.
Perturbations (PIL, deterministic):

* ``crop``: the central ``crop`` fraction of the face, resized back;
* ``flip``: horizontal mirror;
* ``blur``: Gaussian blur, radius ``blur_radius`` x image width / 64;
* ``jpeg``: JPEG at quality ``jpeg_quality``;
* ``jitter``: brightness x1.2, contrast x0.8, saturation x1.3.

extraction = mean keyword_match of the generated answers over the forget QA, per
perturbation. Related: Carlini et al., "Are aligned neural networks adversarially
aligned?" (2023), and the image-side robustness checks of MLLMU-Bench (2024).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fiubench.attacks.base import Attack, AttackContext, AttackOptions, AttackOutcome
from fiubench.attacks.probes import forget_qa, qa_probes, summarise
from fiubench.attacks.registry import register_attack
from fiubench.errors import ConfigError
from fiubench.utils.registry import did_you_mean

PERTURBATIONS = ("crop", "flip", "blur", "jpeg", "jitter")


@dataclass
class ImagePerturbationOptions(AttackOptions):
    perturbations: list[str] = field(default_factory=lambda: list(PERTURBATIONS))
    crop: float = 0.8
    blur_radius: float = 1.0
    jpeg_quality: int = 20


def perturb(image: Any, kind: str, o: ImagePerturbationOptions) -> Any:
    """The perturbed copy of a PIL image."""
    from PIL import ImageEnhance, ImageFilter, ImageOps

    img = image.convert("RGB")
    w, h = img.size
    if kind == "crop":
        cw, ch = max(1, round(w * o.crop)), max(1, round(h * o.crop))
        left, top = (w - cw) // 2, (h - ch) // 2
        return img.crop((left, top, left + cw, top + ch)).resize((w, h))
    if kind == "flip":
        return ImageOps.mirror(img)
    if kind == "blur":
        return img.filter(ImageFilter.GaussianBlur(radius=o.blur_radius * w / 64))
    if kind == "jitter":
        img = ImageEnhance.Brightness(img).enhance(1.2)
        img = ImageEnhance.Contrast(img).enhance(0.8)
        return ImageEnhance.Color(img).enhance(1.3)
    if kind == "jpeg":
        import io

        from PIL import Image

        buf = io.BytesIO()
        img.save(buf, format="JPEG", quality=o.jpeg_quality)
        buf.seek(0)
        return Image.open(buf).convert("RGB")
    raise ConfigError(f"unknown perturbation {kind!r}")


@register_attack
class ImagePerturbation(Attack):
    name = "image_perturbation"
    summary = "the forget faces cropped, flipped, blurred, JPEG-compressed, colour-jittered"
    Options = ImagePerturbationOptions

    def check(self) -> None:
        o = self.options
        assert isinstance(o, ImagePerturbationOptions)
        if not o.perturbations:
            raise ConfigError("attack image_perturbation options.perturbations: empty")
        for i, k in enumerate(o.perturbations):
            if k not in PERTURBATIONS:
                raise ConfigError(
                    f"attack image_perturbation options.perturbations[{i}]: unknown {k!r}."
                    f"{did_you_mean(k, PERTURBATIONS)} Known: {', '.join(PERTURBATIONS)}."
                )
        if not 0 < o.crop <= 1:
            raise ConfigError(f"attack image_perturbation options.crop: must be in (0, 1], got {o.crop}")
        if not 1 <= o.jpeg_quality <= 95:
            raise ConfigError(f"attack image_perturbation options.jpeg_quality: must be in [1, 95], got {o.jpeg_quality}")
        if o.blur_radius <= 0:
            raise ConfigError("attack image_perturbation options.blur_radius: must be > 0")

    def run(self, model_dir: Path, ctx: AttackContext) -> AttackOutcome:
        from fiubench.models.images import load_image

        o = self.options
        assert isinstance(o, ImagePerturbationOptions)
        qas = forget_qa(ctx.dataset, ctx.forget)
        engine = ctx.engine(ctx.load(model_dir))
        out_dir = Path(ctx.work) / "images"
        out_dir.mkdir(parents=True, exist_ok=True)
        records = []
        for kind in o.perturbations:
            paths: dict[str, Path] = {}
            for p, _, _ in qas:
                if p.unique_id not in paths:
                    f = out_dir / f"{p.unique_id}_{kind}.png"  # lossless: the JPEG damage is already in
                    perturb(load_image(p.image_path), kind, o).save(f)
                    paths[p.unique_id] = f
            records += qa_probes(engine, qas, kind, ctx.max_new_tokens, image=lambda p, m=paths: m[p.unique_id])
        return summarise(self.name, records, list(o.perturbations))
