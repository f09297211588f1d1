"""The report's stage-1 section (report.stage1) on synthetic entries: uninformative terms are
marked, FQ with their weight shared out sits next to FQ as defined, and the fraction stage 1
learnt stands next to every forget-quality figure (a warning when below the floor)."""

from __future__ import annotations

import pytest

from fiubench.metrics.aggregate import AggregateConfig
from fiubench.report.entries import Entry
from fiubench.report.render import to_markdown
from fiubench.report.stage1 import fq_table, gate_note, terms_table
from fiubench.report.store import ComparisonRow

SPLIT = "forget25"
FQ_IN = {"forget.ks_p": 0.3, "forget.exact_match": 0.1, "mia.auc_min_k_pp": 0.55, "forget.ape": 0.05}


def _entry(role: str, method: str | None = None, **metrics: float) -> Entry:
    return Entry(run="r", model=method or role, role=role, method=method, forget_split=SPLIT, variant="", step=0,
                 final=True, config_hash="h", metrics={**FQ_IN, "forget_quality": 0.5, **metrics})


def _cmp(metric: str, est: float, low: float, high: float, p: float = 0.01) -> ComparisonRow:
    return ComparisonRow(run="r", forget_split=SPLIT, model_a="finetuned", model_b="retain", metric=metric,
                         estimate=est, low=low, high=high, level=0.95, indistinguishable=low <= 0 <= high,
                         k="k=10", p_differs=p, family="vs retain")


COMPARISONS = [_cmp("forget.exact_match", 0.9, 0.8, 0.95), _cmp("forget.ape", 0.018, -0.003, 0.042, 0.2),
               _cmp("mia.fq_term", -0.4, -0.6, -0.2), _cmp("forget.ks_d", 0.6, 0.5, 0.7, 0.002)]


def test_an_uninformative_term_is_marked_and_its_weight_shared_out() -> None:
    ft = _entry("finetuned", **{"gate.fraction_learnt": 1.0, "gate.n_identities": 10, "gate.passed": 1.0,
                                "attack.prefill.informative": 0.0})
    entries = [_entry("retain"), ft, _entry("unlearned", "ga")]
    agg = AggregateConfig()
    t = terms_table(entries, COMPARISONS, SPLIT, agg)
    assert t is not None
    verdicts = {label: cells[4] for label, cells in t.rows}
    assert verdicts["APE"] == "UNINFORMATIVE" and verdicts["EM"] == "informative"
    assert verdicts["KS (distance D)"] == "informative" and verdicts["attack prefill"] == "UNINFORMATIVE"
    fq = fq_table(entries, COMPARISONS, SPLIT, agg)
    ga = dict(fq.rows)["GA"]
    assert ga[2] == "APE" and ga[3] == "10 of 10 (100%)" and ga[4] == "—"
    assert dict(fq_table([*entries[:2], _entry("unlearned", "ga", **{"forget.exposure": 1.5, "forget.exposure_chance": 1.23})],
                         COMPARISONS, SPLIT, agg).rows)["GA"][4] == "1.50 (1.23)"
    from fiubench.metrics.informative import informative_forget_quality

    assert ga[1] == pytest.approx(informative_forget_quality(FQ_IN, agg, {"ape": False}))
    assert ga[1] != pytest.approx(informative_forget_quality(FQ_IN, agg, {}))  # the weight did move
    assert "10 of 10" in (gate_note(entries, SPLIT) or "")
    assert "UNINFORMATIVE" in to_markdown(t)


def test_below_the_floor_every_fq_row_carries_the_warning() -> None:
    ft = _entry("finetuned", **{"gate.fraction_learnt": 0.5, "gate.n_identities": 2, "gate.passed": 0.0})
    entries = [_entry("retain"), ft, _entry("unlearned", "ga")]
    fq = fq_table(entries, [], SPLIT, AggregateConfig())
    assert all("BELOW THE FLOOR" in cells[3] for label, cells in fq.rows if label != "Retain")
    assert all(cells[1] is None and cells[2] == "unknown" for _, cells in fq.rows)  # no comparisons: unknown
    note = gate_note(entries, SPLIT)
    assert note is not None and note.startswith("WARNING")


def test_a_run_without_the_gate_says_not_checked() -> None:
    entries = [_entry("retain"), _entry("finetuned")]
    assert "not checked" in (gate_note(entries, SPLIT) or "")
