"""Answer probability metrics (TOFU / FIUBench).

With the length-normalised probability P(a|q) = exp(-mean token NLL of a), where the
mean is over the answer tokens actually scored (see ``fiubench.models.logprobs``):

- forget:  mean over QA of P(a|q)
- retain:  mean over QA of P(a|q) / (P(a|q) + sum_j P(perturbed_j|q))
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def normalized_prob(mean_nll: float) -> float:
    """P = exp(-mean NLL)."""
    return float(np.exp(-mean_nll))


def forget_probability(answer_nll: Sequence[float]) -> float:
    """mean_i exp(-nll_i) over the answers of a split."""
    return float(np.mean(np.exp(-np.asarray(answer_nll, dtype=np.float64))))


def retain_probability(answer_nll: Sequence[float], perturbed_nll: Sequence[Sequence[float]]) -> float:
    """mean_i P(a_i) / (P(a_i) + sum_j P(p_ij)), P = exp(-mean NLL)."""
    out = []
    for a, ps in zip(answer_nll, perturbed_nll, strict=True):
        pa = np.exp(-a)
        out.append(pa / (pa + float(np.sum(np.exp(-np.asarray(ps, dtype=np.float64))))))
    return float(np.mean(out))
