"""Weighted ROC AUC, fast enough to run once per bootstrap draw (``eval.uncertainty``).

Intervals and tests with the identity as the unit live in :mod:`fiubench.metrics.inference`
(BCa bootstrap over identities, sign-flip permutation tests); the percentile bootstrap
with per-identity draw counts that used to be here has no users left and is gone.
"""

from __future__ import annotations

import numpy as np


def weighted_auc(member: np.ndarray, w_member: np.ndarray, nonmember: np.ndarray, w_nonmember: np.ndarray) -> float | None:
    """ROC AUC of members vs non-members with sample weights (ties count one half).

    Equals ``sklearn.metrics.roc_auc_score`` with ``sample_weight``; written with a
    sort and cumulative sums because it runs once per bootstrap replicate.
    """
    m, wm = np.asarray(member, np.float64), np.asarray(w_member, np.float64)
    n, wn = np.asarray(nonmember, np.float64), np.asarray(w_nonmember, np.float64)
    tm, tn = wm.sum(), wn.sum()
    if tm <= 0 or tn <= 0:
        return None
    order = np.argsort(n, kind="stable")
    ns, nw = n[order], wn[order]
    cum = np.concatenate([[0.0], np.cumsum(nw)])
    below = cum[np.searchsorted(ns, m, side="left")]  # non-member weight strictly below
    upto = cum[np.searchsorted(ns, m, side="right")]
    return float((wm * (below + 0.5 * (upto - below))).sum() / (tm * tn))
