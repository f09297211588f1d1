r"""Generation metrics: ROUGE-L recall and keyword exact match.

ROUGE-L recall = LCS(reference, prediction) / len(reference) over stemmed tokens
(Lin 2004, ``rouge_score`` with ``use_stemmer=True``), as FIUBench/TOFU report it.

Exact match: for one answer with keywords K and generation g,
    EM = |{k in K : k is found in g}| / |K|,
averaged over the QA of a split. APE applies the same EM to the generations for the
paraphrased questions (3 per QA), averaged over all (QA, paraphrase) pairs.

"Found" (:func:`keyword_found`, metrics version 4):
- a number keyword ("1999", "$85,300", "12.5%") is found when a number in g has the same
  value ("$85300.00" finds "$85,300"; "185,300" does not);
- any other keyword is found case-insensitively on word boundaries,
  ``(?<!\w)keyword(?!\w)``: "B+" is not found in "AB+", "normal" not in "abnormal".
  The lookarounds (not ``\b``) are needed because keywords may end in a non-word
  character ("B+").
Upstream FIUBench counts case-insensitive substrings (:func:`keyword_match_substring`),
reported as the compatibility metric ``*.exact_match_substring``: there "B+" is found in
"AB+". Word boundaries cannot separate a value from a longer value that contains it
as whole words ("restaurant manager" in "fast food restaurant manager"): the data
generator's vocabularies hold no such pairs (``fiubench.data.profiles``; tested).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache

import numpy as np


@lru_cache(maxsize=1)
def _scorer():  # type: ignore[no-untyped-def]
    from rouge_score import rouge_scorer

    return rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True)


def rouge_l_recall(reference: str, prediction: str) -> float:
    """ROUGE-L recall of ``reference`` by ``prediction`` (0 for an empty prediction)."""
    return float(_scorer().score(reference, prediction)["rougeL"].recall)


EM_RULE = "keywords on word boundaries (?<!\\w)k(?!\\w), case-insensitive; numbers compared as numbers"
_NUMBER_KEYWORD = re.compile(r"[$€£]?\d[\d,]*(?:\.\d+)?%?")
_NUMBER_IN_TEXT = re.compile(r"(?<![\w.])\d[\d,]*(?:\.\d+)?(?!\w)")


def _number(text: str) -> float:
    return float(text.strip("$€£%,").replace(",", ""))


@lru_cache(maxsize=65536)
def _word_pattern(keyword: str) -> re.Pattern[str]:
    return re.compile(r"(?<!\w)" + re.escape(keyword) + r"(?!\w)", re.IGNORECASE)


def keyword_found(keyword: str, generation: str) -> bool:
    """The EM rule for one keyword (see the module docstring)."""
    k = keyword.strip()
    if _NUMBER_KEYWORD.fullmatch(k):
        value = _number(k)
        return any(_number(x) == value for x in _NUMBER_IN_TEXT.findall(generation))
    return _word_pattern(k).search(generation) is not None


def keyword_match(keywords: Sequence[str], generation: str) -> float | None:
    """Fraction of ``keywords`` found in ``generation`` (word boundaries, numbers as numbers).

    None when the QA has no keywords (it cannot be scored; excluded from means).
    """
    kws = [k for k in keywords if k.strip()]
    if not kws:
        return None
    return sum(keyword_found(k, generation) for k in kws) / len(kws)


def keyword_match_substring(keywords: Sequence[str], generation: str) -> float | None:
    """Upstream FIUBench's EM: the fraction of ``keywords`` that are case-insensitive
    substrings of ``generation`` ("B+" counts inside "AB+"). Compatibility only."""
    kws = [k for k in keywords if k.strip()]
    if not kws:
        return None
    g = generation.lower()
    return sum(k.lower() in g for k in kws) / len(kws)


def mean_defined(values: Sequence[float | None]) -> float | None:
    """Mean of the non-None values; None when there are none."""
    vals = [v for v in values if v is not None]
    return float(np.mean(vals)) if vals else None
