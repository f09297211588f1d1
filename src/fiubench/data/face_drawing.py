"""How a face is drawn: the palette and the drawing stages of :func:`fiubench.data.faces.render_face`.

Coordinates are fractions of the canvas (``Face.u`` turns them into pixels of the
supersampled canvas). Each stage takes its per-person jitter from the face's random
stream, in a fixed order: reordering the stages, or a draw inside one, changes every
face (then bump ``fiubench.data.faces.RENDER_VERSION``).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Any

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


@dataclass
class Face:
    """One face being drawn: the canvas, the random stream and what the stages share.

    The stages draw in a fixed order and take their jitter from ``rng`` in that order:
    reordering them (or a draw inside one) changes every face, hence ``RENDER_VERSION``.
    """

    attrs: Any  # a fiubench.data.faces.FaceAttributes (not imported: faces imports this module)
    rng: random.Random
    d: ImageDraw.ImageDraw
    S: int  # internal canvas size in pixels
    skin: RGB
    skin_dark: RGB
    hair: RGB
    shirt: RGB
    accent: RGB
    # geometry, in fractions of the canvas
    fw: float
    fh: float
    cx: float
    cy: float
    eye_y: float
    eye_dx: float
    eye_rx: float
    eye_ry: float
    mouth_y: float
    mouth_w: float
    nose_y: float

    def u(self, x: float) -> float:  # fraction of the canvas -> internal pixels
        return x * self.S

    @property
    def ear_y(self) -> float:
        return self.eye_y + 0.03


def background(attrs: Any, rng: random.Random, S: int) -> tuple[Image.Image, ImageDraw.ImageDraw]:
    bg = _jitter(rng, BACKGROUND[attrs.background], 14)
    img = Image.new("RGB", (S, S), bg)
    d = ImageDraw.Draw(img)
    # A soft lighter disc behind the head: depth cue, varies per person.
    halo = _mix(bg, (255, 255, 255), 0.18)
    hr = rng.uniform(0.36, 0.46)
    d.ellipse((S * (0.5 - hr), S * (0.45 - hr), S * (0.5 + hr), S * (0.45 + hr)), fill=halo)
    return img, d


def layout(attrs: Any, rng: random.Random, d: ImageDraw.ImageDraw, S: int) -> Face:
    """The person's colours, then the geometry: base proportions per face shape, then per-person jitter."""
    skin = _jitter(rng, SKIN[attrs.skin_tone], 8)
    skin_dark = _shade(skin, 0.82)
    hair = _jitter(rng, HAIR.get(attrs.hair_color, (60, 40, 30)), 10)
    shirt = _jitter(rng, CLOTHING[attrs.clothing], 10)
    accent = rng.choice(_ACCENTS)
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
    return Face(attrs, rng, d, S, skin, skin_dark, hair, shirt, accent, fw, fh, cx, cy, eye_y, eye_dx,
                 eye_rx, eye_ry, mouth_y, mouth_w, nose_y)


def body_and_head(f: Face) -> None:
    """Shoulders and shirt, hair behind the head, neck (and necklace), ears, head."""
    attrs, rng, d, u = f.attrs, f.rng, f.d, f.u
    cx, cy, fw, fh = f.cx, f.cy, f.fw, f.fh
    sw = rng.uniform(0.40, 0.48)
    d.ellipse((u(0.5 - sw), u(0.80 + rng.uniform(0, 0.04)), u(0.5 + sw), u(1.35)), fill=f.shirt)
    # Hair behind the head (long / curly volume).
    if attrs.hair_style == "long":
        drop = rng.uniform(0.75, 0.95)
        d.rounded_rectangle(
            (u(cx - fw - 0.05), u(cy - fh - 0.035), u(cx + fw + 0.05), u(drop)),
            radius=u(0.12), fill=f.hair,
        )
    elif attrs.hair_style == "curly":
        r = u(0.055)
        n = 16
        for i in range(n + 1):
            a = math.pi * (1.0 + 1.25 * i / n) - 0.4
            x = u(cx) + math.cos(a) * u(fw + 0.025)
            y = u(cy - 0.02) + math.sin(a) * u(fh + 0.02)
            d.ellipse((x - r, y - r, x + r, y + r), fill=f.hair)
    neck_w = fw * rng.uniform(0.42, 0.55)
    d.rectangle((u(cx - neck_w), u(cy + fh * 0.6), u(cx + neck_w), u(0.9)), fill=f.skin_dark)
    if attrs.accessory == "necklace":
        d.arc((u(cx - neck_w - 0.02), u(0.72), u(cx + neck_w + 0.02), u(0.92)), 20, 160,
              fill=(230, 190, 60), width=int(u(0.018)))
    ear_y = f.ear_y
    for side in (-1, 1):
        ex = cx + side * fw
        d.ellipse((u(ex - 0.035), u(ear_y - 0.055), u(ex + 0.035), u(ear_y + 0.055)), fill=f.skin_dark)
    face_box = (u(cx - fw), u(cy - fh), u(cx + fw), u(cy + fh))
    if attrs.face_shape == "square":
        d.rounded_rectangle(face_box, radius=u(0.09), fill=f.skin)
    else:
        d.ellipse(face_box, fill=f.skin)


def age_cues(f: Face) -> None:
    """Age cues, drawn to survive the 64 px downsampling (about one output pixel wide, a
    third darker than the skin) and placed where hair, glasses and beards rarely
    cover them all: middle-aged = nasolabial folds + eye bags; old = those + marionette
    lines + cheek lines + lower eye bags. Forehead lines are added too, but a fringe often
    hides them. (Measured by stage A's held-out age accuracy: hairline-thin cues
    left it at 0.46, chance 0.33 plus what grey hair gives away.)"""
    attrs, d, u, skin = f.attrs, f.d, f.u, f.skin
    cx, cy, fw, fh = f.cx, f.cy, f.fw, f.fh
    eye_y, eye_dx, eye_rx, eye_ry = f.eye_y, f.eye_dx, f.eye_rx, f.eye_ry
    mouth_y, mouth_w, nose_y = f.mouth_y, f.mouth_w, f.nose_y
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


def hair_on_top(f: Face) -> None:
    """Hair on top of the head, with a side part / fringe so hairlines differ; a scalp shine when bald."""
    rng, d, u, hair = f.rng, f.d, f.u, f.hair
    cx, cy, fw, fh = f.cx, f.cy, f.fw, f.fh
    hs = f.attrs.hair_style
    if hs == "bald":
        d.ellipse((u(cx - fw * 0.35), u(cy - fh * 0.92), u(cx + fw * 0.1), u(cy - fh * 0.72)),
                  fill=_mix(f.skin, (255, 255, 255), 0.25))
        return
    top = cy - fh - rng.uniform(0.025, 0.05)
    cap_box = (u(cx - fw - 0.015), u(top), u(cx + fw + 0.015), u(cy + fh * rng.uniform(0.7, 0.95)))
    d.chord(cap_box, 188, 352, fill=hair)
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


def eyes_brows_nose(f: Face) -> None:
    attrs, rng, d, u, skin = f.attrs, f.rng, f.d, f.u, f.skin
    cx, eye_y, eye_dx, eye_rx, eye_ry, nose_y = f.cx, f.eye_y, f.eye_dx, f.eye_rx, f.eye_ry, f.nose_y
    iris_c = _jitter(rng, EYES[attrs.eye_color], 10)
    for side in (-1, 1):
        ex = cx + side * eye_dx
        d.ellipse((u(ex - eye_rx), u(eye_y - eye_ry), u(ex + eye_rx), u(eye_y + eye_ry)), fill=(250, 250, 250))
        ir = eye_ry * 0.95
        d.ellipse((u(ex - ir), u(eye_y - ir), u(ex + ir), u(eye_y + ir)), fill=iris_c)
        pr = ir * 0.45
        d.ellipse((u(ex - pr), u(eye_y - pr), u(ex + pr), u(eye_y + pr)), fill=(10, 10, 10))
    brow_c = _shade(f.hair, 0.8) if attrs.hair_color != "none" else (70, 50, 40)
    brow_w = int(u(0.014 if attrs.brows == "thin" else 0.03))
    tilt = rng.uniform(-0.02, 0.025)
    brow_y = eye_y - eye_ry - rng.uniform(0.03, 0.05)
    for side in (-1, 1):
        ex = cx + side * eye_dx
        d.line((u(ex - side * eye_rx * 1.1), u(brow_y + tilt), u(ex + side * eye_rx * 1.1), u(brow_y - tilt)),
               fill=brow_c, width=brow_w)
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


def facial_hair_and_mouth(f: Face) -> None:
    """Beard / goatee below the mouth, the mouth on top, a mustache over it."""
    attrs, rng, d, u, skin = f.attrs, f.rng, f.d, f.u, f.skin
    cx, cy, fw, fh, mouth_y, mw = f.cx, f.cy, f.fw, f.fh, f.mouth_y, f.mouth_w
    beard_c = _stands_out(f.hair, skin)
    if attrs.facial_hair == "beard":
        d.chord((u(cx - fw * 1.02), u(cy - fh * 0.35), u(cx + fw * 1.02), u(cy + fh * 1.08)), 8, 172, fill=beard_c)
    elif attrs.facial_hair == "goatee":
        gw = mw * rng.uniform(0.55, 0.8)
        d.ellipse((u(cx - gw), u(mouth_y + 0.01), u(cx + gw), u(cy + fh * 1.02)), fill=beard_c)
    lip = _mix(skin, (170, 40, 50), 0.55)
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


def glasses(f: Face) -> None:
    d, u, cx, fw, eye_y, eye_dx = f.d, f.u, f.cx, f.fw, f.eye_y, f.eye_dx
    # The frame colour is drawn for every face, with or without glasses (the random stream stays aligned).
    frame = _stands_out(f.rng.choice(((20, 20, 20), (110, 60, 20), f.accent)), f.skin)
    gr = f.eye_rx * 1.35
    gw_ = max(1, int(u(0.016)))  # about one output pixel at 64 px
    glasses = f.attrs.glasses
    if glasses == "none":
        return
    for side in (-1, 1):
        ex = cx + side * eye_dx
        box = (u(ex - gr), u(eye_y - gr * 0.85), u(ex + gr), u(eye_y + gr * 0.85))
        if glasses == "round glasses":
            d.ellipse(box, outline=frame, width=gw_)
        elif glasses == "square glasses":
            d.rectangle(box, outline=frame, width=gw_)
        else:
            d.rounded_rectangle(box, radius=u(0.02), fill=(15, 15, 20))
    d.line((u(cx - eye_dx + gr), u(eye_y), u(cx + eye_dx - gr), u(eye_y)), fill=frame, width=gw_)
    for side in (-1, 1):
        d.line((u(cx + side * (eye_dx + gr)), u(eye_y), u(cx + side * fw), u(eye_y - 0.01)), fill=frame, width=gw_)


def earrings(f: Face) -> None:
    """Drawn after the hair so that long hair does not hide them."""
    if f.attrs.accessory != "earrings":
        return
    d, u, ear_y = f.d, f.u, f.ear_y
    for side in (-1, 1):
        ex = f.cx + side * (f.fw + 0.005)
        er = 0.018
        d.ellipse((u(ex - er), u(ear_y + 0.05), u(ex + er), u(ear_y + 0.05 + 2 * er)), fill=(235, 195, 50))


def headwear(f: Face) -> None:
    d, u, cx, cy, fw, fh = f.d, f.u, f.cx, f.cy, f.fw, f.fh
    hw = f.attrs.headwear
    hat_c = _jitter(f.rng, f.accent, 15)
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


# Back to front, after ``background`` and ``layout``.
STAGES = (body_and_head, age_cues, hair_on_top, eyes_brows_nose, facial_hair_and_mouth, glasses, earrings, headwear)
