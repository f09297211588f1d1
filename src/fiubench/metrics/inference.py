"""Person-level inference: intervals, tests and verdicts with the identity as the unit.

The answers about one person are not independent (one face, one profile, one memory
the model kept or lost), so every interval and test here resamples or permutes
*identities*. Everything is a pure function of per-identity statistics: a statistic is
a function of the identities drawn, ``statistic(idx)`` where ``idx`` maps each group
("forget", "holdout", "retain", ...) to an array of identity indices, and it returns
one number or a vector of numbers (NaN where undefined).

- Intervals (:func:`person_bootstrap`): the symmetric studentised bootstrap (Hall 1988)
  over identities for statistics with a standard error (pooled means and their paired
  differences), else BCa bootstrap (Efron 1987) over identities,
  ``scipy.stats.bootstrap`` with each group resampled on its own (a stratified cluster
  bootstrap), on the *effect size*: a mean, a difference of means, the KS distance D,
  a difference of FQ, never a p-value. Every interval carries k, the number of
  identities per group it rests on.
- "Differs" (:func:`sign_flip_p`): for two models evaluated on the same people,
  ``scipy.stats.permutation_test`` swapping the two models' records person by person
  (exact over all 2^k swap patterns when they are few, else Monte Carlo). Under "the
  two models are exchangeable on every person" this is exact whatever the dependence
  between one person's answers.
- "Equivalent" (:func:`tost_p`): two one-sided tests (Schuirmann 1987) against a
  stated margin, p-values from the bootstrap distribution (of |t*|, or BCa) inverted
  at -margin and +margin (the dual of "the (1 - 2 alpha) interval lies inside the
  margin").
- Multiplicity (:func:`adjust`): Holm (1979) by default, or Benjamini-Hochberg
  (``scipy.stats.false_discovery_control``), across the comparisons of one table,
  separately for the "differs" and the "equivalent" p-values.
- Verdict (:func:`verdict`): "better" / "worse" when the adjusted "differs" p < alpha
  and the interval excludes 0 (direction from the estimate and the metric's
  direction), else "equivalent" when
  the adjusted TOST p < alpha and every group it reads has >= ``MIN_K_EQUIVALENT``
  people, else "undecided".
- KS against the retain model (:func:`person_ks_test`, in :mod:`fiubench.metrics.person_ks`): the distance D between the
  model's and the retain model's truth ratios, its identity-level sign-flip p (exact
  floor 2 / 2^k), and an asymptotic p with resolution below that floor: D scaled by
  the effective number of answers n* at which the Kolmogorov limit law matches the
  permutation null's mean (a design-effect correction for answers clustered in people).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import numpy as np
from scipy import stats
from scipy.special import ndtr, ndtri

# per-identity statistics and the person-level KS test live in their own modules; named
# here too because every caller reads them as part of the inference toolkit
from fiubench.metrics.identity_stats import Units, mix, pooled, pooled_mean  # noqa: F401
from fiubench.metrics.person_ks import PersonKS, ks_distance, person_ks_test  # noqa: F401

LEVEL = 0.95
# Bump when the intervals or tests change (enters the uncertainty step's cache key, so a
# cached run recomputes its intervals). 1: BCa over identities at the expanded level
# sqrt(k/(k-1)) t_{k-1} (Hesterberg 2015), sign-flip permutation p, TOST, Holm/BH.
# 2: pooled means get the symmetric studentised bootstrap (their SE is the ratio
# estimator's); the rest keep BCa at the expanded level. 3: the sign flip is exact up to
# 2^12 swap patterns (eval.uncertainty.EXACT_SWAPS), whatever the number of resamples, and
# better/worse needs the interval to exclude 0 too.
INFERENCE_VERSION = 3
ALPHA = 0.05
VERDICTS = ("better", "worse", "equivalent", "undecided")
# Equivalence margins, in the metric's own unit (fractions, not points). A comparison
# is "equivalent" only when its whole (1 - 2 alpha) interval lies inside +-margin.
DEFAULT_MARGIN = 0.05
MARGINS: dict[str, float] = {
    "forget.ks_d": 0.10,  # KS distance: its exchangeable level at 10 people is ~0.1 already
    "forget.ks_log10_p": 2.0,
    "forget.ks_p": 0.05,
}
# "Equivalent" needs at least this many people in every group a figure reads: below it
# the bootstrap over people is too narrow (BCa covered 79 % at k = 4 in simulation), and
# "equal" would rest on the resampling's own poverty (2 people: 3 distinct resamples).
MIN_K_EQUIVALENT = 8
# the studentised bootstrap needs this many identities in its smallest group (below: BCa)
MIN_K_STUDENTIZED = 8
_TINY = 1e-12  # relative: differences below it are floating-point rounding
Correction = Literal["holm", "bh"]
Indices = Mapping[str, np.ndarray]  # group -> identity indices drawn
Statistic = Callable[[Indices], "float | np.ndarray"]


def margin_of(metric: str) -> float:
    return MARGINS.get(metric, DEFAULT_MARGIN)


def k_label(k: Mapping[str, int]) -> str:
    """"k=10" for one group, "k=10 forget + 20 holdout" for several."""
    if len(k) == 1:
        return f"k={next(iter(k.values()))}"
    return "k=" + " + ".join(f"{n} {g}" for g, n in k.items())


@dataclass(frozen=True)
class Interval:
    """An estimate with its interval over identities; ``k``: identities per group."""

    estimate: float
    low: float
    high: float
    level: float
    k: dict[str, int]
    method: str  # "BCa", "percentile" (BCa undefined), "exact" (no spread: every draw equal)

    def contains(self, x: float) -> bool:
        return self.low <= x <= self.high

    @property
    def k_label(self) -> str:
        return k_label(self.k)

    def as_dict(self) -> dict[str, Any]:
        return {"estimate": self.estimate, "low": self.low, "high": self.high, "level": self.level,
                "k": dict(self.k), "method": self.method}


@dataclass
class PersonBootstrap:
    """One bootstrap over identities of a (vector) statistic: intervals and BCa p-values.

    ``distribution``: (n_metrics, n_resamples); ``jackknife``: per group, the
    (n_metrics, k_g) leave-one-identity-out values (for the BCa acceleration).
    """

    estimate: np.ndarray
    distribution: np.ndarray
    jackknife: list[np.ndarray]
    low: np.ndarray
    high: np.ndarray
    level: float
    k: dict[str, int]
    methods: list[str]
    k_small: int = 0  # the small-k expansion's k (0: none); see :func:`expanded_level`
    # studentised figures: the estimate's SE and |t*| = |theta* - theta| / SE* per resample
    se: np.ndarray | None = None
    t_abs: np.ndarray | None = None

    def interval(self, i: int = 0) -> Interval | None:
        """The i-th statistic's interval (None when its estimate is undefined)."""
        if not np.isfinite(self.estimate[i]):
            return None
        return Interval(float(self.estimate[i]), float(self.low[i]), float(self.high[i]), self.level,
                        dict(self.k), self.methods[i])

    def _z0_a(self, i: int) -> tuple[float, float]:
        b = self.distribution[i]
        b = b[np.isfinite(b)]
        z0 = float(ndtri(np.clip(np.mean(b < self.estimate[i]), 0.5 / b.size, 1 - 0.5 / b.size)))
        nums = dens = 0.0
        for jk in self.jackknife:  # scipy's multi-sample acceleration
            t = jk[i][np.isfinite(jk[i])]
            if t.size:
                d = t.mean() - t
                nums += float(np.sum(d**3))
                dens += float(np.sum(d**2))
        a = nums / (6.0 * dens**1.5) if dens > 0 else 0.0
        return z0, a

    def p_above(self, theta0: float, i: int = 0) -> float:
        """One-sided p of H0: theta <= theta0 (evidence that theta > theta0), BCa-inverted:
        the alpha at which the lower (1 - alpha) BCa bound reaches theta0."""
        return self._p(theta0, i, upper=False)

    def p_below(self, theta0: float, i: int = 0) -> float:
        """One-sided p of H0: theta >= theta0 (evidence that theta < theta0)."""
        return self._p(theta0, i, upper=True)

    def _p(self, theta0: float, i: int, upper: bool) -> float:
        b = self.distribution[i]
        b = b[np.isfinite(b)]
        if not np.isfinite(self.estimate[i]) or b.size == 0:
            return float("nan")
        if self.methods[i] == "exact":  # no spread: the estimate is the only value drawn
            return 0.0 if (self.estimate[i] < theta0 if upper else self.estimate[i] > theta0) else 1.0
        if self.methods[i] == "studentized" and self.se is not None and self.t_abs is not None:
            x = (theta0 - self.estimate[i] if upper else self.estimate[i] - theta0) / self.se[i]
            t = self.t_abs[i][~np.isnan(self.t_abs[i])]
            tail = float(np.mean(t >= abs(x))) / 2.0  # symmetric: P(t >= |x|)
            return tail if x >= 0 else 1.0 - tail
        z0, a = self._z0_a(i) if self.methods[i] == "BCa" else (0.0, 0.0)
        g = np.clip(np.mean(b <= theta0), 0.5 / b.size, 1 - 0.5 / b.size)
        v = float(ndtri(g)) - z0
        den = 1.0 + a * v
        # den <= 0: beyond the range the BCa map covers, as extreme as it gets
        z = (-math.inf if v > 0 else math.inf) if den <= 0 else v / den - z0
        p = float(ndtr(z))  # P(lower bound <= theta0) direction
        return _expand_p(1.0 - p if upper else p, self.k_small)


SEED_GROUPS = ("seed", "seed_a", "seed_b")  # resampled levels that are not identities


def expanded_level(level: float, k: int) -> float:
    """The nominal level at which a bootstrap over k identities is run so that it covers
    ``level``: the expanded percentile interval (Hesterberg 2015, "What teachers should
    know about the bootstrap", sec. 3.1): z' = sqrt(k / (k - 1)) t_{k-1}, undoing the
    bootstrap's variance divisor k and the normal's light tails at small k (measured
    here: BCa over 10 people covered 87 % of a continuous per-person mean at nominal 95 %;
    ``benchmarks/verdict_coverage.py``). k < 3: unchanged."""
    if k < 3:
        return level
    z = float(stats.t.ppf(0.5 + level / 2.0, k - 1)) * math.sqrt(k / (k - 1.0))
    return float(2.0 * ndtr(z) - 1.0)


def _expand_p(p: float, k: int) -> float:
    """A one-sided bootstrap p on the expanded scale of :func:`expanded_level` (p < alpha
    iff the expanded (1 - 2 alpha) interval excludes the value)."""
    if k < 3 or not np.isfinite(p) or p in (0.0, 1.0):
        return p
    return float(stats.t.sf(float(ndtri(1.0 - p)) / math.sqrt(k / (k - 1.0)), k - 1))


def _clean_stat(statistic: Statistic, groups: Sequence[str]) -> Callable[..., np.ndarray]:
    def f(*idx: np.ndarray) -> np.ndarray:
        return np.atleast_1d(np.asarray(statistic(dict(zip(groups, idx, strict=True))), dtype=np.float64))
    return f


def person_bootstrap(statistic: Statistic, sizes: Mapping[str, int], *, level: float = LEVEL,
                     n_resamples: int = 2000, seed: int = 0, expand: bool = True,
                     se: Statistic | None = None, bounds: tuple[float, float] | None = None) -> PersonBootstrap:
    """BCa bootstrap of ``statistic`` with the identities of each group resampled.

    ``sizes``: group -> number of identities (groups of one identity are held fixed:
    one unit cannot be resampled or jackknifed). The same ``sizes``, ``n_resamples``
    and ``seed`` give the same draws, so a statistic that is a difference of two models
    computed on the same draws is their paired bootstrap. A statistic whose BCa bound
    is undefined (e.g. the jackknife has no spread) gets the percentile interval; one
    that is the same in every draw gets [estimate, estimate] ("exact"). ``expand``: the
    small-k expansion (:func:`expanded_level`) from the smallest group of identities; the
    interval and the BCa p-values (TOST) are on the expanded scale.

    ``se``: the standard error of each statistic on the identities drawn (NaN where it
    has none, e.g. :func:`fiubench.metrics.identity_stats.ratio_se` for a pooled mean).
    Where the estimate's SE is > 0 the interval is the symmetric studentised bootstrap
    (bootstrap-t; Hall 1988, "On symmetric bootstrap confidence intervals"): theta +- q
    SE with q the ``level`` quantile of |theta* - theta| / SE* over the same resamples.
    Its coverage error is O(k^-2) against BCa's O(k^-1): on skewed per-person means at
    k = 10 it covered 2-5 points more than the expanded BCa (``benchmarks/verdict_coverage.py``).
    ``se`` must be NaN for a statistic resting on fewer than ``MIN_K_STUDENTIZED``
    identities (:func:`studentizable`; below, a resample's SE* can be near 0 and |t*|
    erratic: 6 people gave a ROUGE interval of +-85 points): a vector statistic can read
    groups of different sizes, so the caller, who knows which, decides. ``bounds``: the
    range of the studentised statistics (e.g. (0, 1) for a rate), the interval is
    clipped to it.
    """
    groups = [g for g in sizes if int(sizes[g]) > 1]
    fixed = {g: np.arange(int(n)) for g, n in sizes.items() if int(n) <= 1}
    if any(int(n) < 1 for n in sizes.values()):
        raise ValueError(f"person_bootstrap: every group needs >= 1 identity, got {dict(sizes)}")

    def stat(idx: Indices) -> Any:
        return statistic({**fixed, **idx})

    f = _clean_stat(stat, groups)
    data = tuple(np.arange(int(sizes[g])) for g in groups)
    est = f(*data)
    boot_f = f
    if se is not None:  # the SE rides along on the very same resamples
        f_se = _clean_stat(lambda idx: se({**fixed, **idx}), groups)

        def boot_f(*idx: np.ndarray) -> np.ndarray:
            return np.concatenate([f(*idx), f_se(*idx)])
    k = {g: int(n) for g, n in sizes.items()}
    if not groups:  # nothing to resample
        return PersonBootstrap(est, est[:, None].copy(), [], est.copy(), est.copy(), level, k, ["exact"] * est.size)
    # small-k expansion from the smallest resampled group of identities (not seeds)
    k_small = min((int(sizes[g]) for g in groups if g not in SEED_GROUPS), default=0)
    run_level = expanded_level(level, k_small) if expand else level
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # degenerate BCa is handled below, metric by metric
        res = stats.bootstrap(data, boot_f, n_resamples=n_resamples, method="BCa", vectorized=False,
                              paired=False, confidence_level=run_level, random_state=np.random.default_rng(seed))
    m = est.size
    dist = np.atleast_2d(res.bootstrap_distribution)[:m]
    low = np.atleast_1d(res.confidence_interval.low)[:m].copy()
    high = np.atleast_1d(res.confidence_interval.high)[:m].copy()
    jack = []
    for gi, g in enumerate(groups):
        n = int(sizes[g])
        cols = [f(*[np.delete(d, j) if i == gi else d for i, d in enumerate(data)]) for j in range(n)]
        jack.append(np.stack(cols, axis=1))
    methods = []
    for i in range(est.size):
        b = dist[i][np.isfinite(dist[i])]
        if not np.isfinite(est[i]) or b.size == 0:
            methods.append("undefined")
            low[i] = high[i] = np.nan
        elif np.allclose(b, est[i], rtol=_TINY, atol=_TINY):  # equal up to rounding
            methods.append("exact")
            low[i] = high[i] = est[i]
        elif np.isfinite(low[i]) and np.isfinite(high[i]):
            methods.append("BCa")
        else:
            methods.append("percentile")
            a = (1.0 - run_level) / 2.0
            low[i], high[i] = np.quantile(b, [a, 1.0 - a])
    out = PersonBootstrap(est, dist, jack, low, high, level, k, methods, k_small if expand else 0)
    if se is not None:
        _studentize(out, boot_f(*data)[m:], np.atleast_2d(res.bootstrap_distribution)[m:], bounds)
    return out


def studentizable(k: int) -> bool:
    """Whether a statistic over k identities gets the studentised interval (else BCa)."""
    return k >= MIN_K_STUDENTIZED


def _studentize(boot: PersonBootstrap, se_hat: np.ndarray, se_star: np.ndarray,
                bounds: tuple[float, float] | None) -> None:
    """Symmetric bootstrap-t intervals, in place, for the statistics with a positive SE
    (clipped to ``bounds``, the range the statistic cannot leave: the truth lies inside
    it, so clipping never costs coverage)."""
    boot.se, boot.t_abs = se_hat, np.full(boot.distribution.shape, np.nan)
    for i in range(boot.estimate.size):
        tiny = _TINY * (1.0 + abs(float(boot.estimate[i])))  # an SE of rounding errors is no SE
        if boot.methods[i] not in ("BCa", "percentile") or not (np.isfinite(se_hat[i]) and se_hat[i] > tiny):
            continue
        dev = np.abs(boot.distribution[i] - boot.estimate[i])
        ok = np.isfinite(dev)
        with np.errstate(divide="ignore", invalid="ignore"):
            # a resample of identities with equal values has SE* = 0: t* = 0 if it hits
            # the estimate, else as extreme as it gets
            t = np.where(se_star[i] > tiny, dev / se_star[i], np.where(dev <= tiny, 0.0, np.inf))
        t = t[ok & ~np.isnan(t)]
        if t.size == 0:
            continue
        q = float(np.quantile(t, boot.level, method="higher"))
        if not np.isfinite(q):  # too many resamples without spread (e.g. identities tied at
            continue  # EM 1.0): |t*| has no such quantile, BCa stays
        boot.t_abs[i, :t.size] = t
        boot.low[i], boot.high[i] = boot.estimate[i] - q * se_hat[i], boot.estimate[i] + q * se_hat[i]
        if bounds is not None:
            boot.low[i], boot.high[i] = max(boot.low[i], bounds[0]), min(boot.high[i], bounds[1])
        boot.methods[i] = "studentized"


def sign_flip_p(pair_statistic: Callable[[Indices], float | np.ndarray], sizes: Mapping[str, int], *,
                alternative: Literal["two-sided", "greater", "less"] = "two-sided", n_resamples: int = 1999,
                seed: int = 0) -> np.ndarray:
    """Person-level permutation p of two models evaluated on the same identities.

    ``pair_statistic(swap)``: the statistic (e.g. model a minus model b, one number or a
    vector) with the two models' records exchanged on the identities where
    ``swap[g][i]`` is True. Under "the two models are exchangeable on every person"
    each swap pattern is equally likely; ``scipy.stats.permutation_test`` enumerates all
    2^k of them when that is at most ``n_resamples``, else draws ``n_resamples``.
    Returns one p per statistic; its floor is 2 / 2^k (two-sided, exact).
    """
    groups = [g for g in sizes if int(sizes[g]) > 0]
    offsets = np.cumsum([0] + [int(sizes[g]) for g in groups])
    n = int(offsets[-1])
    cache: dict[bytes, np.ndarray] = {}

    def vector(x: np.ndarray) -> np.ndarray:
        key = np.asarray(x >= n).tobytes()
        if key not in cache:
            swapped = np.asarray(x) >= n
            swap = {g: swapped[offsets[i]:offsets[i + 1]] for i, g in enumerate(groups)}
            cache[key] = np.atleast_1d(np.asarray(pair_statistic(swap), dtype=np.float64))
        return cache[key]

    first = vector(np.arange(n))
    out = np.full(first.size, np.nan)
    if n < 2:  # one person: its two swap patterns mirror each other, p = 1 (scipy needs two)
        out[np.isfinite(first)] = 1.0
        return out
    for i in range(first.size):
        if not np.isfinite(first[i]):
            continue

        def stat(x: np.ndarray, y: np.ndarray, i: int = i) -> float:
            return float(vector(x)[i])

        res = stats.permutation_test((np.arange(n), np.arange(n) + n), stat, permutation_type="samples",
                                     vectorized=False, n_resamples=n_resamples, alternative=alternative,
                                     random_state=np.random.default_rng(seed))
        out[i] = float(res.pvalue)
    return out


def tost_p(boot: PersonBootstrap, margin: float, i: int = 0) -> float:
    """Two one-sided tests of |theta| < margin: max of the BCa p of theta > -margin and of
    theta < +margin (< alpha iff the (1 - 2 alpha) BCa interval lies inside the margin)."""
    if not margin > 0:
        raise ValueError(f"equivalence margin must be > 0, got {margin}")
    return max(boot.p_above(-margin, i), boot.p_below(margin, i))


def adjust(p: Sequence[float], correction: Correction = "holm") -> np.ndarray:
    """Multiplicity-adjusted p-values over one family; NaN entries stay NaN and do not count."""
    p = np.asarray(p, dtype=np.float64)
    out = np.full(p.shape, np.nan)
    ok = np.isfinite(p)
    m = int(ok.sum())
    if m == 0:
        return out
    q = p[ok]
    if correction == "bh":
        out[ok] = stats.false_discovery_control(q, method="bh")
        return out
    if correction != "holm":
        raise ValueError(f"multiplicity correction: unknown {correction!r} (holm or bh)")
    order = np.argsort(q, kind="stable")
    adj = np.maximum.accumulate((m - np.arange(m)) * q[order])  # Holm step-down
    res = np.empty(m)
    res[order] = np.minimum(adj, 1.0)
    out[ok] = res
    return out


def verdict(estimate: float, p_differs: float, p_equivalent: float, higher_is_better: bool,
            alpha: float = ALPHA, interval: tuple[float, float] | None = None) -> str:
    """better / worse (adjusted "differs" p < alpha, and the ``interval`` of a - b, when
    given, excludes 0), equivalent (adjusted TOST p < alpha), else undecided.
    ``estimate`` is a - b: its sign and the metric's direction say which.

    Why both: the sign flip tests the sharp null "the two models' records are
    exchangeable person by person", which a difference the figure does not show also
    rejects (two models' loss scales behind a MIA AUC: KL "better" than retain on the MIA
    term at +0.04 [-0.11, +0.18] on the default run). The verdict names a difference in
    the figure, so its interval must agree."""
    apart = interval is None or not interval[0] <= 0.0 <= interval[1]
    if np.isfinite(p_differs) and p_differs < alpha and estimate != 0 and apart:
        return "better" if (estimate > 0) == higher_is_better else "worse"
    if np.isfinite(p_equivalent) and p_equivalent < alpha:
        return "equivalent"
    return "undecided"


@dataclass
class Comparison:
    """One comparison a - b on one metric, with everything its verdict rests on."""

    metric: str
    estimate: float
    low: float
    high: float
    level: float
    k: dict[str, int]
    margin: float
    higher_is_better: bool
    p_differs: float
    p_equivalent: float
    method: str = "BCa"
    p_differs_adjusted: float = float("nan")
    p_equivalent_adjusted: float = float("nan")
    verdict: str = "undecided"
    labels: dict[str, str] = field(default_factory=dict)  # e.g. model_a, model_b

    @property
    def k_label(self) -> str:
        return k_label(self.k)

    def as_dict(self) -> dict[str, Any]:
        return {**self.labels, "metric": self.metric, "estimate": self.estimate, "low": self.low,
                "high": self.high, "level": self.level, "k": self.k_label, "margin": self.margin,
                "p_differs": self.p_differs, "p_differs_adjusted": self.p_differs_adjusted,
                "p_equivalent": self.p_equivalent, "p_equivalent_adjusted": self.p_equivalent_adjusted,
                "verdict": self.verdict, "method": self.method}


def decide(comparisons: Sequence[Comparison], *, alpha: float = ALPHA,
           correction: Correction = "holm") -> list[Comparison]:
    """Adjust the p-values across one table's comparisons and give each its verdict."""
    pd = adjust([c.p_differs for c in comparisons], correction)
    pe = adjust([c.p_equivalent for c in comparisons], correction)
    out = []
    for c, a, b in zip(comparisons, pd, pe, strict=True):
        v = verdict(c.estimate, float(a), float(b), c.higher_is_better, alpha, (c.low, c.high))
        people = [n for g, n in c.k.items() if not g.startswith("seed")]
        if v == "equivalent" and people and min(people) < MIN_K_EQUIVALENT:
            v = "undecided"  # too few people to claim equality (see MIN_K_EQUIVALENT)
        out.append(replace(c, p_differs_adjusted=float(a), p_equivalent_adjusted=float(b), verdict=v))
    return out


def compare_boot(metric: str, boot: PersonBootstrap, p_differs: float, *, i: int = 0,
                 margin: float | None = None, higher_is_better: bool = True,
                 labels: Mapping[str, str] | None = None) -> Comparison | None:
    """A :class:`Comparison` from the paired bootstrap of a - b and its sign-flip p."""
    iv = boot.interval(i)
    if iv is None:
        return None
    m = margin_of(metric) if margin is None else margin
    c = Comparison(metric, iv.estimate, iv.low, iv.high, iv.level, dict(iv.k), m, higher_is_better,
                   float(p_differs), tost_p(boot, m, i), iv.method, labels=dict(labels or {}))
    return decide([c])[0]  # a family of one until :func:`decide` adjusts it within its table
