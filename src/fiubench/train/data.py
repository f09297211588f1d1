"""Load and check the data of a stage before any weights load."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fiubench.data.schema import Example, FIUDataset
from fiubench.errors import DataError


def load(path: Path) -> FIUDataset:
    from fiubench.data import load_dataset

    if not Path(path).exists():
        raise DataError(f"data: {path} does not exist (build one with `fiubench data build`)")
    return load_dataset(path)


def split_examples(ds: FIUDataset, split: str, option: str) -> list[Example]:
    """Examples of ``split``; unknown split -> did-you-mean error naming the option."""
    try:
        ex = ds.examples(split)
    except Exception as e:  # unknown_name_error: re-raise naming the option
        raise DataError(f"{option}: {e}") from e
    if not ex:
        raise DataError(f"{option}: split {split!r} of {ds.root} has no QA")
    return ex


def triples(examples: list[Example]) -> list[tuple[Path, str, str]]:
    return [(e.image_path, e.question, e.answer) for e in examples]


def with_phrasings(ds: FIUDataset, examples: list[Example], n: int, seed: int) -> list[Example]:
    """``examples`` then ``n`` training-only rewordings of each (``learn.train_phrasings``)."""
    from fiubench.data.phrasings import phrasing_examples

    return examples + phrasing_examples(ds, examples, n, seed)


def check_disjoint(ds: FIUDataset, forget: str, retain: str) -> None:
    overlap = set(ds.split_ids(forget)) & set(ds.split_ids(retain))
    if overlap:
        raise DataError(
            f"--retain {retain}: shares {len(overlap)} identities with --forget {forget} "
            f"(e.g. {sorted(overlap)[0]}); the retain set must exclude the forget identities"
        )


def pad_id(vlm: Any) -> int:
    return int(getattr(vlm, "pad_token_id", 0) or 0)
