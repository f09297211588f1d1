"""The person-level KS comparison of a model's truth ratios with the retain model's.

The answers about one person are not independent, so the p-value permutes *identities*
(the two models' records swapped person by person, ``scipy.stats.permutation_test``),
and an asymptotic p with resolution below the exact test's floor 2 / 2^k scales D by the
effective number of answers n* at which the Kolmogorov limit law matches the permutation
null's mean (a design-effect correction for answers clustered in people).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats

from fiubench.metrics.identity_stats import Units, pooled

# E[K] of the Kolmogorov limit law (sup of a Brownian bridge): sqrt(pi / 2) ln 2
_KOLMOGOROV_MEAN = math.sqrt(math.pi / 2.0) * math.log(2.0)


def ks_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Two-sample KS distance D = sup |F_a - F_b| (``ks_2samp(a, b).statistic``); NaN when a
    side is empty."""
    from fiubench.metrics.ks import ks_statistic

    if len(a) == 0 or len(b) == 0:
        return float("nan")
    return ks_statistic(a, b)


@dataclass(frozen=True)
class PersonKS:
    """The person-level KS comparison of a model with the retain model."""

    d: float  # pooled KS distance between the model's and the retain model's truth ratios
    p_permutation: float  # sign-flip over identities; floor 2 / 2^k when exact
    n_permutations: int
    exact: bool
    p_asymptotic: float  # Kolmogorov law at the effective number of answers n*
    n_effective: float
    k: int


def person_ks_test(model: Units, reference: Units, *, n_resamples: int = 9999, seed: int = 0) -> PersonKS:
    """KS distance of ``model`` from ``reference`` (same identities, same order) with
    identity-level p-values.

    ``p_permutation``: share of the 2^k person-wise swap patterns (all when
    2^k <= n_resamples, else ``n_resamples`` random ones) whose D reaches the observed
    one. ``p_asymptotic``: P(K >= sqrt(n*) D) under the Kolmogorov limit law, n* chosen
    so that the law's mean matches the permutation null's mean of D (clustering lowers
    n* below the number of answers). It keeps ordering models whose D all sit beyond the
    exact test's floor; it is an approximation, checked against the exact test in the
    tests (``tests/metrics/test_inference.py``).
    """
    k = len(model)
    if k == 0 or len(reference) != k:
        raise ValueError("person KS test: need the same identities (>= 1) on both sides")
    units = [np.asarray(u, dtype=np.float64) for u in (*model, *reference)]

    def stat(x: np.ndarray, y: np.ndarray) -> float:
        return ks_distance(pooled(units, x), pooled(units, y))

    d = stat(np.arange(k), np.arange(k) + k)
    if not np.isfinite(d):
        raise ValueError("person KS test: no truth ratios")
    if k < 2:  # one person: no reference distribution to speak of
        return PersonKS(d, 1.0, 2, True, 1.0, float("nan"), k)
    res = stats.permutation_test((np.arange(k), np.arange(k) + k), stat, permutation_type="samples",
                                 vectorized=False, n_resamples=n_resamples, alternative="greater",
                                 random_state=np.random.default_rng(seed))
    null = np.asarray(res.null_distribution, dtype=np.float64)
    exact = 2**k <= n_resamples
    mean0 = float(null.mean())
    if mean0 > 0:
        n_eff = (_KOLMOGOROV_MEAN / mean0) ** 2
        p_asym = float(stats.kstwobign.sf(math.sqrt(n_eff) * d))
    else:  # every swap gives D = 0 (identical models): no evidence at all
        n_eff, p_asym = float("nan"), 1.0
    return PersonKS(d, float(res.pvalue), int(null.size), exact, p_asym, n_eff, k)
