"""Visual-ability accuracy: yes/no answers (own visual set, POPE, MME) and open EM.

A generation counts as "yes"/"no" by its first word (punctuation stripped,
case-insensitive); anything else is wrong (never guessed). ACC = correct / total.
MME's acc+ (Fu et al. 2023) counts an image as right only when both of its questions
are answered correctly.

Open visual questions ("What colour is the hair...?" -> "The person in the image has
blonde hair.") are scored on the *attribute span* of the reference answer, not the
whole sentence: ``attribute_spans`` strips the words that every answer about the same
attribute shares (the sentence template) and leading articles, leaving "blonde";
``open_match`` then looks for that span, word-aligned and case-insensitive, in the
generation. ``visual.open_em`` = fraction of open questions whose span is found.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Sequence

_WORD = re.compile(r"[a-z]+")
_TOKEN = re.compile(r"[a-z0-9]+(?:['-][a-z0-9]+)*")
_ARTICLES = {"a", "an", "the"}


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


def _words(text: str) -> list[str]:
    return _TOKEN.findall(text.lower())


def open_match(span: str, generation: str) -> bool:
    """Open visual question: the words of ``span`` appear, in order and contiguous, in the generation.

    Case and punctuation are ignored; words must match whole ("red" is not in "reddish").
    """
    want = " ".join(_words(span))
    if not want:
        raise ValueError(f"open visual answer {span!r} has no words to match")
    return f" {want} " in f" {' '.join(_words(generation))} "


def attribute_spans(answers: Iterable[str]) -> dict[str, str]:
    """answer -> its attribute span, for the distinct reference answers about ONE attribute.

    The span is what is left of the answer after the longest word prefix and suffix
    that all the answers share (their template) and a leading article: {"The person in
    the image has blonde hair.", "... has black hair."} -> "blonde", "black". With a
    single distinct answer there is no template to strip: the span is the whole answer.
    """
    distinct = sorted(set(answers))
    words = {a: _words(a) for a in distinct}
    if len(distinct) < 2:
        return {a: " ".join(w) for a, w in words.items()}
    seqs = list(words.values())
    n_min = min(len(w) for w in seqs)
    pre = 0
    while pre < n_min and len({w[pre] for w in seqs}) == 1:
        pre += 1
    suf = 0
    while suf < n_min - pre and len({w[len(w) - 1 - suf] for w in seqs}) == 1:
        suf += 1
    out = {}
    for a, w in words.items():
        mid = w[pre : len(w) - suf]
        while len(mid) > 1 and mid[0] in _ARTICLES:
            mid = mid[1:]
        out[a] = " ".join(mid) if mid else " ".join(w)
    return out


def acc_plus(image_keys: Sequence[str], flags: Sequence[bool]) -> float:
    """Fraction of images whose every question is answered correctly (MME acc+)."""
    per: dict[str, bool] = defaultdict(lambda: True)
    for k, f in zip(image_keys, flags, strict=True):
        per[k] = per[k] and f
    return sum(per.values()) / len(per)
