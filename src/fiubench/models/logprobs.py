"""Per-token answer log-probabilities from logits and masked labels.

Shared by training losses, unlearning methods and evaluation so there is exactly one
definition of "the answer's NLL". Labels use -100 for every position that is not an
answer token (prompt, image tokens, padding). Unlike upstream, the mean NLL divides
by the number of answer tokens actually scored.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

IGNORE_INDEX = -100


def token_logprobs(logits: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Log p(label_t | < t) for each position, and the mask of scored positions.

    Args:
        logits: [B, T, V] model outputs aligned with ``labels`` (not yet shifted).
        labels: [B, T] target ids, IGNORE_INDEX where not scored.
    Returns:
        (logp [B, T-1], mask [B, T-1] float), logp is 0 where mask is 0.
    """
    logits = logits[:, :-1, :].float()
    target = labels[:, 1:]
    mask = target.ne(IGNORE_INDEX)
    safe = target.masked_fill(~mask, 0)
    logp = torch.log_softmax(logits, dim=-1).gather(-1, safe.unsqueeze(-1)).squeeze(-1)
    return logp * mask, mask.float()


def sequence_logprob(logits: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Sum of answer-token log-probs per sample, and the number of answer tokens."""
    logp, mask = token_logprobs(logits, labels)
    return logp.sum(-1), mask.sum(-1)


def mean_nll(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Per-sample mean NLL over answer tokens ([B]); 0 for a sample with none."""
    total, count = sequence_logprob(logits, labels)
    return -total / count.clamp(min=1)


def answer_window(labels: torch.Tensor) -> int:
    """Index of the first position whose logits any answer token needs.

    Position t predicts labels[t+1], so logits before ``min_i(first answer position of
    row i) - 1`` are never scored: a model called with ``logits_to_keep = T - window``
    computes the vocabulary projection only where it counts, and
    ``token_logprobs(logits, labels[:, window:])`` gives the same values as on the full
    logits. 0 when no row has an answer token.
    """
    scored = labels.ne(IGNORE_INDEX)
    if not bool(scored.any()):
        return 0
    firsts = scored.float().argmax(1)  # first answer position of each row
    firsts[~scored.any(1)] = labels.shape[1]  # rows without answer tokens need nothing
    return max(0, int(firsts.min()) - 1)


def batch_nll(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Token-level mean NLL over all answer tokens of the batch (standard SFT loss)."""
    return F.cross_entropy(
        logits[:, :-1, :].float().reshape(-1, logits.size(-1)),
        labels[:, 1:].reshape(-1),
        ignore_index=IGNORE_INDEX,
    )
