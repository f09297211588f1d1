"""The stage-1 gate (metrics.gate) on synthetic per-sample records: identities learnt by the
fine-tuned model pass, one it answers like the retain model does not, a model compared with
itself learnt nobody (the null case), and the floor stops or warns."""

from __future__ import annotations

import math

import pytest

from fiubench.errors import ConfigError
from fiubench.metrics.gate import GateResult, GateRule, Stage1NotLearnt, enforce, stage1_gate


def _records(per_person: dict[str, tuple[float, float]], n_qa: int = 4) -> list[dict]:
    """uid -> (exact match of every QA, answer NLL of every QA)."""
    return [{"kind": "qa", "split": "forget", "unique_id": u, "qa_index": i, "exact_match": em, "answer_nll": nll}
            for u, (em, nll) in per_person.items() for i in range(n_qa)]


RETAIN = _records({u: (0.05, 3.0) for u in "abcde"})


def test_learnt_people_pass_and_a_person_answered_like_the_retain_model_does_not() -> None:
    ft = _records({"a": (1.0, 0.1), "b": (0.9, 0.2), "c": (0.95, 0.1), "d": (0.85, 0.3), "e": (0.05, 3.0)})
    g = stage1_gate(ft, RETAIN, "forget25")
    assert g.not_learnt == ["e"] and g.fraction_learnt == pytest.approx(0.8) and g.passed
    assert enforce(g, override=False) is None


def test_both_conditions_are_needed() -> None:
    # high EM but answers barely more probable than the retain model's (NLL gap < ln 2)
    ft = _records({u: (1.0, 3.0 - math.log(2.0) / 2) for u in "abcde"})
    assert stage1_gate(ft, RETAIN, "f").fraction_learnt == 0.0
    ft = _records({u: (0.3, 0.1) for u in "abcde"})  # probable answers, keywords rarely said
    assert stage1_gate(ft, RETAIN, "f").fraction_learnt == 0.0


def test_a_model_compared_with_itself_learnt_nobody() -> None:
    g = stage1_gate(RETAIN, RETAIN, "forget25")
    assert g.fraction_learnt == 0.0 and not g.passed


def test_below_the_floor_the_run_stops_naming_the_people_or_warns_when_overridden() -> None:
    ft = _records({"a": (1.0, 0.1), "b": (0.1, 2.9), "c": (0.0, 3.1), "d": (1.0, 0.2), "e": (0.2, 2.5)})
    g = stage1_gate(ft, RETAIN, "forget25", GateRule(min_learnt=0.8))
    assert not g.passed and g.not_learnt == ["b", "c", "e"]
    with pytest.raises(Stage1NotLearnt, match=r"b, c, e.*learn\.train\.epochs \(now 1\).*gate\.override"):
        enforce(g, override=False, epochs=1)
    warning = enforce(g, override=True)
    assert warning is not None and warning.startswith("WARNING") and "2 of 5" in warning
    assert GateResult.from_dict(g.as_dict()).as_dict() == g.as_dict()


def test_bad_rules_and_mismatched_evaluations_are_refused() -> None:
    with pytest.raises(ConfigError, match="gate.min_learnt"):
        GateRule(min_learnt=1.5).validate()
    with pytest.raises(Exception, match="differ in identities"):
        stage1_gate(_records({"a": (1.0, 0.1)}), RETAIN, "f")
