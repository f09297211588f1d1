"""Procedural face renderer: clearly different fictitious people from a seed, no downloads.

Each face is drawn from a small set of *categorical* visible attributes
(:class:`FaceAttributes`, the ground truth of the visual-attribute QA) plus
continuous per-identity jitter drawn from ``seed`` (proportions, positions,
exact colours), so two people with the same categories still look different.

Faces are drawn with PIL at ``SUPERSAMPLE`` times the requested size and
downsampled with a Lanczos filter (anti-aliasing). Drawing is deterministic:
same attributes + same seed + same size => identical pixels.
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass, fields

from PIL import Image

from fiubench.data import face_drawing as draw
from fiubench.data.face_drawing import BACKGROUND, CLOTHING, EYES, HAIR, SKIN

# The vocabulary of every attribute (the order is the sampling order of the choices).
ATTRIBUTE_VALUES: dict[str, tuple[str, ...]] = {
    "skin_tone": tuple(SKIN),
    "face_shape": ("oval", "round", "square", "long"),
    "hair_style": ("bald", "short", "long", "curly", "spiky", "bun"),
    "hair_color": (*HAIR, "none"),  # "none": bald and beardless, no hair visible
    "eye_color": tuple(EYES),
    "brows": ("thin", "thick"),
    "nose": ("small", "large"),
    "mouth": ("smiling", "neutral", "open"),
    "facial_hair": ("none", "mustache", "beard", "goatee"),
    "glasses": ("none", "round glasses", "square glasses", "sunglasses"),
    "headwear": ("none", "cap", "beanie", "hat", "headband"),
    "accessory": ("none", "earrings", "necklace"),
    "age_group": ("young", "middle-aged", "old"),
    "background": tuple(BACKGROUND),
    "clothing": tuple(CLOTHING),
}

SUPERSAMPLE = 4

# What the renderer draws for given attributes and seed. Bump it when pixels change:
# it is in the ``data`` step's cache key and in every dataset's build.json, so faces
# drawn by two renderers are never mixed. History: 1 first renderer; 2 age cues and
# glasses frames about one pixel wide at 64 px, facial hair and frames pushed away
# from the skin colour (``_stands_out``), so that every asked attribute is visible.
RENDER_VERSION = 2


@dataclass(frozen=True)
class FaceAttributes:
    """The visible, categorical attributes of a rendered face (values from ATTRIBUTE_VALUES)."""

    skin_tone: str
    face_shape: str
    hair_style: str
    hair_color: str
    eye_color: str
    brows: str
    nose: str
    mouth: str
    facial_hair: str
    glasses: str
    headwear: str
    accessory: str
    age_group: str
    background: str
    clothing: str

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if value not in ATTRIBUTE_VALUES[f.name]:
                raise ValueError(
                    f"FaceAttributes.{f.name}: {value!r} is not one of {ATTRIBUTE_VALUES[f.name]}"
                )

    def as_dict(self) -> dict[str, str]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, str]) -> FaceAttributes:
        return cls(**{f.name: d[f.name] for f in fields(cls)})


def _pick(rng: random.Random, weights: dict[str, float]) -> str:
    names = list(weights)
    return rng.choices(names, weights=[weights[n] for n in names])[0]


def sample_attributes(rng: random.Random, gender: str | None = None) -> FaceAttributes:
    """Draw a face's attributes. ``gender`` ("male"/"female"), when given, makes the
    face fit a profile (facial hair, baldness, hair length, earrings); age cues and
    grey hair are correlated with ``age_group`` as in real people."""
    if gender is None:
        gender = rng.choice(("male", "female"))
    male = gender == "male"
    age = rng.choice(ATTRIBUTE_VALUES["age_group"])
    style_w = (
        {"bald": 2 if age == "young" else 6, "short": 10, "long": 2, "curly": 4, "spiky": 3, "bun": 1}
        if male
        else {"bald": 0.3, "short": 4, "long": 10, "curly": 5, "spiky": 1, "bun": 5}
    )
    hair_style = _pick(rng, style_w)
    gray_w = {"young": 0.2, "middle-aged": 2.0, "old": 12.0}[age]
    hair_color = _pick(rng, {"black": 4, "brown": 4, "blonde": 3, "red": 2, "gray": gray_w})
    facial_hair = _pick(rng, {"none": 5, "mustache": 2, "beard": 3, "goatee": 2}) if male else "none"
    if hair_style == "bald" and facial_hair == "none":
        hair_color = "none"
    background = rng.choice(ATTRIBUTE_VALUES["background"])
    # Shirt colour never equal to the background's name (no invisible shirts).
    clothing = rng.choice([c for c in ATTRIBUTE_VALUES["clothing"] if c != background])
    return FaceAttributes(
        skin_tone=rng.choice(ATTRIBUTE_VALUES["skin_tone"]),
        face_shape=rng.choice(ATTRIBUTE_VALUES["face_shape"]),
        hair_style=hair_style,
        hair_color=hair_color,
        eye_color=rng.choice(ATTRIBUTE_VALUES["eye_color"]),
        brows=rng.choice(ATTRIBUTE_VALUES["brows"]),
        nose=rng.choice(ATTRIBUTE_VALUES["nose"]),
        mouth=_pick(rng, {"smiling": 5, "neutral": 4, "open": 2}),
        facial_hair=facial_hair,
        glasses=_pick(rng, {"none": 8, "round glasses": 2, "square glasses": 2, "sunglasses": 1.5}),
        headwear=_pick(rng, {"none": 10, "cap": 1.5, "beanie": 1.5, "hat": 1.5, "headband": 1}),
        accessory=_pick(rng, {"none": 6, "earrings": 3 if not male else 0.5, "necklace": 2}),
        age_group=age,
        background=background,
        clothing=clothing,
    )


def render_face(attrs: FaceAttributes, size: int = 64, seed: int = 0) -> Image.Image:
    """Draw the face described by ``attrs`` as a ``size`` x ``size`` RGB image.

    ``seed`` drives the per-identity jitter (face proportions, eye spacing, mouth
    width, exact colours...), so the same attributes with another seed give
    another person. The stages, back to front, are in :mod:`fiubench.data.face_drawing`:
    background, body and head, age cues, hair, eyes / brows / nose, facial hair and
    mouth, glasses, earrings, headwear.
    """
    if size < 8:
        raise ValueError(f"render_face: size must be >= 8, got {size}")
    rng = random.Random(seed)
    S = size * SUPERSAMPLE if size <= 256 else size * 2
    img, d = draw.background(attrs, rng, S)
    face = draw.layout(attrs, rng, d, S)
    for stage in draw.STAGES:
        stage(face)
    return img.resize((size, size), Image.LANCZOS)


def face_image(attrs: FaceAttributes, size: int, seed: int) -> Image.Image:
    """Alias of :func:`render_face` with required arguments (for map-style callers)."""
    return render_face(attrs, size=size, seed=seed)
