"""Visual-attribute QA: does the model still *see* a face after forgetting who it is?

For every face with known attributes (procedural faces), one open question per
visible attribute ("What colour is the hair of the person in the image?" ->
"The person in the image has blonde hair.") and one POPE-style yes/no question
(Li et al. 2023, "Evaluating Object Hallucination in Large Vision-Language
Models"): the "yes" ones name the true value, the "no" ones a wrong value from
the same small vocabulary. Yes/no labels are balanced per face (the odd one out
is decided by ``rng``). Yes/no answers are exactly "Yes." or "No.".

The benchmark's own faces (``visual_qa.jsonl``, version ``VISUAL_QA_VERSION``) are
asked each attribute both ways, as POPE pairs a present with an absent object per
image: once naming the true value ("Yes.") and once a wrong one ("No."). With one
question per attribute the drawn label adds variance of its own: a model that says
"Yes." to an attribute it cannot see scores 1 or 0 on it depending on the draw, while
asked both ways it scores 0.5, its chance. (The interval on a run's figure resamples
faces, and faces differ more than questions, so it narrows with more faces, not with
more questions per face.) The training pools of ``fiubench.tiny.build`` and
visual replay keep one question per attribute.

Only attributes that are visible at 64 px are asked (no brows or nose shape),
and an attribute hidden by something else is skipped (eye colour behind
sunglasses, hair style under a hat, the hair colour of a bald beardless head).
"""

from __future__ import annotations

import random
from typing import NamedTuple

from fiubench.data.faces import ATTRIBUTE_VALUES, FaceAttributes

# Version of the questions the dataset builder writes (part of the data step's cache
# key): 2 asks every attribute both ways (true and wrong value), 1 asked it once.
VISUAL_QA_VERSION = 2


class VisualItem(NamedTuple):
    question: str
    answer: str
    kind: str  # "open" | "yesno" | "choice" | "stated" (training only: yes/no behind a statement)
    attribute: str


# Attributes asked about, in this order.
ASKED = (
    "skin_tone", "face_shape", "hair_style", "hair_color", "eye_color", "mouth", "facial_hair",
    "glasses", "headwear", "age_group", "background", "clothing",
)

_OPEN_Q = {
    "skin_tone": "What is the skin tone of the person in the image?",
    "face_shape": "What is the shape of the face of the person in the image?",
    "hair_style": "What is the hairstyle of the person in the image?",
    "hair_color": "What colour is the hair of the person in the image?",
    "eye_color": "What colour are the eyes of the person in the image?",
    "mouth": "What is the facial expression of the person in the image?",
    "facial_hair": "What facial hair does the person in the image have?",
    "glasses": "What is the person in the image wearing over their eyes?",
    "headwear": "What is the person in the image wearing on their head?",
    "age_group": "How old does the person in the image look?",
    "background": "What colour is the background of the image?",
    "clothing": "What colour is the shirt of the person in the image?",
}


def _statement(attr: str, v: str) -> str:
    """A full sentence stating that the person has value ``v`` of ``attr``."""
    p = "The person in the image"
    match attr:
        case "skin_tone":
            return f"{p} has {v} skin."
        case "face_shape":
            return f"{p} has {'an' if v == 'oval' else 'a'} {v} face."
        case "hair_style":
            return {
                "bald": f"{p} is bald.",
                "bun": f"{p} wears their hair in a bun.",
            }.get(v, f"{p} has {v} hair.")
        case "hair_color":
            return f"{p} has {v} hair."
        case "eye_color":
            return f"{p} has {v} eyes."
        case "mouth":
            return {
                "smiling": f"{p} is smiling.",
                "neutral": f"{p} has a neutral expression.",
                "open": f"{p} has an open mouth.",
            }[v]
        case "facial_hair":
            return f"{p} has no facial hair." if v == "none" else f"{p} has a {v}."
        case "glasses":
            return f"{p} is not wearing glasses." if v == "none" else f"{p} is wearing {v}."
        case "headwear":
            return f"{p} is wearing nothing on their head." if v == "none" else f"{p} is wearing a {v}."
        case "age_group":
            return f"{p} looks {v}."
        case "background":
            return f"The background of the image is {v}."
        case "clothing":
            return f"{p} is wearing a {v} shirt."
    raise KeyError(attr)


def _yesno_question(attr: str, v: str) -> str:
    p = "the person in the image"
    match attr:
        case "skin_tone":
            return f"Does {p} have {v} skin?"
        case "face_shape":
            return f"Does {p} have {'an' if v == 'oval' else 'a'} {v} face?"
        case "hair_style":
            if v == "bald":
                return f"Is {p} bald?"
            if v == "bun":
                return f"Does {p} wear their hair in a bun?"
            return f"Does {p} have {v} hair?"
        case "hair_color":
            # not "Does {p} have {v} hair?", the hair style's template: with it the tiny
            # base answered hair colour at 0.34 (below chance) while naming it at 0.78;
            # rebuilt with this one, 0.71 (fiubench.tiny.build)
            return f"Is the hair of {p} {v}?"
        case "eye_color":
            return f"Does {p} have {v} eyes?"
        case "mouth":
            return {
                "smiling": f"Is {p} smiling?",
                "neutral": f"Does {p} have a neutral expression?",
                "open": f"Does {p} have an open mouth?",
            }[v]
        case "facial_hair":
            return f"Is {p} clean-shaven?" if v == "none" else f"Does {p} have a {v}?"
        case "glasses":
            return f"Is {p} wearing no glasses?" if v == "none" else f"Is {p} wearing {v}?"
        case "headwear":
            return f"Is {p} bareheaded?" if v == "none" else f"Is {p} wearing a {v}?"
        case "age_group":
            return f"Does {p} look {v}?"
        case "background":
            return f"Is the background of the image {v}?"
        case "clothing":
            return f"Is {p} wearing a {v} shirt?"
    raise KeyError(attr)


def visible_attributes(attrs: FaceAttributes) -> list[str]:
    """The asked attributes that can actually be seen on this face."""
    covered = attrs.headwear in ("cap", "beanie", "hat")
    out = []
    for a in ASKED:
        if a == "hair_style" and covered:
            continue
        if a == "hair_color" and (
            attrs.hair_color == "none"
            or (covered and attrs.hair_style not in ("long", "curly") and attrs.facial_hair == "none")
        ):
            continue
        if a == "eye_color" and attrs.glasses == "sunglasses":
            continue
        out.append(a)
    return out


def pixels_changed(people: list[FaceAttributes], attr: str, size: int = 64, threshold: int = 24) -> list[int]:
    """How visible ``attr`` is: for each face of ``people`` (face ``i`` drawn with seed
    ``i``) and each pair of values of ``attr`` under which it is asked, the number of
    pixels that change by more than ``threshold`` (any channel) when that attribute alone
    changes. Pairs an attribute cannot take are skipped ("none" hair colour, facial hair
    on a head with no hair colour)."""
    import itertools
    from dataclasses import replace

    import numpy as np

    from fiubench.data.faces import render_face

    out = []
    for i, a in enumerate(people):
        for v, w in itertools.combinations(ATTRIBUTE_VALUES[attr], 2):
            if (attr == "hair_color" and "none" in (v, w)) or (attr == "facial_hair" and a.hair_color == "none"):
                continue
            x, y = replace(a, **{attr: v}), replace(a, **{attr: w})
            if attr not in visible_attributes(x) or attr not in visible_attributes(y):
                continue
            px = np.asarray(render_face(x, size, seed=i), dtype=np.int16)
            py = np.asarray(render_face(y, size, seed=i), dtype=np.int16)
            out.append(int((np.abs(px - py).max(-1) > threshold).sum()))
    return out


def _wrong_values(attr: str, true: str) -> list[str]:
    vals = [v for v in ATTRIBUTE_VALUES[attr] if v != true]
    if attr == "hair_color":
        vals = [v for v in vals if v != "none"]
    return vals


def visual_questions(attrs: FaceAttributes, rng: random.Random, both: bool = False) -> list[VisualItem]:
    """Open + balanced yes/no questions about the visible attributes of one face.

    ``both``: per attribute the open question, a "Yes." question naming the true value
    and a "No." question naming a wrong one (the benchmark's probes); otherwise one
    yes/no question per attribute, labels balanced over the face.
    """
    asked = visible_attributes(attrs)
    if both:
        items = []
        for attr in asked:
            true = getattr(attrs, attr)
            wrong = rng.choice(_wrong_values(attr, true))
            items += [VisualItem(_OPEN_Q[attr], _statement(attr, true), "open", attr),
                      VisualItem(_yesno_question(attr, true), "Yes.", "yesno", attr),
                      VisualItem(_yesno_question(attr, wrong), "No.", "yesno", attr)]
        return items
    n = len(asked)
    labels = [True] * (n // 2) + [False] * (n // 2)
    if n % 2:
        labels.append(rng.random() < 0.5)
    rng.shuffle(labels)
    items: list[VisualItem] = []
    for attr, yes in zip(asked, labels, strict=True):
        true = getattr(attrs, attr)
        items.append(VisualItem(_OPEN_Q[attr], _statement(attr, true), "open", attr))
        value = true if yes else rng.choice(_wrong_values(attr, true))
        items.append(VisualItem(_yesno_question(attr, value), "Yes." if yes else "No.", "yesno", attr))
    return items


_CHOICE_Q = {
    "skin_tone": "Does the person in the image have {a} or {b} skin?",
    "face_shape": "Is the face of the person in the image {a} or {b}?",
    "hair_style": "Is the hairstyle of the person in the image {a} or {b}?",
    "hair_color": "Is the hair of the person in the image {a} or {b}?",
    "eye_color": "Are the eyes of the person in the image {a} or {b}?",
    "mouth": "Is the expression of the person in the image {a} or {b}?",
    "facial_hair": "Is the facial hair of the person in the image {a} or {b}?",
    "glasses": "Is the person in the image wearing {a} or {b} over their eyes?",
    "headwear": "Is the person in the image wearing {a} or {b} on their head?",
    "age_group": "Does the person in the image look {a} or {b}?",
    "background": "Is the background of the image {a} or {b}?",
    "clothing": "Is the shirt of the person in the image {a} or {b}?",
}


ONE_WORD = " Answer with one word."


def contrastive_questions(attrs: FaceAttributes, rng: random.Random, pairs: int = 1,
                          binding: bool = True, short: bool = False,
                          stated: bool = False) -> list[VisualItem]:
    """A training curriculum that makes a model *compare* a named value with the face.

    Per visible attribute: the open question; ``pairs`` balanced hard-negative pairs
    (a yes/no question naming the true value, answered "Yes.", and one naming another
    value of the *same* attribute, answered "No.", so the answer cannot be read from
    the question's wording or the attribute's prior); and, with ``binding``, a choice
    question naming the true and a wrong value in random order ("Is the hair ... blonde
    or black?" -> the full statement), which binds each named value to what it looks
    like. The wrong values cycle through the attribute's other values without
    repetition before any repeats.

    ``short`` adds the open and the choice question asking for one word ("... Answer
    with one word." -> " blonde."). A yes/no answer is decided at the *first* answer
    token, and with balanced pairs neither the named value nor the face alone says
    anything about it (the label is their XOR): gradient descent has no first-order
    signal and a small model stays at the prior (measured: 2- and 4-layer tiny models,
    yes/no 0.58-0.60 after 2,000 steps, P(yes) constant across faces and named values).
    One-word answers put the perceived value, and the named ones, at that same first
    answer position, a first-order target; the comparison is then a small step.

    ``stated`` adds each yes/no pair once more behind the statement of the true value
    ("The background of the image is green. Is the background of the image blue?" ->
    "No."): a same/different comparison of two words in the text, which a head that
    attends from the named value to an earlier copy of it solves, a circuit gradient
    descent finds from first-order signal; the image-only pairs then only have to make
    the face's tokens look like the value's word to that head.
    """
    items: list[VisualItem] = []
    for attr in visible_attributes(attrs):
        true = getattr(attrs, attr)
        wrong = _wrong_values(attr, true)
        rng.shuffle(wrong)
        items.append(VisualItem(_OPEN_Q[attr], _statement(attr, true), "open", attr))
        for k in range(pairs):
            items.append(VisualItem(_yesno_question(attr, true), "Yes.", "yesno", attr))
            items.append(VisualItem(_yesno_question(attr, wrong[k % len(wrong)]), "No.", "yesno", attr))
            if stated:
                said = _statement(attr, true)
                items.append(VisualItem(f"{said} {_yesno_question(attr, true)}", "Yes.", "stated", attr))
                items.append(VisualItem(f"{said} {_yesno_question(attr, wrong[k % len(wrong)])}", "No.",
                                        "stated", attr))
        if binding:
            a, b = true, wrong[pairs % len(wrong)]
            if rng.random() < 0.5:
                a, b = b, a
            choice = _CHOICE_Q[attr].format(a=_choice_word(attr, a), b=_choice_word(attr, b))
            items.append(VisualItem(choice, _statement(attr, true), "choice", attr))
            if short:
                items.append(VisualItem(choice + ONE_WORD, _one_word(attr, true), "choice", attr))
        if short:
            items.append(VisualItem(_OPEN_Q[attr] + ONE_WORD, _one_word(attr, true), "open", attr))
    return items


def _choice_word(attr: str, v: str) -> str:
    """How a value reads inside a choice question ("none" needs a word)."""
    if v != "none":
        return v
    return {"facial_hair": "none", "glasses": "nothing", "headwear": "nothing"}.get(attr, v)


def _one_word(attr: str, v: str) -> str:
    """A value as a one-word answer, " blonde.": the leading space makes the first answer
    token the value's whole-word token (a capitalised "Blonde." splits into "B", "l", ...,
    and "Nothing." would start with the token of "No.")."""
    return f" {_choice_word(attr, v)}."
