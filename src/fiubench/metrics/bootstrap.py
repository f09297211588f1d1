"""Identity-level bootstrap: 95 % intervals that resample *people*, not answers.

The 20 answers about one person are correlated (one face, one profile, one memorised
or forgotten identity), so a bootstrap over answers, like the nominal sample size of a
test over answers, overstates the evidence. The unit of resampling here is the
identity (Field & Welsh 2007, "Bootstrapping clustered data"; the cluster bootstrap):
each replicate draws, independently within every group (forget, retain, holdout
identities; training seeds), as many units as the group has, with replacement, and
recomputes the statistic with each unit's per-sample statistics weighted by the number
of times it was drawn. The interval is the percentile interval of the replicates
(Efron & Tibshirani 1993, ch. 13).

Draws depend only on the group sizes, ``n_boot`` and ``seed``: every model evaluated on
the same identities gets the *same* draws, so the difference of two models' replicate
arrays is the paired bootstrap of their difference (:func:`difference_interval`), and a
statistic that reads two models at once (the KS test against the retain model's truth
ratios) resamples the same identities on both sides.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

Weights = Mapping[str, np.ndarray]  # group -> how many times each unit was drawn


@dataclass(frozen=True)
class Interval:
    """A point estimate with its percentile bootstrap interval."""

    estimate: float
    low: float
    high: float
    level: float = 0.95

    def contains(self, x: float) -> bool:
        return self.low <= x <= self.high

    def as_dict(self) -> dict[str, float]:
        return {"estimate": self.estimate, "low": self.low, "high": self.high, "level": self.level}


def resample_counts(sizes: Mapping[str, int], n_boot: int, seed: int) -> dict[str, np.ndarray]:
    """group -> an (n_boot, size) matrix of draw counts (resampling with replacement).

    A multinomial draw of ``size`` units with equal probabilities is exactly one
    with-replacement resample. Groups are drawn in sorted-name order from one seeded
    generator, so equal sizes give equal draws.
    """
    if n_boot < 1:
        raise ValueError(f"n_boot must be >= 1, got {n_boot}")
    rng = np.random.default_rng(seed)
    out: dict[str, np.ndarray] = {}
    for g in sorted(sizes):
        n = int(sizes[g])
        if n < 1:
            raise ValueError(f"bootstrap group {g!r} has no units")
        out[g] = rng.multinomial(n, np.full(n, 1.0 / n), size=n_boot)
    return out


def bootstrap(
    sizes: Mapping[str, int],
    statistic: Callable[[Weights], Mapping[str, float | None]],
    n_boot: int = 1000,
    seed: int = 0,
) -> tuple[dict[str, float | None], dict[str, np.ndarray]]:
    """(estimates, replicates) of every figure ``statistic`` returns.

    ``statistic(weights)`` computes its figures with unit ``i`` of group ``g`` counted
    ``weights[g][i]`` times (0 = left out); the estimate uses weight 1 everywhere.
    A figure that is None in a replicate is NaN there.
    """
    estimate = dict(statistic({g: np.ones(int(n), dtype=np.int64) for g, n in sizes.items()}))
    counts = resample_counts(sizes, n_boot, seed)
    reps = {k: np.full(n_boot, np.nan) for k in estimate}
    for b in range(n_boot):
        vals = statistic({g: c[b] for g, c in counts.items()})
        for k in reps:
            v = vals.get(k)
            if v is not None:
                reps[k][b] = float(v)
    return estimate, reps


def percentile_interval(estimate: float | None, replicates: np.ndarray, level: float = 0.95) -> Interval | None:
    """Percentile interval of the finite replicates around ``estimate`` (None: undefined)."""
    if estimate is None or not np.isfinite(estimate):
        return None
    r = np.asarray(replicates, dtype=np.float64)
    r = r[np.isfinite(r)]
    if r.size == 0:
        return None
    a = (1.0 - level) / 2.0
    lo, hi = np.quantile(r, [a, 1.0 - a])
    return Interval(float(estimate), float(lo), float(hi), level)


def difference_interval(
    estimate_a: float | None, replicates_a: np.ndarray, estimate_b: float | None, replicates_b: np.ndarray,
    level: float = 0.95,
) -> Interval | None:
    """Paired bootstrap interval of a - b (replicates from the *same* draws)."""
    if estimate_a is None or estimate_b is None:
        return None
    return percentile_interval(estimate_a - estimate_b, np.asarray(replicates_a) - np.asarray(replicates_b), level)


def indistinguishable(diff: Interval | None) -> bool | None:
    """True when the difference's interval includes zero (None: no interval)."""
    return None if diff is None else diff.contains(0.0)


# ---------------------------------------------------------------- weighted statistics
def unit_weights(units: Sequence[int], weights: np.ndarray) -> np.ndarray:
    """Per-sample weights from per-unit draw counts (``units[j]``: the unit of sample j)."""
    return np.asarray(weights, dtype=np.float64)[np.asarray(units, dtype=np.int64)]


def weighted_mean(values: np.ndarray, w: np.ndarray) -> float | None:
    """Mean of the defined (finite) values with sample weights ``w``; None when none."""
    v = np.asarray(values, dtype=np.float64)
    ok = np.isfinite(v)
    if not ok.all():
        v, w = v[ok], np.asarray(w)[ok]
    total = float(np.sum(w))
    return float(np.dot(v, w) / total) if total > 0 else None


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


def repeat_by_weight(values: np.ndarray, w: np.ndarray) -> np.ndarray:
    """The sample as a resample would hold it: value j repeated ``w[j]`` times."""
    return np.repeat(np.asarray(values, dtype=np.float64), np.asarray(w, dtype=np.int64))
