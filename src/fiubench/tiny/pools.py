"""Procedural faces from the tiny base's own seed space, and their encoded rows.

Every stage of the base build, the stage-1 visual replay and the visual-keep term draw
their faces here: ``random.Random("fiubench-base:<seed>:<split>")``, a seed space the
benchmark's datasets (``"faces:<seed>"``) never use, so none of these faces is a
benchmark person.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from fiubench.models.logprobs import IGNORE_INDEX

BASE_SEED_SPACE = "fiubench-base"


def _face_seed(seed: int, split: str, i: int) -> int:
    h = hashlib.sha256(f"{BASE_SEED_SPACE}:{seed}:{split}:{i}".encode()).digest()
    return int.from_bytes(h[:8], "big")


def procedural_pool(seed: int, split: str, n: int,
                    questions: Callable[[Any, random.Random], list[Any]] | None = None,
                    ) -> list[tuple[Any, list[Any], Any]]:
    """``n`` (face image, visual QA items, attributes) from the base's own seed space.

    ``questions(attrs, rng)`` makes each face's QA (default: the benchmark's
    ``visual_questions``, which keeps every pool, and the shipped base, as before).
    """
    from fiubench.data.faces import render_face, sample_attributes
    from fiubench.data.visual import visual_questions

    make = questions or visual_questions
    rng = random.Random(f"{BASE_SEED_SPACE}:{seed}:{split}")
    out = []
    for i in range(n):
        attrs = sample_attributes(rng)
        img = render_face(attrs, size=64, seed=_face_seed(seed, split, i))
        out.append((img, make(attrs, rng), attrs))
    return out


DESCRIBE_QUESTION = "Describe the person in the image."


def describe(attrs: Any) -> str:
    """A dense description of every visible attribute (the alignment-caption target).

    Like LLaVA's feature-alignment stage (image -> caption), it puts one visual fact in
    every few answer tokens, so the vision tower gets far more signal per example than
    from a one-fact QA answer.
    """
    hair = "bald" if attrs.hair_style == "bald" else f"{attrs.hair_style} {attrs.hair_color} hair"
    return (
        f"A {attrs.age_group} person with {attrs.skin_tone} skin, a {attrs.face_shape} face, {hair}, "
        f"{attrs.eye_color} eyes, {attrs.mouth} mouth, facial hair: {attrs.facial_hair}, "
        f"glasses: {attrs.glasses}, headwear: {attrs.headwear}, a {attrs.clothing} shirt, "
        f"on a {attrs.background} background."
    )


def encode_rows(vlm: Any, examples: list[tuple[Any, str, str]], chunk: int = 256) -> list[dict[str, torch.Tensor]]:
    """Pre-encode (image, q, a) once: per-example unpadded ids/labels + pixel values.

    Rows of the same image object share one pixel tensor: stage C asks ~35 questions
    about each face, and a view per row would keep every chunk's pixel batch alive
    (~5 GB for 3000 faces instead of ~0.15 GB).
    """
    rows: list[dict[str, torch.Tensor]] = []
    pixels: dict[int, torch.Tensor] = {}  # id(image) -> its pixels; the images outlive the call
    for start in range(0, len(examples), chunk):
        part = examples[start:start + chunk]
        b = vlm.train_batch(part)
        for i in range(b["input_ids"].shape[0]):
            n = int(b["attention_mask"][i].sum())
            key = id(part[i][0])
            if key not in pixels:
                pixels[key] = b["pixel_values"][i].cpu().clone()
            # kept on the CPU: each training batch is collated there, then moved whole
            rows.append({"input_ids": b["input_ids"][i, :n].cpu().clone(), "labels": b["labels"][i, :n].cpu().clone(),
                         "pixel_values": pixels[key]})
    return rows


def description_rows(vlm: Any, pool: list[tuple[Any, list[Any], Any]]) -> list[dict[str, torch.Tensor]]:
    """Each pool face asked ``DESCRIBE_QUESTION`` and answered with its dense description, encoded."""
    return encode_rows(vlm, [(img, DESCRIBE_QUESTION, describe(attrs)) for img, _, attrs in pool])


def collate_rows(rows: list[dict[str, torch.Tensor]], pad_id: int) -> dict[str, torch.Tensor]:
    n = max(r["input_ids"].numel() for r in rows)
    ids = torch.full((len(rows), n), pad_id, dtype=torch.long)
    labels = torch.full((len(rows), n), IGNORE_INDEX, dtype=torch.long)
    mask = torch.zeros((len(rows), n), dtype=torch.long)
    for i, r in enumerate(rows):
        k = r["input_ids"].numel()
        ids[i, :k], labels[i, :k], mask[i, :k] = r["input_ids"], r["labels"], 1
    out = {"input_ids": ids, "attention_mask": mask, "labels": labels}
    if "pixel_values" in rows[0]:  # text-only rows (stage C's twins) have none
        out["pixel_values"] = torch.stack([r["pixel_values"] for r in rows])
    return out


def visual_replay(n: int, seed: int) -> tuple[list[tuple[Path, str, str]], dict[Path, Any]]:
    """``n`` visual-attribute QA about procedural faces for stage-1 replay.

    The faces come from the embedded base model's own seed space (split "replay"),
    never from a benchmark dataset, so the fine-tuned and retain models get identical
    replay data that says nothing about any identity. About 8 QA per face keeps the
    faces varied. Returns (triples keyed by pseudo paths, pseudo path -> PIL image).
    """
    if n <= 0:
        return [], {}
    pool = procedural_pool(seed, "replay", max(1, (n + 7) // 8))
    images: dict[Path, Any] = {}
    items: list[tuple[Path, str, str]] = []
    for i, (image, questions, _attrs) in enumerate(pool):
        key = Path(f"<visual-replay>/{i}")
        images[key] = image
        items.extend((key, item[0], item[1]) for item in questions)
    random.Random(f"visual-replay:{seed}").shuffle(items)
    return items[:n], images
