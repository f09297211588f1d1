"""The candidate answers of exposure (``fiubench.metrics.exposure``) and their scoring pass.

For a QA about a vocabulary field (``data.profiles.VOCABULARIES``), the candidates are the
true value and up to ``k`` wrong values of the same field, each put into the answer
sentence's own template (the trained sentence, so only the value differs) and scored after
the asked question. ``k`` (``eval.exposure_candidates``, default 15: |C| = 16, at most 4 bits)
bounds the cost: occupation (~465 values) and criminal record (~523) would otherwise cost
hundreds of scored sentences per QA. A field with at most k wrong values uses them all
(blood type: 7; |C| = |V|, Carlini's definition exactly).

The wrong values are drawn uniformly without replacement from a stream seeded by
(``seed``, identity, QA index, field): the same candidates for every model, so exposures are
paired between the fine-tuned, retain and unlearned models.

Composite field: a criminal record is "no criminal record" or a conviction = (offence, year),
and the rank is the rank of the whole value. Uniform draws would rarely contain a value
that shares a part with the truth (15 of 522), so knowing the offence alone would rank
the truth first. For a conviction the candidates are therefore *near misses*: half the
same offence in another year, half another offence in the same year (topped up with any
other value when a pool runs out). Only a model that prefers both parts ranks the truth
first; for a model that never saw the person, the true year is exchangeable with the other
years and the true offence with the other offences, so its rank stays uniform (chance
level). "No criminal record" has no parts: its candidates are uniform convictions.

QA without a ``field`` (the official release), or whose answer is not one of the field's
templates with its keyword (an edited dataset), get no exposure.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from fiubench.data.profiles import NO_RECORD, VOCABULARIES
from fiubench.data.qa import TEMPLATES, fill_template
from fiubench.eval.engine import ScoreRow

DEFAULT_CANDIDATES = 15
EXPOSURE_RULE = ("log2 |C| - log2 rank of the true value among |C| <= {n} candidate values of its field, "
                 "ranked by answer probability (fiubench.metrics.exposure)")
_CONVICTION = re.compile(r"^a conviction for (?P<offence>.+) in (?P<year>\d{4})$")


def true_value(field: str, keywords: Sequence[str]) -> str | None:
    """The vocabulary value a QA's keywords name (None: not a vocabulary value)."""
    if field not in VOCABULARIES or not keywords:
        return None
    if field == "criminal_record" and len(keywords) == 2:
        value = f"a conviction for {keywords[0]} in {keywords[1]}"
    elif len(keywords) == 1:
        value = keywords[0]
    else:
        return None
    return value if value in VOCABULARIES[field].values else None


def _near_misses(value: str, others: list[str], k: int, rng: random.Random) -> list[str]:
    m = _CONVICTION.match(value)
    if m is None:  # "no criminal record": uniform convictions
        pool = [o for o in others if o != NO_RECORD]
        return rng.sample(pool, min(k, len(pool)))
    parts = {o: _CONVICTION.match(o) for o in others}
    same_offence = [o for o, p in parts.items() if p and p["offence"] == m["offence"]]
    same_year = [o for o, p in parts.items() if p and p["year"] == m["year"]]
    out = rng.sample(same_offence, min(k // 2, len(same_offence)))
    out += rng.sample(same_year, min(k - len(out), len(same_year)))
    rest = [o for o in others if o not in set(out)]
    return out + rng.sample(rest, min(k - len(out), len(rest)))


def candidates(record: dict[str, Any], k: int, seed: int) -> list[str] | None:
    """Candidate answer sentences of one QA record, the true one first (None: no exposure)."""
    field = record.get("field")
    value = true_value(field, record.get("keywords") or []) if field else None
    if value is None:
        return None
    template = next((t for t in TEMPLATES[field][1] if fill_template(t, value) == record["answer"]), None)
    if template is None:
        return None
    others = [v for v in VOCABULARIES[field].values if v != value]
    rng = random.Random(f"exposure:{seed}:{record['unique_id']}:{record['qa_index']}:{field}")
    if len(others) <= k:
        wrong = others
    elif field == "criminal_record":
        wrong = _near_misses(value, others, k, rng)
    else:
        wrong = rng.sample(others, k)
    return [fill_template(template, v) for v in (value, *wrong)]


def exposure_rows(
    records: Sequence[dict[str, Any]], image_of: Callable[[str], Path], k: int, seed: int,
    splits: Sequence[str] = ("forget",),
) -> tuple[list[ScoreRow], list[tuple[int, int]]]:
    """The scoring rows of every candidate of the QA records of ``splits``, and where each
    result goes: (record index, candidate index). Writes ``exposure_candidates`` into the
    records (the sentences scored, the true one first)."""
    rows: list[ScoreRow] = []
    dst: list[tuple[int, int]] = []
    if k < 1:
        return rows, dst
    for ri, r in enumerate(records):
        if r.get("kind") != "qa" or r.get("split") not in splits:
            continue
        cands = candidates(r, k, seed)
        if cands is None:
            continue
        r["exposure_candidates"] = cands
        for ci, sentence in enumerate(cands):
            rows.append(ScoreRow(image_of(r["unique_id"]), r["question"], sentence))
            dst.append((ri, ci))
    return rows, dst


def attach_scores(records: list[dict[str, Any]], dst: Sequence[tuple[int, int]], nlls: Sequence[float]) -> None:
    """Store each candidate's mean NLL (``exposure_nll``, aligned with ``exposure_candidates``)."""
    for (ri, ci), nll in zip(dst, nlls, strict=True):
        r = records[ri]
        r.setdefault("exposure_nll", [None] * len(r["exposure_candidates"]))[ci] = nll


def score_exposure(engine: Any, records: list[dict[str, Any]], image_of: Callable[[str], Path], k: int,
                   seed: int) -> int:
    """Score every candidate with ``engine`` (an ``eval.engine.Engine``); returns the rows scored."""
    rows, dst = exposure_rows(records, image_of, k, seed)
    if rows:
        attach_scores(records, dst, [st.mean_nll for st in engine.score(rows)])
    return len(rows)

