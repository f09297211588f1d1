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

import math
import random
from dataclasses import asdict, dataclass, fields

from PIL import Image, ImageDraw

RGB = tuple[int, int, int]

# Colours of the categorical values. Values are chosen so that each stays
# distinguishable from its neighbours at 64 px.
SKIN: dict[str, RGB] = {
    "pale": (250, 222, 205),
    "light": (236, 190, 152),
    "medium": (205, 152, 108),
    "olive": (176, 134, 84),
    "brown": (133, 86, 55),
    "dark": (82, 52, 36),
}
HAIR: dict[str, RGB] = {
    "black": (24, 21, 20),
    "brown": (104, 64, 34),
    "blonde": (228, 196, 112),
    "red": (178, 64, 28),
    "gray": (168, 168, 166),
}
EYES: dict[str, RGB] = {
    "brown": (92, 52, 22),
    "blue": (48, 118, 220),
    "green": (46, 150, 64),
}
BACKGROUND: dict[str, RGB] = {
    "blue": (110, 160, 225),
    "green": (125, 200, 130),
    "yellow": (240, 222, 110),
    "pink": (242, 168, 198),
    "gray": (178, 178, 178),
    "purple": (165, 125, 210),
    "orange": (245, 165, 90),
}
CLOTHING: dict[str, RGB] = {
    "red": (200, 40, 45),
    "blue": (35, 70, 170),
    "green": (35, 130, 60),
    "black": (30, 30, 34),
    "white": (240, 240, 240),
    "yellow": (235, 200, 40),
    "purple": (110, 50, 150),
}
# Accent colours of hats, glasses frames: not part of the ground truth.
_ACCENTS: tuple[RGB, ...] = (
    (200, 30, 30), (30, 60, 160), (20, 110, 50), (40, 40, 40), (220, 170, 20), (120, 60, 20),
)

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


def _jitter(rng: random.Random, c: RGB, amount: int = 10) -> RGB:
    return tuple(max(0, min(255, v + rng.randint(-amount, amount))) for v in c)  # type: ignore[return-value]


def _shade(c: RGB, f: float) -> RGB:
    return tuple(max(0, min(255, int(v * f))) for v in c)  # type: ignore[return-value]


def _mix(a: RGB, b: RGB, t: float) -> RGB:
    return tuple(int(x * (1 - t) + y * t) for x, y in zip(a, b, strict=True))  # type: ignore[return-value]


def _stands_out(c: RGB, ground: RGB, min_diff: int = 48) -> RGB:
    """``c``, pushed away from ``ground`` (lighter if it is the lighter one, else darker)
    until some channel differs by ``min_diff``: a brown goatee on dark skin or a brown
    frame on brown skin must still be visible at 64 px, as the attribute QA asks about it."""
    lighter = sum(c) >= sum(ground)
    for k in range(11):
        out = _mix(c, (255, 255, 255), 0.08 * k) if lighter else _shade(c, 1 - 0.08 * k)
        if max(abs(x - y) for x, y in zip(out, ground, strict=True)) >= min_diff:
            return out
    return out


def render_face(attrs: FaceAttributes, size: int = 64, seed: int = 0) -> Image.Image:
    """Draw the face described by ``attrs`` as a ``size`` x ``size`` RGB image.

    ``seed`` drives the per-identity jitter (face proportions, eye spacing, mouth
    width, exact colours...), so the same attributes with another seed give
    another person.
    """
    if size < 8:
        raise ValueError(f"render_face: size must be >= 8, got {size}")
    rng = random.Random(seed)
    S = size * SUPERSAMPLE if size <= 256 else size * 2

    def u(x: float) -> float:  # fraction of the canvas -> internal pixels
        return x * S

    bg = _jitter(rng, BACKGROUND[attrs.background], 14)
    img = Image.new("RGB", (S, S), bg)
    d = ImageDraw.Draw(img)
    # A soft lighter disc behind the head: depth cue, varies per person.
    halo = _mix(bg, (255, 255, 255), 0.18)
    hr = rng.uniform(0.36, 0.46)
    d.ellipse((u(0.5 - hr), u(0.45 - hr), u(0.5 + hr), u(0.45 + hr)), fill=halo)

    skin = _jitter(rng, SKIN[attrs.skin_tone], 8)
    skin_dark = _shade(skin, 0.82)
    hair = _jitter(rng, HAIR.get(attrs.hair_color, (60, 40, 30)), 10)
    shirt = _jitter(rng, CLOTHING[attrs.clothing], 10)
    accent = rng.choice(_ACCENTS)

    # Geometry: base proportions per face shape, then per-person jitter.
    fw, fh = {"oval": (0.235, 0.30), "round": (0.27, 0.28), "square": (0.255, 0.29), "long": (0.205, 0.33)}[
        attrs.face_shape
    ]
    fw *= rng.uniform(0.93, 1.07)
    fh *= rng.uniform(0.95, 1.05)
    cx = 0.5 + rng.uniform(-0.025, 0.025)
    cy = 0.46 + rng.uniform(-0.02, 0.02)
    eye_y = cy - fh * rng.uniform(0.02, 0.16)
    eye_dx = fw * rng.uniform(0.38, 0.50)
    eye_rx = rng.uniform(0.050, 0.062)
    eye_ry = eye_rx * rng.uniform(0.6, 0.8)
    mouth_y = cy + fh * rng.uniform(0.45, 0.58)
    mouth_w = fw * rng.uniform(0.30, 0.45)
    nose_y = (eye_y + mouth_y) / 2 + rng.uniform(0.0, 0.02)
    face_box = (u(cx - fw), u(cy - fh), u(cx + fw), u(cy + fh))

    # Shoulders and shirt.
    sw = rng.uniform(0.40, 0.48)
    d.ellipse((u(0.5 - sw), u(0.80 + rng.uniform(0, 0.04)), u(0.5 + sw), u(1.35)), fill=shirt)
    # Hair behind the head (long / curly volume).
    if attrs.hair_style == "long":
        drop = rng.uniform(0.75, 0.95)
        d.rounded_rectangle(
            (u(cx - fw - 0.05), u(cy - fh - 0.035), u(cx + fw + 0.05), u(drop)),
            radius=u(0.12), fill=hair,
        )
    elif attrs.hair_style == "curly":
        r = u(0.055)
        n = 16
        for i in range(n + 1):
            a = math.pi * (1.0 + 1.25 * i / n) - 0.4
            x = u(cx) + math.cos(a) * u(fw + 0.025)
            y = u(cy - 0.02) + math.sin(a) * u(fh + 0.02)
            d.ellipse((x - r, y - r, x + r, y + r), fill=hair)
    # Neck.
    neck_w = fw * rng.uniform(0.42, 0.55)
    d.rectangle((u(cx - neck_w), u(cy + fh * 0.6), u(cx + neck_w), u(0.9)), fill=skin_dark)
    if attrs.accessory == "necklace":
        d.arc((u(cx - neck_w - 0.02), u(0.72), u(cx + neck_w + 0.02), u(0.92)), 20, 160,
              fill=(230, 190, 60), width=int(u(0.018)))
    # Ears.
    ear_y = eye_y + 0.03
    for side in (-1, 1):
        ex = cx + side * fw
        d.ellipse((u(ex - 0.035), u(ear_y - 0.055), u(ex + 0.035), u(ear_y + 0.055)), fill=skin_dark)
    # Head.
    if attrs.face_shape == "square":
        d.rounded_rectangle(face_box, radius=u(0.09), fill=skin)
    else:
        d.ellipse(face_box, fill=skin)

    # Age cues, drawn to survive the 64 px downsampling (about one output pixel wide, a
    # third darker than the skin) and placed where hair, glasses and beards rarely
    # cover them all: middle-aged = nasolabial folds + eye bags; old = those + marionette
    # lines + cheek lines + lower eye bags. Forehead lines are added too, but a fringe often
    # hides them. (Measured by stage A's held-out age accuracy: hairline-thin cues
    # left it at 0.46, chance 0.33 plus what grey hair gives away.)
    # Shadow lines on light skin, highlight lines on very dark skin (a shadow would not
    # show there).
    line_c = _shade(skin, 0.55) if sum(skin) / 3 > 85 else _mix(skin, (255, 255, 255), 0.3)
    lw = max(1, int(u(0.017)))
    n_lines = {"young": 0, "middle-aged": 1, "old": 3}[attrs.age_group]
    for k in range(n_lines):
        y = cy - fh * (0.55 - 0.09 * k)
        d.arc((u(cx - fw * 0.45), u(y - 0.02), u(cx + fw * 0.45), u(y + 0.03)), 200, 340, fill=line_c, width=lw)
    if attrs.age_group != "young":
        for side in (-1, 1):
            x = cx + side * mouth_w * 1.15
            d.line((u(x - side * 0.03), u(nose_y - 0.01), u(x), u(mouth_y + 0.015)), fill=line_c, width=lw)
            ex = cx + side * eye_dx
            d.arc((u(ex - eye_rx * 1.1), u(eye_y), u(ex + eye_rx * 1.1), u(eye_y + eye_ry * 2.8)), 20, 160,
                  fill=line_c, width=lw)
    if attrs.age_group == "old":
        for side in (-1, 1):
            x = cx + side * mouth_w * 1.05
            d.line((u(x), u(mouth_y + 0.02), u(x + side * 0.012), u(mouth_y + fh * 0.3)), fill=line_c, width=lw)
            cheek = cx + side * fw * 0.72
            d.line((u(cheek), u(nose_y - 0.01), u(cheek - side * 0.015), u(mouth_y)), fill=line_c, width=lw)
            ex = cx + side * eye_dx
            d.arc((u(ex - eye_rx * 1.3), u(eye_y), u(ex + eye_rx * 1.3), u(eye_y + eye_ry * 3.6)), 20, 160,
                  fill=line_c, width=lw)

    # Hair on top of the head.
    hs = attrs.hair_style
    if hs != "bald":
        top = cy - fh - rng.uniform(0.025, 0.05)
        cap_box = (u(cx - fw - 0.015), u(top), u(cx + fw + 0.015), u(cy + fh * rng.uniform(0.7, 0.95)))
        d.chord(cap_box, 188, 352, fill=hair)
        # A side part / fringe so hairlines differ.
        side = rng.choice((-1, 1))
        fringe_y = cy - fh * rng.uniform(0.35, 0.5)
        d.polygon(
            [(u(cx + side * fw * 0.9), u(cy - fh * 0.6)), (u(cx - side * fw * rng.uniform(0.1, 0.6)), u(fringe_y)),
             (u(cx - side * fw * 0.9), u(cy - fh * 0.75)), (u(cx), u(top))],
            fill=hair,
        )
        if hs == "spiky":
            n = rng.randint(5, 8)
            for i in range(n):
                x0 = cx - fw * 0.9 + (2 * fw * 0.9) * i / n
                x1 = x0 + 2 * fw * 0.9 / n
                peak = top - rng.uniform(0.05, 0.09)
                d.polygon([(u(x0), u(top + 0.04)), (u((x0 + x1) / 2), u(peak)), (u(x1), u(top + 0.04))], fill=hair)
        elif hs == "bun":
            br = rng.uniform(0.07, 0.09)
            d.ellipse((u(cx - br), u(top - br * 1.6), u(cx + br), u(top + br * 0.4)), fill=hair)
        elif hs == "curly":
            r = u(0.04)
            for i in range(7):
                x = u(cx - fw * 0.8 + fw * 1.6 * i / 6)
                y = u(cy - fh * rng.uniform(0.5, 0.62))
                d.ellipse((x - r, y - r, x + r, y + r), fill=hair)
    else:
        # Scalp shine.
        d.ellipse((u(cx - fw * 0.35), u(cy - fh * 0.92), u(cx + fw * 0.1), u(cy - fh * 0.72)),
                  fill=_mix(skin, (255, 255, 255), 0.25))

    # Eyes.
    iris_c = _jitter(rng, EYES[attrs.eye_color], 10)
    for side in (-1, 1):
        ex = cx + side * eye_dx
        d.ellipse((u(ex - eye_rx), u(eye_y - eye_ry), u(ex + eye_rx), u(eye_y + eye_ry)), fill=(250, 250, 250))
        ir = eye_ry * 0.95
        d.ellipse((u(ex - ir), u(eye_y - ir), u(ex + ir), u(eye_y + ir)), fill=iris_c)
        pr = ir * 0.45
        d.ellipse((u(ex - pr), u(eye_y - pr), u(ex + pr), u(eye_y + pr)), fill=(10, 10, 10))
    # Brows.
    brow_c = _shade(hair, 0.8) if attrs.hair_color != "none" else (70, 50, 40)
    brow_w = int(u(0.014 if attrs.brows == "thin" else 0.03))
    tilt = rng.uniform(-0.02, 0.025)
    brow_y = eye_y - eye_ry - rng.uniform(0.03, 0.05)
    for side in (-1, 1):
        ex = cx + side * eye_dx
        d.line((u(ex - side * eye_rx * 1.1), u(brow_y + tilt), u(ex + side * eye_rx * 1.1), u(brow_y - tilt)),
               fill=brow_c, width=brow_w)
    # Nose.
    nose_c = _shade(skin, 0.72)
    if attrs.nose == "large":
        nw = rng.uniform(0.045, 0.06)
        d.polygon([(u(cx), u(eye_y + 0.01)), (u(cx - nw), u(nose_y + 0.03)), (u(cx + nw), u(nose_y + 0.03))],
                  fill=_shade(skin, 0.86))
        d.line((u(cx - nw), u(nose_y + 0.03), u(cx + nw), u(nose_y + 0.03)), fill=nose_c, width=int(u(0.012)))
    else:
        nw = rng.uniform(0.018, 0.026)
        d.arc((u(cx - nw), u(nose_y - 0.01), u(cx + nw), u(nose_y + 0.025)), 20, 160, fill=nose_c,
              width=int(u(0.012)))

    # Facial hair (below the mouth, mouth drawn on top).
    beard_c = _stands_out(hair, skin)
    if attrs.facial_hair == "beard":
        d.chord((u(cx - fw * 1.02), u(cy - fh * 0.35), u(cx + fw * 1.02), u(cy + fh * 1.08)), 8, 172, fill=beard_c)
    elif attrs.facial_hair == "goatee":
        gw = mouth_w * rng.uniform(0.55, 0.8)
        d.ellipse((u(cx - gw), u(mouth_y + 0.01), u(cx + gw), u(cy + fh * 1.02)), fill=beard_c)
    # Mouth.
    lip = _mix(skin, (170, 40, 50), 0.55)
    mw = mouth_w
    if attrs.mouth == "smiling":
        d.chord((u(cx - mw), u(mouth_y - 0.04), u(cx + mw), u(mouth_y + 0.045)), 0, 180, fill=(110, 20, 30))
        d.chord((u(cx - mw * 0.8), u(mouth_y - 0.03), u(cx + mw * 0.8), u(mouth_y + 0.02)), 0, 180,
                fill=(245, 245, 240))
    elif attrs.mouth == "open":
        d.ellipse((u(cx - mw * 0.45), u(mouth_y - 0.025), u(cx + mw * 0.45), u(mouth_y + 0.045)),
                  fill=(90, 15, 25), outline=lip, width=int(u(0.01)))
    else:
        d.line((u(cx - mw), u(mouth_y), u(cx + mw), u(mouth_y)), fill=lip, width=int(u(0.02)))
    if attrs.facial_hair in ("mustache", "beard"):
        mh = rng.uniform(0.022, 0.032)
        d.rounded_rectangle((u(cx - mw * 1.05), u(mouth_y - 0.035 - mh), u(cx + mw * 1.05), u(mouth_y - 0.03)),
                            radius=u(mh / 2), fill=beard_c)

    # Glasses.
    frame = _stands_out(rng.choice(((20, 20, 20), (110, 60, 20), accent)), skin)
    gr = eye_rx * 1.35
    gw_ = max(1, int(u(0.016)))  # about one output pixel at 64 px
    if attrs.glasses != "none":
        for side in (-1, 1):
            ex = cx + side * eye_dx
            box = (u(ex - gr), u(eye_y - gr * 0.85), u(ex + gr), u(eye_y + gr * 0.85))
            if attrs.glasses == "round glasses":
                d.ellipse(box, outline=frame, width=gw_)
            elif attrs.glasses == "square glasses":
                d.rectangle(box, outline=frame, width=gw_)
            else:
                d.rounded_rectangle(box, radius=u(0.02), fill=(15, 15, 20))
        d.line((u(cx - eye_dx + gr), u(eye_y), u(cx + eye_dx - gr), u(eye_y)), fill=frame, width=gw_)
        for side in (-1, 1):
            d.line((u(cx + side * (eye_dx + gr)), u(eye_y), u(cx + side * fw), u(eye_y - 0.01)), fill=frame, width=gw_)

    # Earrings (after hair so long hair does not hide them).
    if attrs.accessory == "earrings":
        for side in (-1, 1):
            ex = cx + side * (fw + 0.005)
            er = 0.018
            d.ellipse((u(ex - er), u(ear_y + 0.05), u(ex + er), u(ear_y + 0.05 + 2 * er)), fill=(235, 195, 50))

    # Headwear.
    hw = attrs.headwear
    hat_c = _jitter(rng, accent, 15)
    top = cy - fh
    if hw == "cap":
        d.chord((u(cx - fw - 0.02), u(top - 0.06), u(cx + fw + 0.02), u(cy + fh * 0.2)), 180, 360, fill=hat_c)
        d.ellipse((u(cx - fw * 0.95), u(cy - fh * 0.5), u(cx + fw * 0.95), u(cy - fh * 0.28)), fill=_shade(hat_c, 0.7))
    elif hw == "beanie":
        d.rounded_rectangle((u(cx - fw - 0.02), u(top - 0.07), u(cx + fw + 0.02), u(cy - fh * 0.45)),
                            radius=u(0.1), fill=hat_c)
        d.rectangle((u(cx - fw - 0.025), u(cy - fh * 0.62), u(cx + fw + 0.025), u(cy - fh * 0.42)),
                    fill=_shade(hat_c, 0.8))
    elif hw == "hat":
        d.ellipse((u(cx - fw * 1.7), u(cy - fh * 0.72), u(cx + fw * 1.7), u(cy - fh * 0.48)), fill=hat_c)
        d.rounded_rectangle((u(cx - fw * 0.85), u(top - 0.1), u(cx + fw * 0.85), u(cy - fh * 0.6)),
                            radius=u(0.03), fill=hat_c)
        d.rectangle((u(cx - fw * 0.85), u(cy - fh * 0.72), u(cx + fw * 0.85), u(cy - fh * 0.64)),
                    fill=_shade(hat_c, 0.55))
    elif hw == "headband":
        d.arc((u(cx - fw - 0.01), u(cy - fh * 0.78), u(cx + fw + 0.01), u(cy + fh * 0.2)), 190, 350,
              fill=hat_c, width=int(u(0.035)))

    return img.resize((size, size), Image.LANCZOS)


def face_image(attrs: FaceAttributes, size: int, seed: int) -> Image.Image:
    """Alias of :func:`render_face` with required arguments (for map-style callers)."""
    return render_face(attrs, size=size, seed=seed)
