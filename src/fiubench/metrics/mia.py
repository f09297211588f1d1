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

Reported per attack (``compute.mia_metrics``):
- AUC (``roc_auc_score``); 0.5 = chance. An AUC *below* 0.5 is not privacy: the
  attacker flips the score (reverse detectability, e.g. gradient ascent pushes forget
  answers below never-seen ones), so the forget-quality term is two-sided,
  ``two_sided_term`` = 1 - 2|AUC - 0.5| (1 = chance, 0 = perfectly separable either way).
- TPR at 1 % and 5 % FPR (``tpr_at_fpr``, from ``roc_curve``; Carlini et al. 2022,
  "Membership Inference Attacks From First Principles"): the fraction of forget QA
  detected while at most that fraction of never-seen QA is flagged. With n non-members
  the achievable FPRs are multiples of 1/n, and at x % FPR the threshold rests on
  x % of n answers: it is reported only when n >= 10 / x (``min_negatives``: 1,000
  never-seen *answers* for 1 %, 200 for 5 %, so that at least 10 of them sit above the
  threshold), else it is undefined with the reason ``tpr_unavailable`` ("needs N
  never-seen answers, has M"). Negatives are counted as answers, the unit the ROC is
  computed on; they come from fewer people (20 answers each), so the interval put on
  a TPR resamples people (``fiubench.eval.uncertainty``).
- privacy leak relative to the retain model, ``privacy_leak`` = (AUC - AUC_retain) /
  AUC_retain on the same attack and the same member/non-member sets (0 = as the model
  that never saw the forget people; > 0 more detectable; < 0 reverse detectable).

Upstream FIUBench reports no AUC (it has no non-member set); its MIA number is the
mean over forget answers of ``upstream_min_k``: for each answer with n scored tokens,
sum over k in 10/20/30/40/50 % of w_k * exp(mean of the int(k * n) lowest token
log-probs), w = .3/.3/.2/.1/.1, where a k with int(k * n) < 1 is dropped *without*
renormalising the weights (short answers score lower). A probability-like number in
[0, 1]; higher = more memorised. For comparison with upstream only; not in FQ.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Sequence

import numpy as np

UPSTREAM_KS = (0.1, 0.2, 0.3, 0.4, 0.5)
UPSTREAM_WEIGHTS = (0.3, 0.3, 0.2, 0.1, 0.1)
ATTACKS = ("loss", "zlib", "min_k", "min_k_pp")
TPR_FPRS = {"tpr1": 0.01, "tpr5": 0.05}  # metric suffix -> FPR


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


def upstream_min_k(
    token_logprobs: Sequence[float], ks: Sequence[float] = UPSTREAM_KS, weights: Sequence[float] = UPSTREAM_WEIGHTS
) -> float:
    """Upstream's per-answer Min-K% score: sum_k w_k * exp(mean of the int(k*n) lowest log-probs).

    A k with int(k*n) < 1 contributes nothing and the weights are not renormalised
    (as upstream). Raises on an empty answer.
    """
    v = np.sort(np.asarray(token_logprobs, dtype=np.float64))
    if v.size == 0:
        raise ValueError("Min-K% needs at least one token")
    total = 0.0
    for k, w in zip(ks, weights, strict=True):
        m = int(k * v.size)
        if m < 1:
            continue
        total += w * float(np.exp(v[:m].mean()))
    return total


def attack_auc(member_scores: Sequence[float], nonmember_scores: Sequence[float]) -> float:
    """ROC AUC of separating members (label 1) from non-members by score (higher = member)."""
    from sklearn.metrics import roc_auc_score

    y, s = _labels(member_scores, nonmember_scores)
    return float(roc_auc_score(y, s))


def _labels(member_scores: Sequence[float], nonmember_scores: Sequence[float]) -> tuple[list[int], list[float]]:
    if len(member_scores) == 0 or len(nonmember_scores) == 0:
        raise ValueError("MIA needs both member and non-member samples")
    return [1] * len(member_scores) + [0] * len(nonmember_scores), list(member_scores) + list(nonmember_scores)


def min_negatives(fpr: float) -> int:
    """Never-seen answers needed to report TPR at ``fpr``: 10 / fpr (10 of them flagged)."""
    if not 0 < fpr < 1:
        raise ValueError(f"FPR must be in (0, 1), got {fpr}")
    return math.ceil(10.0 / fpr - 1e-9)


def tpr_unavailable(n_nonmembers: int, fpr: float) -> str | None:
    """Why TPR at ``fpr`` is not reported (None: it is)."""
    need = min_negatives(fpr)
    if n_nonmembers >= need:
        return None
    return f"n/a: needs {need} never-seen answers, has {n_nonmembers}"


def tpr_at_fpr(member_scores: Sequence[float], nonmember_scores: Sequence[float], fpr: float) -> float:
    """The highest true-positive rate of a threshold whose false-positive rate is <= ``fpr``
    (``sklearn.metrics.roc_curve``'s thresholds; tested equal to it). With k = floor(fpr n)
    false positives allowed among n non-members, the best threshold flags exactly the
    scores above the (k+1)-th highest non-member score. Written with a sort because the
    uncertainty step calls it once per resample."""
    m = np.asarray(member_scores, dtype=np.float64)
    n = np.sort(np.asarray(nonmember_scores, dtype=np.float64))[::-1]
    if m.size == 0 or n.size == 0:
        raise ValueError("MIA needs both member and non-member samples")
    k = int(np.floor(fpr * n.size + 1e-9))
    if k >= n.size:
        return 1.0
    return float(np.mean(m > n[k]))


def two_sided_term(auc: float) -> float:
    """Forget-quality MIA term 1 - 2|AUC - 0.5|: 1 at chance, 0 when separable in either direction."""
    return 1.0 - 2.0 * abs(auc - 0.5)


def privacy_leak(auc: float, auc_retain: float) -> float:
    """(AUC - AUC_retain) / AUC_retain: detectability relative to the model that never saw the forget set."""
    if auc_retain <= 0:
        raise ValueError(f"privacy leak needs a retain AUC > 0, got {auc_retain}")
    return (auc - auc_retain) / auc_retain
