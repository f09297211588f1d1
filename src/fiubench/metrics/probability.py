"""Answer probability metrics (TOFU / FIUBench), computed in log space.

With the length-normalised probability P(a|q) = exp(-mean token NLL of a), where the
mean is over the answer tokens actually scored (see ``fiubench.models.logprobs``):

- forget:  mean over QA of P(a|q)
- retain:  mean over QA of P(a|q) / (P(a|q) + sum_j P(perturbed_j|q))

The retain ratio is evaluated as exp(-nll_a - logsumexp(-nll_a, -nll_p1, ...))
(``scipy.special.logsumexp``): taking exp(-NLL) of each answer first underflows to
0 / 0 = NaN once a model is broken far enough (mean NLL > ~745), while the ratio itself
is well defined (1/4 when all four answers are equally unlikely). A NaN NLL is an
error naming the answer, never a NaN metric.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.special import logsumexp


def _nll(values: Sequence[float] | float, what: str) -> np.ndarray:
    a = np.asarray(values, dtype=np.float64)
    if np.isnan(a).any():
        raise ValueError(f"{what}: NaN mean NLL (a scoring failure upstream), cannot compute a probability")
    return a


def normalized_prob(mean_nll: float) -> float:
    """P = exp(-mean NLL) (0.0, not NaN, when it underflows)."""
    return float(np.exp(-_nll(mean_nll, "normalized_prob")))


def forget_probability(answer_nll: Sequence[float]) -> float:
    """mean_i exp(-nll_i) over the answers of a split (each term in [0, 1]: underflow is 0)."""
    a = _nll(answer_nll, "forget probability")
    if a.size == 0:
        raise ValueError("forget probability: no answers")
    return float(np.mean(np.exp(-a)))


def retain_probability(answer_nll: Sequence[float], perturbed_nll: Sequence[Sequence[float]]) -> float:
    """mean_i P(a_i) / (P(a_i) + sum_j P(p_ij)), P = exp(-mean NLL), in log space."""
    out = []
    for i, (a, ps) in enumerate(zip(answer_nll, perturbed_nll, strict=True)):
        a = float(_nll(a, f"retain probability, answer {i}"))
        p = _nll(ps, f"retain probability, perturbed answers of answer {i}")
        out.append(float(np.exp(-a - logsumexp(np.concatenate([[-a], -p])))))
    if not out:
        raise ValueError("retain probability: no answers")
    return float(np.mean(out))
