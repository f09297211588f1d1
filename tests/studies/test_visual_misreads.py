"""studies/visual_misreads.py: per-attribute accuracy before/after and the misreads between."""

from __future__ import annotations

from types import SimpleNamespace

from .study import load_study


def _misreads():
    return load_study("visual_misreads").misreads


def test_misreads_counts_right_before_and_wrong_after_only():
    misreads = _misreads()
    q = [SimpleNamespace(attribute="age", answer="Young."), SimpleNamespace(attribute="age", answer="Old."),
         SimpleNamespace(attribute="hair", answer="Red hair."), SimpleNamespace(attribute="age", answer="Young.")]
    before = ["young", "Young.", "Red hair.", "Young."]  # all right but the second (norm: case, full stop)
    after = ["Old.", "Old.", "Red hair.", "Old."]  # the second is right only after: not a misread

    def norm(s):
        return s.lower().rstrip(".")

    by_attr, lost = misreads(q, before, after, norm)
    assert by_attr == {"age": (2 / 3, 1 / 3, 3), "hair": (1.0, 1.0, 1)}
    assert lost == {("age", "Young.", "Old."): 2}
