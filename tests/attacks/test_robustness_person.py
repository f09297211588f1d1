"""The attack summary's intervals are person-level: BCa over identities, with k.

The unit of resampling is the identity: answers about one person add no evidence, so
k is the number of identities, and a model compared with itself (an attack equal to no
attack, a model exchangeable with the retain model) gets an interval containing 0.
"""

from __future__ import annotations

import numpy as np
import pytest

from fiubench.attacks.summary import summarise_attacks
from fiubench.metrics.robustness import (
    adjusted_interval,
    difference_interval,
    is_informative,
    is_lowered,
)

IDS = [f"p{i}" for i in range(12)]


def _per(xs) -> dict[str, float]:
    return dict(zip(IDS, (float(x) for x in xs), strict=True))


def _noisy(x: float, seed: int) -> np.ndarray:
    return np.clip(x + np.random.default_rng(seed).normal(0, 0.1, len(IDS)), 0, 1)


def _res(**variants: np.ndarray) -> dict:
    return {"variants": {v: float(np.mean(xs)) for v, xs in variants.items()},
            "per_identity": {v: _per(xs) for v, xs in variants.items()}}


def test_interval_is_over_identities_and_carries_k():
    # a difference of per-person means: studentised by its SE (the recovery ratio is BCa)
    iv = difference_interval(_per(_noisy(0.8, 0)), _per(_noisy(0.1, 1)), n_boot=500)
    assert iv.k == {"forget": 12} and iv.k_label == "k=12" and iv.method == "studentized"
    assert iv.low < iv.estimate < iv.high
    # only the identities both sides have count
    assert difference_interval(_per(_noisy(0.8, 0)), dict(list(_per(_noisy(0.1, 1)).items())[:7])).k == {"forget": 7}


def test_identities_not_answers_are_the_unit():
    """Six people, 20 identical answers each: resampling the people gives a much wider
    interval than treating the 120 answers as independent units would."""
    people = np.random.default_rng(3).normal(0.5, 0.2, 6)
    ids = [f"p{i}" for i in range(6)]
    by_person = difference_interval(dict(zip(ids, people, strict=True)), dict.fromkeys(ids, 0.0), n_boot=500)
    answers = np.repeat(people, 20)
    names = [f"a{j}" for j in range(answers.size)]
    by_answer = difference_interval(dict(zip(names, answers, strict=True)), dict.fromkeys(names, 0.0), n_boot=500)
    assert by_person.estimate == pytest.approx(by_answer.estimate)
    assert by_person.k == {"forget": 6} and by_answer.k == {"forget": 120}
    assert (by_person.high - by_person.low) > 3 * (by_answer.high - by_answer.low)


def test_null_cases_give_an_interval_containing_zero():
    before = _noisy(0.6, 4)
    # an attack equal to no attack: exactly 0, not lowered
    same = difference_interval(_per(before), _per(before))
    assert same.estimate == 0.0 and same.contains(0.0) and not is_lowered(same)
    # an attack exchangeable with no attack per person (the same values, people shuffled)
    shuffled = before[np.random.default_rng(5).permutation(len(IDS))]
    gap = difference_interval(_per(shuffled), _per(before), n_boot=500)
    assert gap.contains(0.0) and not is_lowered(gap) and is_informative(gap) is False
    # a model exchangeable with the retain model recovers nothing measurable
    ft, rt = _noisy(0.8, 6), _noisy(0.2, 7)
    like_retain = rt[np.random.default_rng(8).permutation(len(IDS))]
    r = adjusted_interval(_per(like_retain), _per(ft), _per(rt), n_boot=500)
    assert r.estimate == pytest.approx(0.0) and r.contains(0.0) and r.k == {"forget": 12}


def test_summary_stores_k_beside_each_interval():
    ft = {"prefill": _res(prefix=_noisy(0.8, 0))}
    rt = {"prefill": _res(prefix=_noisy(0.2, 1))}
    model = {"prefill": _res(prefix=_noisy(0.5, 2))}
    s = summarise_attacks({"m": model, "retain": rt}, ft, rt, n_boot=300)
    m = s["metrics"]["m"]
    assert m["attack.prefill.recovery_k"] == 12.0 and m["attack.worst_k"] == 12.0
    assert m["attack.worst_low"] < m["attack.worst"] < m["attack.worst_high"]
    # the retain model against itself: recovery 0 in every draw, an interval that holds 0
    r = s["metrics"]["retain"]
    assert r["attack.worst"] == 0.0 and r["attack.worst_low"] <= 0.0 <= r["attack.worst_high"]
    # a result without per-identity values rests on one pseudo-identity: a point, k = 1
    old = {"prefill": {"variants": {"prefix": 0.5}}}
    s = summarise_attacks({"m": old}, {"prefill": {"variants": {"prefix": 0.8}}},
                          {"prefill": {"variants": {"prefix": 0.2}}})
    m = s["metrics"]["m"]
    assert m["attack.worst_k"] == 1.0 and m["attack.worst_low"] == m["attack.worst_high"] == pytest.approx(0.5)
    assert summarise_attacks({"m": old})["metrics"]["m"]["attack.worst_k"] is None  # no baselines: no interval
