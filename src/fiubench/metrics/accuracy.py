"""Visual-ability accuracy: yes/no answers (own visual set, POPE, MME) and open EM.

A generation counts as "yes"/"no" by its first word (punctuation stripped,
case-insensitive); anything else is wrong (never guessed). ACC = correct / total.
MME's acc+ (Fu et al. 2023) counts an image as right only when both of its questions
are answered correctly.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Sequence

_WORD = re.compile(r"[a-z]+")


def parse_yes_no(generation: str) -> str | None:
    m = _WORD.search(generation.lower())
    if m and m.group(0) in ("yes", "no"):
        return m.group(0)
    return None


def yes_no_correct(generation: str, label: str) -> bool:
    """True when the generation's yes/no word matches the label's.

    Labels come as "yes" (POPE, MME) or as sentences like "Yes." (our visual QA),
    so both sides go through the same parser.
    """
    gold = parse_yes_no(label)
    if gold is None:
        raise ValueError(f"yes/no label {label!r} contains neither yes nor no")
    return parse_yes_no(generation) == gold


def accuracy(flags: Sequence[bool]) -> float:
    if not flags:
        raise ValueError("accuracy of an empty set")
    return sum(flags) / len(flags)


def open_match(answer: str, generation: str) -> bool:
    """Open visual question: the reference answer appears (case-insensitively) in the generation."""
    return answer.strip().lower() in generation.lower()


def acc_plus(image_keys: Sequence[str], flags: Sequence[bool]) -> float:
    """Fraction of images whose every question is answered correctly (MME acc+)."""
    per: dict[str, bool] = defaultdict(lambda: True)
    for k, f in zip(image_keys, flags, strict=True):
        per[k] = per[k] and f
    return sum(per.values()) / len(per)
