"""The report's "calibration of the instrument" table (see :mod:`fiubench.metrics.calibration`).

One row per retain model (forget split x learning variant): its truth ratios on the
forget identities vs the never-trained holdout identities (KS p, median ln R of
each) and the verdict; beside it, how far the fine-tuned model's forget truth ratios
are from the retain model's (the KS log10 p of forget quality), i.e. whether the
instrument separates a model that saw the people from one that did not.
"""

from __future__ import annotations

from collections.abc import Sequence

from fiubench.metrics.calibration import (
    ALPHA,
    MAX_ABS_MEDIAN_LOG_R,
    NO_HOLDOUT,
    calibration_problems,
)
from fiubench.report.entries import Entry
from fiubench.report.tables import Column, Table

SEPARATION_LOG10_P = -2.0  # fine-tuned vs retain on forget: "clearly separated" below this


def verdict(e: Entry) -> str:
    """'calibrated', 'MISCALIBRATED: ...' or 'cannot run: ...' for a retain model's entry."""
    p, mf, mh = (e.get(m) for m in (
        "calibration.ks_p", "calibration.forget_median_log_r", "calibration.holdout_median_log_r"
    ))
    if p is None or mf is None or mh is None:
        return NO_HOLDOUT
    problems = calibration_problems(p, mf, mh)
    return "calibrated" if not problems else "MISCALIBRATED INSTRUMENT: " + "; ".join(problems)


def calibration_table(entries: Sequence[Entry]) -> Table:
    retain = sorted((e for e in entries if e.role == "retain"), key=lambda e: (e.forget_split or "", e.variant))
    t = Table(
        name="calibration",
        title="Calibration of the instrument: the retain model's truth ratios, forget vs never-trained holdout",
        columns=[
            Column("KS p forget vs holdout", ("calibration.ks_p",), scale=1.0, decimals=3, higher_is_better=True),
            Column("median ln R forget", ("calibration.forget_median_log_r",), scale=1.0, decimals=3),
            Column("median ln R holdout", ("calibration.holdout_median_log_r",), scale=1.0, decimals=3),
            Column("fine-tuned vs retain KS log10 p", ("forget.ks_log10_p",), scale=1.0, decimals=2,
                   higher_is_better=False),
            Column("verdict", ()),
        ],
        row_header="retain model",
    )
    for e in retain:
        ft = next((f for f in entries if f.role == "finetuned" and f.forget_split == e.forget_split
                   and f.variant == e.variant), None)
        sep = ft.get("forget.ks_log10_p") if ft is not None else None
        label = f"{e.forget_split}" + (f" [{e.variant}]" if e.variant else "")
        t.rows.append((label, [e.get("calibration.ks_p"), e.get("calibration.forget_median_log_r"),
                               e.get("calibration.holdout_median_log_r"), sep, verdict(e)]))
    t.notes.append(
        f"The retain model never saw the forget nor the holdout identities: with exchangeable perturbed "
        f"answers its truth ratios R = P(perturbed)/P(paraphrased) on both are one distribution centred on "
        f"R = 1. Calibrated: KS p >= {ALPHA} and |median ln R| <= {MAX_ABS_MEDIAN_LOG_R} on each split; "
        "otherwise the truth ratio and the KS forget-quality test measure how the dataset was built, not "
        "forgetting. The fine-tuned model should be clearly separated from the retain model "
        f"(KS log10 p <= {SEPARATION_LOG10_P:g}), or the KS test cannot tell a model that knows the people "
        "from one that never saw them."
    )
    if any(e.get("calibration.ks_p") is None for e in retain):
        t.notes.append("Without a holdout split (the official release has none) the check " + NO_HOLDOUT)
    return t
