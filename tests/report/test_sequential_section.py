"""The report's sequential-requests section (report.sequential) on synthetic entries: one row
per request with the figures on the people removed so far and per request, the single batch
as the reference, the penalty with its interval on the last request, and the plot."""

from __future__ import annotations

from fiubench.report.entries import Entry
from fiubench.report.sequential import (
    chains,
    parse_variant,
    request_variant,
    sequential_png,
    sequential_table,
)

SPLIT = "forget10"


def _e(variant: str, **m: float) -> Entry:
    return Entry(run="r", model=f"ga/{SPLIT}", role="unlearned", method="ga", forget_split=SPLIT, variant=variant,
                 step=4, final=True, config_hash="h", metrics=dict(m))


def test_variants_round_trip() -> None:
    assert parse_variant(request_variant(2, 3, "unlearn_lr=0.001")) == (2, 3, "unlearn_lr=0.001")
    assert parse_variant("unlearn_lr=0.001") is None


def test_rows_per_request_with_the_single_batch_and_the_penalty() -> None:
    entries = [
        _e("", forget_quality=0.8, model_utility=0.7),
        _e(request_variant(1, 2), **{"forget_quality": 0.5, "model_utility": 0.69, "seq.request": 1,
                                     "seq.removed.forget_quality": 0.85, "seq.req1.forget_quality": 0.85,
                                     "seq.req2.forget_quality": 0.2}),
        _e(request_variant(2, 2), **{"forget_quality": 0.6, "model_utility": 0.6, "seq.request": 2,
                                     "seq.removed.forget_quality": 0.6, "seq.req1.forget_quality": 0.55,
                                     "seq.req2.forget_quality": 0.65, "seq.penalty_fq": 0.2,
                                     "seq.penalty_fq_low": 0.05, "seq.penalty_fq_high": 0.3}),
    ]
    single, reqs = chains(entries, SPLIT)[("ga", "")]
    assert single is entries[0] and [e.get("seq.request") for e in reqs] == [1, 2]
    t = sequential_table(entries, SPLIT)
    assert t is not None
    rows = dict(t.rows)
    assert rows["GA, single batch"][1] == 0.8
    assert rows["GA, after request 1"][5] is None  # request 2's people are not removed yet
    assert rows["GA, after request 2"][6] == "+20.0 [+5.0, +30.0]" and rows["GA, after request 1"][6] is None
    png = sequential_png(entries, SPLIT)
    assert png is not None and png[:4] == b"\x89PNG"
    assert sequential_table(entries[:1], SPLIT) is None  # no requests: no section
