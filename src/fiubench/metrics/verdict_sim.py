"""Do the verdicts hold? Coverage, false-verdict rates and power under a known truth.

Simulations resample *people* from a run's own per-identity records (the empirical
population of identities, drawn with replacement, so k may exceed the run's count):

* **Coverage** (:func:`coverage`): the truth is the population's pooled mean (one
  model), or the difference of two models' pooled means on the same answers (paired).
  Each simulated run draws k identities and computes the interval of
  :func:`fiubench.metrics.inference.person_bootstrap` (the studentised bootstrap over
  identities, with the pooled mean's ratio-estimator SE); coverage
  is the share of runs whose interval contains the truth.
* **False verdicts under exchangeability** (:func:`null_verdicts`): each drawn
  identity's answers are split at random into two halves, "model A" and "model B" of
  the same model. A and B are exchangeable by construction (true difference 0), so any
  "better"/"worse" verdict (:func:`fiubench.metrics.inference.sign_flip_p` and
  :func:`~fiubench.metrics.inference.tost_p`, :func:`~fiubench.metrics.inference.verdict`)
  is false. Its expected rate is the test's level (5 %).
* **Power** (:func:`min_detectable`, :func:`identities_needed`): from the standard error
  of a paired difference at k identities, SE(k') = SE(k) sqrt(k / k') (identities are
  the independent unit), the smallest difference a two-sided test at alpha detects
  with probability ``power`` is (z_{1-alpha/2} + z_power) SE(k') (normal approximation,
  Cohen 1988 ch. 2), and a difference delta needs k' = k ((z_{1-alpha/2} + z_power) SE(k) / delta)^2.

Pure functions of per-identity arrays of per-sample values; nothing here reads a run.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
from scipy import stats

from fiubench.metrics import inference as inf
from fiubench.metrics.identity_stats import influence_se, ratio_influence, sums

KS = (4, 10, 20, 40)
POWER = 0.8
Units = Sequence[np.ndarray]


def _ratio(s: np.ndarray, n: np.ndarray, idx: np.ndarray) -> float:
    d = n[idx].sum()
    return float(s[idx].sum() / d) if d > 0 else float("nan")


def _mean_stat(a_s: np.ndarray, a_n: np.ndarray, b_s: np.ndarray | None = None,
               b_n: np.ndarray | None = None) -> tuple[inf.Statistic, inf.Statistic]:
    """Pooled mean of the identities drawn (minus the other model's, paired), and its SE."""
    paired = b_s is not None and b_n is not None

    def stat(idx: inf.Indices) -> float:
        j = idx["people"]
        return _ratio(a_s, a_n, j) - (_ratio(b_s, b_n, j) if paired else 0.0)

    def se(idx: inf.Indices) -> float:
        j = idx["people"]
        if not inf.studentizable(j.size):
            return float("nan")  # too few people: BCa
        z = ratio_influence(a_s[j], a_n[j])
        return influence_se(z - ratio_influence(b_s[j], b_n[j]) if paired else z)
    return stat, se


@dataclass(frozen=True)
class CoverageResult:
    k: int
    n_sims: int
    level: float
    coverage: float  # share of simulated intervals containing the truth
    coverage_se: float  # binomial standard error of that share
    mean_width: float
    truth: float

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


def coverage(units: Units, k: int, *, other: Units | None = None, n_sims: int = 200, n_boot: int = 999,
             level: float = inf.LEVEL, seed: int = 0) -> CoverageResult:
    """Coverage of the person-level BCa interval of a pooled mean (or of the paired
    difference with ``other``, the same identities and answers) at ``k`` identities."""
    sa, na = sums(units)
    if other is not None:
        if len(other) != len(units):
            raise ValueError("coverage: the two models must cover the same identities")
        sb, nb = sums(other)
    ok = np.flatnonzero(na > 0)
    if ok.size < 2:
        raise ValueError(f"coverage: needs >= 2 identities with defined values, has {ok.size}")
    all_ = ok
    truth = _ratio(sa, na, all_) - (_ratio(sb, nb, all_) if other is not None else 0.0)
    rng = np.random.default_rng(seed)
    hits, widths, done = 0, [], 0
    for i in range(n_sims):
        pick = rng.choice(ok, size=k, replace=True)
        stat, se = _mean_stat(sa[pick], na[pick], *((sb[pick], nb[pick]) if other is not None else ()))
        iv = inf.person_bootstrap(stat, {"people": k}, level=level, n_resamples=n_boot, seed=seed + i,
                                  se=se).interval()
        if iv is None:
            continue
        done += 1
        hits += int(iv.contains(truth))
        widths.append(iv.high - iv.low)
    cov = hits / done if done else float("nan")
    se = math.sqrt(cov * (1 - cov) / done) if done else float("nan")
    return CoverageResult(k, done, level, cov, se, float(np.mean(widths)) if widths else float("nan"), truth)


@dataclass(frozen=True)
class NullResult:
    k: int
    n_sims: int
    false_better_worse: float  # share of runs with a "better"/"worse" verdict (all false)
    false_se: float
    equivalent: float
    undecided: float
    margin: float

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


def _halves(u: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    v = np.asarray(u, dtype=np.float64)
    v = rng.permutation(v[np.isfinite(v)])
    h = v.size // 2
    return v[:h], v[h:2 * h]


def paired_verdict(a: Units, b: Units, *, margin: float = inf.DEFAULT_MARGIN, n_boot: int = 999,
                   n_permutations: int = 999, alpha: float = inf.ALPHA, seed: int = 0) -> str:
    """The verdict on mean(a) - mean(b), two models on the same identities (higher is
    better): person-wise sign-flip p, TOST at ``margin`` from the BCa bootstrap."""
    a_s, a_n = sums(a)
    b_s, b_n = sums(b)
    k = len(a)

    def swapped(swap: inf.Indices) -> float:
        s = np.asarray(swap["people"], dtype=bool)
        return (np.where(s, b_s, a_s).sum() / np.where(s, b_n, a_n).sum()
                - np.where(s, a_s, b_s).sum() / np.where(s, a_n, b_n).sum())

    stat, se = _mean_stat(a_s, a_n, b_s, b_n)
    boot = inf.person_bootstrap(stat, {"people": k}, n_resamples=n_boot, seed=seed, se=se)
    p = float(inf.sign_flip_p(swapped, {"people": k}, n_resamples=n_permutations, seed=seed)[0])
    est = float(boot.estimate[0])
    p_eq = inf.tost_p(boot, margin) if np.isfinite(est) else float("nan")
    iv = boot.interval()
    return inf.verdict(est, p, p_eq, True, alpha, None if iv is None else (iv.low, iv.high))


def null_verdicts(units: Units, k: int, *, margin: float = inf.DEFAULT_MARGIN, n_sims: int = 200,
                  n_boot: int = 999, n_permutations: int = 999, alpha: float = inf.ALPHA,
                  seed: int = 0) -> NullResult:
    """Verdict rates of A vs B, two random halves of each drawn identity's answers of one
    model (exchangeable: every "better"/"worse" is false). Identities need >= 2 answers."""
    usable = [i for i, u in enumerate(units) if np.isfinite(np.asarray(u, dtype=np.float64)).sum() >= 2]
    if len(usable) < 2:
        raise ValueError(f"null verdicts: needs >= 2 identities with >= 2 answers each, has {len(usable)}")
    rng = np.random.default_rng(seed)
    counts = {v: 0 for v in inf.VERDICTS}
    for i in range(n_sims):
        pick = rng.choice(usable, size=k, replace=True)
        halves = [_halves(units[j], rng) for j in pick]
        v = paired_verdict([h[0] for h in halves], [h[1] for h in halves], margin=margin, n_boot=n_boot,
                           n_permutations=n_permutations, alpha=alpha, seed=seed + i)
        counts[v] += 1
    bw = (counts["better"] + counts["worse"]) / n_sims
    return NullResult(k, n_sims, bw, math.sqrt(bw * (1 - bw) / n_sims), counts["equivalent"] / n_sims,
                      counts["undecided"] / n_sims, margin)


def _z(alpha: float, power: float) -> float:
    return float(stats.norm.ppf(1 - alpha / 2) + stats.norm.ppf(power))


def min_detectable(se: float, k: int, k_target: int | None = None, *, alpha: float = inf.ALPHA,
                   power: float = POWER) -> float:
    """Smallest difference detected with probability ``power`` by a two-sided test at
    ``alpha`` at ``k_target`` identities (default ``k``), given the SE at ``k``."""
    kt = k if k_target is None else k_target
    return _z(alpha, power) * se * math.sqrt(k / kt)


def identities_needed(se: float, k: int, delta: float, *, alpha: float = inf.ALPHA, power: float = POWER) -> int:
    """Identities needed to detect a difference ``delta`` (given the SE at ``k``)."""
    if not delta > 0:
        raise ValueError(f"identities needed: the difference must be > 0, got {delta}")
    return max(2, math.ceil(k * (_z(alpha, power) * se / delta) ** 2))


def se_from_interval(low: float, high: float, level: float = inf.LEVEL) -> float:
    """The standard error a (roughly symmetric) interval at ``level`` implies."""
    return (high - low) / (2.0 * float(stats.norm.ppf(0.5 + level / 2)))
