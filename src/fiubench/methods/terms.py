"""Loss terms shared by the methods: pure functions of logits and masked labels.

All answer log-probs come from :mod:`fiubench.models.logprobs` (labels are -100
outside answer tokens), so prompt, image and padding positions never count.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from fiubench.models.logprobs import IGNORE_INDEX, batch_nll, sequence_logprob


def nll(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Token-level mean cross-entropy over the answer tokens of the batch."""
    return batch_nll(logits, labels)


def answer_kl(ref_logits: torch.Tensor, logits: torch.Tensor, labels: torch.Tensor,
              temperature: float = 1.0) -> torch.Tensor:
    """KL(p_ref || p_theta) of the next-token distributions, mean over answer positions.

        KL = (1/N) * sum_{t: y_t answer} sum_v p_ref(v|<t) (log p_ref(v|<t) - log p_theta(v|<t))

    With ``temperature`` T both distributions are softmax(z / T) (no T^2 factor here).

    Position t predicts labels[t+1] (the same shift as ``token_logprobs``); prompt,
    image and padding positions (label -100) are excluded. Upstream averaged over
    every position, padding included.
    """
    mask = labels[:, 1:].ne(IGNORE_INDEX)
    ref_lp = torch.log_softmax(ref_logits[:, :-1, :].float() / temperature, dim=-1)[mask]
    lp = torch.log_softmax(logits[:, :-1, :].float() / temperature, dim=-1)[mask]
    if lp.numel() == 0:
        return logits.sum() * 0.0
    kl = (ref_lp.exp() * (ref_lp - lp)).sum(-1)
    return kl.mean()


def seq_logprob(logits: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-sample sum of answer log-probs [B] and answer lengths |y| [B]."""
    return sequence_logprob(logits, labels)


def npo_loss(logp: torch.Tensor, ref_logp: torch.Tensor, beta: float) -> torch.Tensor:
    """NPO (Zhang et al. 2024, arXiv 2404.05868), mean over samples:

        L = -(2/beta) * log sigmoid(-beta * (log p_theta(y|x) - log p_ref(y|x)))
    """
    return (-2.0 / beta * F.logsigmoid(-beta * (logp - ref_logp))).mean()


def simnpo_loss(logp: torch.Tensor, length: torch.Tensor, beta: float, delta: float) -> torch.Tensor:
    """SimNPO (Fan et al. 2024, arXiv 2410.07163) as OpenUnlearning writes it, mean over samples:

        L = -(2/beta) * log sigmoid(beta * (-log p_theta(y|x) / |y| - delta))

    The paper's margin gamma is beta * delta.
    """
    return (-2.0 / beta * F.logsigmoid(beta * (-logp / length.clamp(min=1) - delta))).mean()


def dpo_loss(
    logp_win: torch.Tensor,
    ref_logp_win: torch.Tensor,
    logp_lose: torch.Tensor,
    ref_logp_lose: torch.Tensor,
    beta: float,
) -> torch.Tensor:
    """DPO (Rafailov et al. 2023) with the 2/beta scale of the unlearning literature:

        L = -(2/beta) * log sigmoid(beta * [(log p_theta(w) - log p_ref(w))
                                            - (log p_theta(l) - log p_ref(l))])
    """
    margin = (logp_win - ref_logp_win) - (logp_lose - ref_logp_lose)
    return (-2.0 / beta * F.logsigmoid(beta * margin)).mean()


def masked_mse(a: torch.Tensor, b: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean squared error over the hidden dims of the positions where ``mask`` is 1.

        MSE = sum_{t: mask_t} ||a_t - b_t||^2 / (H * sum_t mask_t)
    """
    m = mask.to(a.dtype).unsqueeze(-1)
    diff = ((a.float() - b.float()) ** 2) * m
    denom = (m.sum() * a.size(-1)).clamp(min=1)
    return diff.sum() / denom


def answer_logits(logits: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Next-token logits at the answer positions [N, V] (float) and their targets [N].

    Position t predicts labels[t+1] (the shift of ``token_logprobs``); positions whose
    target is -100 (prompt, image, padding) are dropped.
    """
    mask = labels[:, 1:].ne(IGNORE_INDEX)
    return logits[:, :-1, :].float()[mask], labels[:, 1:][mask]


def weighted_ascent(logits: torch.Tensor, labels: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Token-weighted gradient-ascent term, mean over the answer tokens of the batch:

        L = (1/N) * sum_t w_t * log p_theta(y_t | <t)

    ``weight`` [N] holds one weight per answer token (in ``answer_logits`` order) and
    should carry no gradient. Minimising L lowers log p, scaled per token.
    """
    z, y = answer_logits(logits, labels)
    if y.numel() == 0:
        return logits.sum() * 0.0
    logp = torch.log_softmax(z, dim=-1).gather(-1, y.unsqueeze(-1)).squeeze(-1)
    return (weight * logp).mean()


def target_token_prob(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """sg(p_theta(y_t | <t)) [N] at each answer token (no gradient)."""
    z, y = answer_logits(logits.detach(), labels)
    return torch.softmax(z, dim=-1).gather(-1, y.unsqueeze(-1)).squeeze(-1)


def soft_cross_entropy(target_logits: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of p_theta against a fixed target distribution, mean over rows:

        H(q, p_theta) = -(1/N) * sum_n sum_v q_n(v) * log p_theta(v),  q = softmax(target_logits)

    ``target_logits`` may hold -inf (a token the target gives probability 0).
    """
    if logits.size(0) == 0:
        return logits.sum() * 0.0
    q = torch.softmax(target_logits.float(), dim=-1)
    lp = torch.log_softmax(logits.float(), dim=-1)
    return -(q * lp).sum(-1).mean()
