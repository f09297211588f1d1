"""The report's "calibration of the instrument" table (see :mod:`fiubench.metrics.calibration`).

One row per retain model (forget split x learning variant): its ln R on the forget
identities vs the never-trained holdout identities, identity as the unit (the KS
distance D with its identity-permutation p, the mean ln R of each split with its BCa
interval over identities, the QA fields found miscalibrated) and the verdict stored with
its evaluation (``calibration.ok``: the rule of ``fiubench audit``, computed by the same
code); beside it, how far the fine-tuned model's forget truth ratios are from the retain
model's (the KS log10 p of forget quality), i.e. whether the instrument separates a model
that saw the people from one that did not.
"""

from __future__ import annotations

from collections.abc import Sequence

from fiubench.metrics.calibration import ALPHA, MARGIN_LOG_R, MIN_IDENTITIES, NO_HOLDOUT
from fiubench.report.entries import Entry
from fiubench.report.tables import Column, Table

SEPARATION_LOG10_P = -2.0  # fine-tuned vs retain on forget: "clearly separated" below this
OLD_CHECK = ("not checked over identities: results of metrics version <= 5 (answer-level screen); "
             "re-evaluate the retain model, or run fiubench audit")


def _mean(e: Entry, split: str) -> tuple[float | None, float | None, float | None]:
    base = f"calibration.{split}_mean_log_r"
    return e.get(base), e.get(f"{base}_low"), e.get(f"{base}_high")


def verdict(e: Entry) -> str:
    """'calibrated', 'MISCALIBRATED INSTRUMENT: ...' or 'cannot run: ...' for a retain model's
    entry: the stored ``calibration.ok``, with what the stored figures say about why."""
    ok = e.get("calibration.ok")
    if e.get("calibration.perm_p") is None or ok is None:
        return OLD_CHECK if e.get("calibration.ks_p") is not None else NO_HOLDOUT
    if ok:
        thin = [s for s in ("forget", "holdout") if _mean(e, s)[1] is None]
        return "calibrated" + (f" (no verdict on the mean ln R of {' and '.join(thin)}: fewer than "
                               f"{MIN_IDENTITIES} identities)" if thin else "")
    why = []
    p, d = e.get("calibration.perm_p"), e.get("calibration.ks_d")
    if p is not None and p < ALPHA:
        why.append(f"forget and holdout differ (KS D = {d:.3f}, identity-permutation p = {p:.3g} < {ALPHA})")
    for s in ("forget", "holdout"):
        m, lo, hi = _mean(e, s)
        if m is not None and lo is not None and hi is not None and abs(m) > MARGIN_LOG_R and not lo <= 0.0 <= hi:
            side = "implausible in themselves" if m < 0 else "more plausible than the truth"
            why.append(f"mean ln R on {s} = {m:+.2f} [{lo:+.2f}, {hi:+.2f}]: perturbed answers {side}")
    nf = e.get("calibration.fields_miscalibrated")
    if nf:
        why.append(f"{int(nf)} QA field(s) miscalibrated (fiubench audit names them)")
    return "MISCALIBRATED INSTRUMENT: " + ("; ".join(why) or "see fiubench audit")


def calibration_table(entries: Sequence[Entry]) -> Table:
    retain = sorted((e for e in entries if e.role == "retain"), key=lambda e: (e.forget_split or "", e.variant))
    t = Table(
        name="calibration",
        title="Calibration of the instrument: the retain model's ln R, forget vs never-trained holdout identities",
        columns=[
            Column("KS D forget vs holdout", ("calibration.ks_d",), scale=1.0, decimals=3, higher_is_better=False),
            Column("p (identities permuted)", ("calibration.perm_p",), scale=1.0, decimals=3, higher_is_better=True),
            Column("mean ln R forget", ("calibration.forget_mean_log_r",), scale=1.0, decimals=3),
            Column("mean ln R holdout", ("calibration.holdout_mean_log_r",), scale=1.0, decimals=3),
            Column("identities forget + holdout", (), scale=1.0, decimals=0),
            Column("fields miscalibrated", ("calibration.fields_miscalibrated",), scale=1.0, decimals=0,
                   higher_is_better=False),
            Column("fine-tuned vs retain KS log10 p", ("forget.ks_log10_p",), scale=1.0, decimals=2,
                   higher_is_better=False),
            Column("verdict", ()),
        ],
        row_header="retain model",
        ci=[],
    )
    for e in retain:
        ft = next((f for f in entries if f.role == "finetuned" and f.forget_split == e.forget_split
                   and f.variant == e.variant), None)
        sep = ft.get("forget.ks_log10_p") if ft is not None else None
        label = f"{e.forget_split}" + (f" [{e.variant}]" if e.variant else "")
        (mf, lf, hf), (mh, lh, hh) = _mean(e, "forget"), _mean(e, "holdout")
        kf, kh = e.get("calibration.forget_people"), e.get("calibration.holdout_people")
        people = f"{int(kf)} + {int(kh)}" if kf is not None and kh is not None else None
        t.rows.append((label, [e.get("calibration.ks_d"), e.get("calibration.perm_p"), mf, mh, people,
                               e.get("calibration.fields_miscalibrated"), sep, verdict(e)]))
        assert t.ci is not None
        t.ci.append([None, None, None if lf is None or hf is None else (lf, hf),
                     None if lh is None or hh is None else (lh, hh), None, None, None, None])
    t.notes.append(
        "The retain model never saw the forget nor the holdout identities: with exchangeable perturbed "
        "answers its ln R (R = P(perturbed)/P(paraphrased), geometric) on both is one distribution centred "
        "on 0. Identity as the unit: p of the KS distance D from permuting identities between the splits; "
        "mean ln R with its 95 % BCa interval (identities resampled). Calibrated: p >= "
        f"{ALPHA}, no split or QA field whose mean ln R differs from 0 (p < {ALPHA}; every p of the check "
        f"Holm-adjusted together) by "
        f"more than {MARGIN_LOG_R} (the verdict of fiubench audit, same code; its per-field table names the "
        "fields). Otherwise the truth ratio and the KS forget-quality test measure how the dataset was built, "
        "not forgetting. The fine-tuned model should be clearly separated from the retain model "
        f"(KS log10 p <= {SEPARATION_LOG10_P:g}), or the KS test cannot tell a model that knows the people "
        "from one that never saw them."
    )
    if any(e.get("calibration.perm_p") is None and e.get("calibration.ks_p") is None for e in retain):
        t.notes.append("Without a holdout split (the official release has none) the check " + NO_HOLDOUT)
    return t
