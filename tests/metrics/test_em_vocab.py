"""Exact match on word boundaries, numbers as numbers, and vocabularies it can tell apart."""

from __future__ import annotations

import pytest

from fiubench.data import profiles
from fiubench.metrics.text import keyword_found, keyword_match, keyword_match_substring


@pytest.mark.parametrize(("keyword", "generation", "found"), [
    ("B+", "the blood type is AB+.", False), ("B+", "Blood type B+.", True),
    ("normal", "the results were abnormal", False), ("normal", "Normal.", True),
    ("$85,300", "an income of $85300.00 a year", True), ("$85,300", "an income of $185,300", False),
    ("1999", "convicted in 1999.", True), ("1999", "in 1999, then", True), ("1999", "code 19990", False),
    ("5", "the 5th floor", False), ("12.5%", "12.50 percent", True),
    ("March 5, 1990", "born on March 15, 1990", False), ("March 5, 1990", "born on march 5, 1990.", True),
    ("555-123-4567", "call 555-123-4567.", True),
])
def test_keyword_found(keyword: str, generation: str, found: bool) -> None:
    assert keyword_found(keyword, generation) is found


def test_em_and_the_upstream_substring_compatibility_metric() -> None:
    assert keyword_match(["B+"], "AB+") == 0.0
    assert keyword_match_substring(["B+"], "AB+") == 1.0  # upstream counts the substring
    assert keyword_match(["arson", "1999"], "a conviction for arson in 2001") == 0.5
    assert keyword_match([" "], "x") is None


def _values_and_keywords(fld: str) -> tuple[tuple[str, ...], dict[str, tuple[str, ...]]]:
    voc = profiles.VOCABULARIES[fld]
    return voc.values, {v: profiles.vocabulary_keywords(fld, v) for v in voc.values}


@pytest.mark.parametrize("fld", sorted(profiles.VOCABULARIES))
def test_no_value_is_credited_by_another_values_text(fld: str) -> None:
    """Under the EM rule, a wrong value of the same field never earns a keyword it does not
    share: a keyword of value a found in the text of value b is one of b's own keywords
    (a conviction in the same year does state that year)."""
    values, kws = _values_and_keywords(fld)
    by_keyword: dict[str, set[str]] = {}
    for v in values:
        for k in kws[v]:
            by_keyword.setdefault(k, set()).add(v)
    wrong = [(k, b) for k, owners in by_keyword.items() for b in values
             if b not in owners and k not in kws[b] and keyword_found(k, b)]
    assert wrong == []


def test_the_control_substring_rule_and_the_raw_job_list_fail_it() -> None:
    """The test above can fail: the raw Faker job list and substring matching do."""
    raw = [profiles._lower_first(j) for j in profiles._JobProvider.jobs if "," not in j and "(" not in j]
    assert any(keyword_found("administrator", b) for b in raw if b != "administrator")
    blood = profiles.BLOOD_TYPES.values
    assert any(keyword_match_substring([a], b) for a in blood for b in blood if a != b)
    assert len(profiles.OCCUPATIONS.values) == len(profiles.without_contained(raw)) < len(set(raw))
