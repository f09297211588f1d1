"""Shared fixtures for the evaluation tests: a tiny random VLM checkpoint and a small
on-disk dataset in the official layout (plus our holdout split and visual questions)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

# 2 forget, 3 retain, 2 holdout identities x 2 QA; every QA with 3 paraphrased questions
# and 3 perturbed answers, like the release.
FORGET, RETAIN, HOLDOUT = ["00000001", "00000002"], ["00000003", "00000004", "00000005"], ["00000006", "00000007"]
FIELDS = [
    ("blood type", ["a+", "b-", "o+", "ab-", "o-", "a-", "b+"]),
    ("occupation", ["nurse", "pilot", "baker", "lawyer", "farmer", "dentist", "painter"]),
]


def write_dataset(
    root: Path,
    forget: list[str] = FORGET,
    retain: list[str] = RETAIN,
    holdout: list[str] = HOLDOUT,
    fields: list[tuple[str, list[str]]] = FIELDS,
) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "images").mkdir(exist_ok=True)
    rng = np.random.default_rng(0)
    lines, visual = [], []
    for n, uid in enumerate(forget + retain + holdout):
        Image.fromarray(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(root / "images" / f"{uid}.png")
        qa_list = []
        for fname, values in fields:
            v = values[n % len(values)]
            wrong = [values[(n + k) % len(values)] for k in (1, 2, 3)]
            qa_list.append({
                "question": f"what is the {fname} of the person in the image?",
                "answer": f"the {fname} of the person in the image is {v}.",
                "paraphrased_question": [f"tell me the {fname} of this person.", f"which {fname} does this person have?",
                                         f"do you know this person's {fname}?"],
                "paraphrased_answer": f"this person's {fname} is {v}.",
                "perturbed_answer": [f"the {fname} of the person in the image is {w}." for w in wrong],
                "keywords": [v],
            })
        lines.append({"unique_id": uid, "image_path": f"images/{uid}.png", "name": f"person {n}",
                      "caption": "a fictitious person", "qa_list": qa_list})
        visual.append({"unique_id": uid, "question": "does the person in the image wear glasses?",
                       "answer": "yes" if n % 2 else "no", "kind": "yesno", "attribute": "glasses"})
        visual.append({"unique_id": uid, "question": "what is the hair colour of the person in the image?",
                       "answer": "brown", "kind": "open", "attribute": "hair"})
    (root / "full.json").write_text("".join(json.dumps(x) + "\n" for x in lines))
    (root / "visual_qa.jsonl").write_text("".join(json.dumps(x) + "\n" for x in visual))
    (root / "split.json").write_text(json.dumps({"forget5": forget, "retain": retain, "holdout": holdout}))
    (root / "prompt.json").write_text(json.dumps(["I cannot answer that."]))
    return root


@pytest.fixture(scope="session")
def eval_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_dataset(tmp_path_factory.mktemp("evaldata") / "ds")


@pytest.fixture(scope="session")
def eval_dataset(eval_data_dir: Path):  # type: ignore[no-untyped-def]
    from fiubench.data import load_dataset

    return load_dataset(eval_data_dir)


@pytest.fixture(scope="session")
def eval_ckpt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from fiubench.tiny.model import save_random_tiny

    return save_random_tiny(tmp_path_factory.mktemp("evalmodel") / "m", seed=0)


@pytest.fixture(scope="session")
def eval_vlm(eval_ckpt: Path):  # type: ignore[no-untyped-def]
    from fiubench.models.config import ModelConfig
    from fiubench.models.loading import load_vlm

    return load_vlm(ModelConfig(name_or_path=str(eval_ckpt), device="cpu"))


@pytest.fixture(scope="session")
def dataset_writer():  # type: ignore[no-untyped-def]
    """``write_dataset`` for tests that need their own identities."""
    return write_dataset
