"""Per-identity statistics: the samples of drawn identities, their pooled mean and its
standard error with the identity as the unit.

A figure such as forget exact match is a *pooled* mean, sum of the drawn identities'
per-sample values over the number of their samples: a ratio estimator
R = sum_i s_i / sum_i n_i (Cochran 1977, "Sampling Techniques", sec. 6.4). Its
linearisation standard error over k identities,

    SE(R) = sqrt( sum_i z_i^2 / (k (k - 1)) ),   z_i = (s_i - R n_i) / n_bar,

is what the studentised bootstrap over identities divides by
(:func:`fiubench.metrics.inference.person_bootstrap` with ``se``). For a paired
difference of two models' pooled means on the same identities, z_i is the difference of
the two models' z_i. Pure functions of per-identity arrays.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

Units = Sequence[np.ndarray]  # one array of per-sample values per identity


def pooled(units: Units, idx: np.ndarray | None = None) -> np.ndarray:
    """The samples of the identities ``idx`` (with repeats), one array."""
    chosen = units if idx is None else [units[i] for i in np.asarray(idx).tolist()]
    return np.concatenate(chosen, dtype=np.float64) if len(chosen) else np.zeros(0)


def pooled_mean(units: Units, idx: np.ndarray | None = None) -> float:
    """Mean over all answers of the identities drawn (undefined values left out)."""
    v = pooled(units, idx)
    v = v[np.isfinite(v)]
    return float(v.mean()) if v.size else float("nan")


def mix(a: Units, b: Units, swap: np.ndarray) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Two models' per-identity samples with the identities where ``swap`` is True exchanged."""
    x = [bi if s else ai for ai, bi, s in zip(a, b, swap, strict=True)]
    y = [ai if s else bi for ai, bi, s in zip(a, b, swap, strict=True)]
    return x, y


def sums(units: Units) -> tuple[np.ndarray, np.ndarray]:
    """Per-identity sum and count of the defined samples (NaN left out)."""
    arrays = [np.asarray(u, dtype=np.float64) for u in units]
    s = np.array([float(np.nansum(u)) for u in arrays])
    n = np.array([float(np.isfinite(u).sum()) for u in arrays])
    return s, n


def ratio_influence(s: np.ndarray, n: np.ndarray) -> np.ndarray:
    """z_i = (s_i - R n_i) / n_bar of the pooled mean R = sum s / sum n over the identities
    given (with repeats); NaN when they have no samples."""
    total = float(n.sum())
    if total <= 0:
        return np.full(s.shape, np.nan)
    r = float(s.sum()) / total
    return (s - r * n) / (total / n.size)


def influence_se(z: np.ndarray) -> float:
    """SE of a linearised statistic from its per-identity influence values (NaN below 2)."""
    k = z.size
    if k < 2 or not np.all(np.isfinite(z)):
        return float("nan")
    return math.sqrt(float(np.sum((z - z.mean()) ** 2)) / (k * (k - 1.0)))


def ratio_se(s: np.ndarray, n: np.ndarray) -> float:
    """Linearisation SE of the pooled mean sum(s) / sum(n) over the identities given."""
    return influence_se(ratio_influence(s, n))
