"""Membership-inference attacks on answer tokens, scored as ROC AUC.

Members are the QA of the forget identities (the fine-tuned model was trained on
them), non-members the QA of the holdout identities (never trained). For each QA the
attack reads the per-token log-probs log p(x_t | x_<t, image, question) of the answer;
every score below is oriented so that *higher = more likely a member*, hence an AUC of
1.0 means every forget QA is detected, 0.5 means chance (what the retain model, which
never saw either set, should give).

- LOSS (Yeom et al. 2018):     s = mean_t log p(x_t)  (= -mean NLL)
- zlib (Carlini et al. 2021):   s = mean_t log p(x_t) / len(zlib.compress(text))
- Min-K% (Shi et al. 2024):     s = mean of the k% lowest log p(x_t)
- Min-K%++ (Zhang et al. 2024): z_t = (log p(x_t) - mu_t) / sigma_t with
  mu_t = E_{z~p(.|x_<t)}[log p(z)], sigma_t^2 = E[(log p(z))^2] - mu_t^2,
  s = mean of the k% lowest z_t.
The k% lowest keeps max(1, floor(k * n_tokens)) tokens (the reference code's floor
would keep none for short answers).

Upstream FIUBench reports no AUC (it has no non-member set); it reports the mean
Min-K% score averaged over k in {10, 20, 30, 40, 50}%. ``upstream_min_k`` reproduces
that number (a mean log-prob, <= 0; higher = more memorised) for comparison only.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence

import numpy as np

UPSTREAM_KS = (0.1, 0.2, 0.3, 0.4, 0.5)


def _lowest_k_mean(values: Sequence[float], k: float) -> float:
    if not 0 < k <= 1:
        raise ValueError(f"Min-K% fraction must be in (0, 1], got {k}")
    v = np.sort(np.asarray(values, dtype=np.float64))
    if v.size == 0:
        raise ValueError("Min-K% needs at least one token")
    n = max(1, int(k * v.size))
    return float(v[:n].mean())


def loss_score(token_logprobs: Sequence[float]) -> float:
    return float(np.mean(np.asarray(token_logprobs, dtype=np.float64)))


def zlib_score(token_logprobs: Sequence[float], text: str) -> float:
    return loss_score(token_logprobs) / len(zlib.compress(text.encode("utf-8")))


def min_k_score(token_logprobs: Sequence[float], k: float = 0.2) -> float:
    return _lowest_k_mean(token_logprobs, k)


def min_k_pp_score(
    token_logprobs: Sequence[float], mu: Sequence[float], sigma: Sequence[float], k: float = 0.2
) -> float:
    lp = np.asarray(token_logprobs, dtype=np.float64)
    z = (lp - np.asarray(mu, dtype=np.float64)) / np.maximum(np.asarray(sigma, dtype=np.float64), 1e-12)
    return _lowest_k_mean(z, k)


def upstream_min_k(token_logprobs: Sequence[float], ks: Sequence[float] = UPSTREAM_KS) -> float:
    """Min-K% score averaged over ``ks`` (upstream's reported MIA number, per sample)."""
    return float(np.mean([_lowest_k_mean(token_logprobs, k) for k in ks]))


def attack_auc(member_scores: Sequence[float], nonmember_scores: Sequence[float]) -> float:
    """ROC AUC of separating members (label 1) from non-members by score (higher = member)."""
    from sklearn.metrics import roc_auc_score

    if len(member_scores) == 0 or len(nonmember_scores) == 0:
        raise ValueError("MIA AUC needs both member and non-member samples")
    y = [1] * len(member_scores) + [0] * len(nonmember_scores)
    s = list(member_scores) + list(nonmember_scores)
    return float(roc_auc_score(y, s))
