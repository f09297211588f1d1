"""KS-test forget quality (TOFU; FIUBench).

Two-sample Kolmogorov-Smirnov test (``scipy.stats.ks_2samp``, two-sided, exact when
scipy chooses it) between the per-question truth ratios R of the evaluated model and
those of the retain model on the *same* forget split. The p-value is the score: 1 when
the two distributions are indistinguishable (perfect forgetting); the paper's tables
show log10 p. A model against itself has statistic 0 and p = 1.

The two samples must be truth ratios of the same definition (geometric or arithmetic
mean of the perturbed probabilities, see ``truth_ratio``) and the same metrics
version: mixing them gives a wrong p-value, so ``require_same_definition`` refuses it.

That p-value counts answers as independent; they are not (see
``identity_permutation_ks`` and docs/metrics-uncertainty.md), so fiubench also reports
an identity-level permutation p-value next to it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.stats import ks_2samp

from fiubench.errors import ConfigError


class DefinitionMismatch(ConfigError):
    """The KS reference was scored under another truth-ratio definition or metrics version."""


def require_same_definition(
    model_definition: str,
    reference_definition: str | None,
    model_version: int | None = None,
    reference_version: int | None = None,
) -> None:
    """Refuse a KS reference whose truth ratios were computed differently.

    ``reference_definition`` None means the reference does not say (an older result):
    that is refused too, never assumed.
    """
    from fiubench.metrics.truth_ratio import TR_DEFINITIONS

    if reference_definition != model_definition:
        theirs = (
            f"{reference_definition!r}: {TR_DEFINITIONS.get(reference_definition, '?')}"
            if reference_definition is not None else "an unrecorded definition"
        )
        raise DefinitionMismatch(
            f"KS test: the retain reference's truth ratios were computed with {theirs}, this evaluation "
            f"uses {model_definition!r}: {TR_DEFINITIONS.get(model_definition, '?')}. Re-evaluate the retain "
            f"model with eval.truth_ratio_mean: {model_definition} (or evaluate this model with "
            f"{reference_definition or 'the reference definition'})."
        )
    if model_version is not None and reference_version != model_version:
        raise DefinitionMismatch(
            f"KS test: the retain reference was scored with metrics version {reference_version}, this "
            f"evaluation uses metrics version {model_version}; re-evaluate the retain model."
        )


@dataclass(frozen=True)
class KSResult:
    statistic: float
    p_value: float
    log10_p: float


def ks_test(model_ratios: Sequence[float], retain_ratios: Sequence[float]) -> KSResult:
    if len(model_ratios) == 0 or len(retain_ratios) == 0:
        raise ValueError("KS test needs truth ratios on both sides")
    res = ks_2samp(list(model_ratios), list(retain_ratios))
    p = float(res.pvalue)
    # p can underflow to 0 for very different models; keep a finite floor for log10.
    return KSResult(float(res.statistic), p, math.log10(max(p, 1e-300)))


def ks_statistic(a: Sequence[float] | np.ndarray, b: Sequence[float] | np.ndarray) -> float:
    """Two-sample KS statistic D = sup |F_a - F_b| (equals ``ks_2samp(a, b).statistic``)."""
    x, y = np.sort(np.asarray(a, dtype=np.float64)), np.sort(np.asarray(b, dtype=np.float64))
    grid = np.concatenate([x, y])
    fa = np.searchsorted(x, grid, side="right") / x.size
    fb = np.searchsorted(y, grid, side="right") / y.size
    return float(np.abs(fa - fb).max())


@dataclass(frozen=True)
class PermutationResult:
    statistic: float
    p_value: float
    n_permutations: int
    exact: bool
    n_units: int


def identity_permutation_ks(
    model_by_identity: Sequence[Sequence[float]],
    reference_by_identity: Sequence[Sequence[float]],
    n_permutations: int = 2000,
    seed: int = 0,
    exact_max_identities: int = 12,
) -> PermutationResult:
    """KS test whose p-value treats each *identity*, not each answer, as the unit.

    ``ks_2samp``'s p-value assumes independent answers; the 20 truth ratios of one
    person are not (one face, one profile), so it overstates the evidence when few
    people are forgotten. Here the null hypothesis is that, for every forget identity,
    the model's truth ratios and the retain model's are exchangeable: swapping the two
    models' labels on an identity's answers (as a block) leaves the distribution of the
    pooled KS statistic D unchanged. p = the share of the 2^k swap patterns of k
    identities (all of them when k <= ``exact_max_identities``, else ``n_permutations``
    random ones plus the observed, Phipson & Smyth 2010) whose D is at least the
    observed D. With k identities p cannot fall below 2 / 2^k: two forget people can
    never give strong evidence, whatever the number of answers.
    """
    if len(model_by_identity) != len(reference_by_identity) or not model_by_identity:
        raise ValueError("identity permutation test: need the same identities (>= 1) on both sides")
    ms = [np.asarray(m, dtype=np.float64) for m in model_by_identity]
    rs = [np.asarray(r, dtype=np.float64) for r in reference_by_identity]
    k = len(ms)
    observed = ks_statistic(np.concatenate(ms), np.concatenate(rs))

    def stat(flip: np.ndarray) -> float:
        a = np.concatenate([r if f else m for m, r, f in zip(ms, rs, flip, strict=True)])
        b = np.concatenate([m if f else r for m, r, f in zip(ms, rs, flip, strict=True)])
        return ks_statistic(a, b)

    tol = 1e-12
    if k <= exact_max_identities:
        patterns = ((np.arange(2**k)[:, None] >> np.arange(k)) & 1).astype(bool)
        hits = sum(stat(p) >= observed - tol for p in patterns)
        return PermutationResult(observed, hits / len(patterns), len(patterns), True, k)
    rng = np.random.default_rng(seed)
    hits = sum(stat(rng.random(k) < 0.5) >= observed - tol for _ in range(n_permutations))
    return PermutationResult(observed, (1 + hits) / (1 + n_permutations), n_permutations, False, k)
