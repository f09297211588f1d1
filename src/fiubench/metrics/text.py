"""Generation metrics: ROUGE-L recall and keyword exact match.

ROUGE-L recall = LCS(reference, prediction) / len(reference) over stemmed tokens
(Lin 2004, ``rouge_score`` with ``use_stemmer=True``), as FIUBench/TOFU report it.

Exact match (FIUBench): for one answer with keywords K and generation g,
    EM = |{k in K : lower(k) is a substring of lower(g)}| / |K|,
averaged over the QA of a split. APE applies the same EM to the generations for the
paraphrased questions (3 per QA), averaged over all (QA, paraphrase) pairs.
"""

from __future__ import annotations

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


def keyword_match(keywords: Sequence[str], generation: str) -> float | None:
    """Fraction of ``keywords`` found case-insensitively in ``generation``.

    None when the QA has no keywords (it cannot be scored; excluded from means).
    """
    kws = [k for k in keywords if k.strip()]
    if not kws:
        return None
    g = generation.lower()
    return sum(k.lower() in g for k in kws) / len(kws)


def mean_defined(values: Sequence[float | None]) -> float | None:
    """Mean of the non-None values; None when there are none."""
    vals = [v for v in values if v is not None]
    return float(np.mean(vals)) if vals else None
