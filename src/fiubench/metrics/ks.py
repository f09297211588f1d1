"""KS-test forget quality (TOFU; FIUBench).

Two-sample Kolmogorov-Smirnov test (``scipy.stats.ks_2samp``, two-sided, exact when
scipy chooses it) between the per-question truth ratios R of the evaluated model and
those of the retain model on the *same* forget split. The p-value is the score: 1 when
the two distributions are indistinguishable (perfect forgetting); the paper's tables
show log10 p. A model against itself has statistic 0 and p = 1.

The two samples must be truth ratios of the same definition (geometric or arithmetic
mean of the perturbed probabilities, see ``truth_ratio``) and the same metrics
version: mixing them gives a wrong p-value, so ``require_same_definition`` refuses it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

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
