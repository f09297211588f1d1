"""KS-test forget quality (TOFU; FIUBench).

Two-sample Kolmogorov-Smirnov test (``scipy.stats.ks_2samp``, two-sided, exact when
scipy chooses it) between the per-question truth ratios R of the evaluated model and
those of the retain model on the *same* forget split. The p-value is the score: 1 when
the two distributions are indistinguishable (perfect forgetting); the paper's tables
show log10 p. A model against itself has statistic 0 and p = 1.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from scipy.stats import ks_2samp


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
