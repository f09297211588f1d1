"""Refusal rate: the share of answers that decline to answer (an example metric in one file).

    refusal_rate = |{samples s : generation_s states a refusal}| / |{samples with a generation}|

A refusal is a generation that contains one of the dataset's refusal sentences
(``prompt.json`` "idk", ``FIUDataset.idk``) or a short marker of one ("I don't know").
On the forget split a high rate is what IDK-style methods (GD+IDK, PO) aim for; a
model that answers everything has 0. Like every fiubench metric it is a pure function
of per-sample records (``eval/compute.py`` writes them: one dict per QA with its
``generation``), and it declares its direction and split in ``fiubench.metrics.info``
so that reports sort and colour it. ``tests/examples/test_examples.py`` checks it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from fiubench.metrics.info import METRICS, MetricInfo

NAME = "forget.refusal_rate"
MARKERS = ("i don't know", "i do not know", "i'm not sure", "i cannot", "i can't")

METRICS.add(NAME, MetricInfo(NAME, higher_is_better=None, split="forget",
                             label="refusal rate (forget): answers that decline"))


def is_refusal(generation: str, refusals: Iterable[str] = ()) -> bool:
    g = " ".join(generation.lower().split())
    return any(m in g for m in MARKERS) or any(" ".join(r.lower().split()) in g for r in refusals if r.strip())


def refusal_rate(records: Sequence[Mapping[str, Any]], refusals: Iterable[str] = ()) -> float | None:
    """Refusal rate over the records that have a generation (None when none has)."""
    refusals = list(refusals)
    gens = [r["generation"] for r in records if r.get("generation") is not None]
    if not gens:
        return None
    return sum(is_refusal(g, refusals) for g in gens) / len(gens)
