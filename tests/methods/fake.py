"""A fake MethodContext: hand-made logits and hidden states keyed by the inputs dict."""

from __future__ import annotations

import math
from typing import Any

import torch

from fiubench.methods.base import Inputs


class FakeContext:
    """Returns preset tensors for each inputs dict (matched by identity)."""

    def __init__(self) -> None:
        self.vlm: Any = None
        self._logits: dict[int, torch.Tensor] = {}
        self._ref: dict[int, torch.Tensor] = {}
        self._hidden: dict[int, torch.Tensor] = {}
        self._ref_hidden: dict[int, torch.Tensor] = {}

    def set(self, inputs: Inputs, logits: torch.Tensor, ref: torch.Tensor | None = None) -> None:
        self._logits[id(inputs)] = logits
        if ref is not None:
            self._ref[id(inputs)] = ref

    def set_hidden(self, inputs: Inputs, h: torch.Tensor, ref: torch.Tensor | None = None) -> None:
        self._hidden[id(inputs)] = h
        if ref is not None:
            self._ref_hidden[id(inputs)] = ref

    def logits(self, inputs: Inputs) -> torch.Tensor:
        return self._logits[id(inputs)]

    def ref_logits(self, inputs: Inputs) -> torch.Tensor:
        return self._ref[id(inputs)]

    def hidden(self, inputs: Inputs, layer: int) -> torch.Tensor:
        return self._hidden[id(inputs)]

    def ref_hidden(self, inputs: Inputs, layer: int) -> torch.Tensor:
        return self._ref_hidden[id(inputs)]


def inputs(labels: list[list[int]]) -> Inputs:
    lab = torch.tensor(labels)
    return {"input_ids": lab.clamp(min=0), "attention_mask": torch.ones_like(lab), "labels": lab}


# Plain-Python reference maths (independent of torch), for hand-computed expectations.
def logsoftmax(row: list[float], i: int) -> float:
    m = max(row)
    return row[i] - m - math.log(sum(math.exp(x - m) for x in row))


def seq_logp(logits: list[list[list[float]]], labels: list[list[int]]) -> list[float]:
    """Per sample: sum_t log p(labels[t+1] | logits[t]) over labels != -100."""
    out = []
    for lg, lab in zip(logits, labels, strict=True):
        out.append(sum(logsoftmax(lg[t], lab[t + 1]) for t in range(len(lab) - 1) if lab[t + 1] != -100))
    return out


def token_mean_nll(logits: list[list[list[float]]], labels: list[list[int]]) -> float:
    total, n = 0.0, 0
    for lg, lab in zip(logits, labels, strict=True):
        for t in range(len(lab) - 1):
            if lab[t + 1] != -100:
                total -= logsoftmax(lg[t], lab[t + 1])
                n += 1
    return total / n


def logsigmoid(x: float) -> float:
    return -math.log1p(math.exp(-x))


# Shared hand-made examples: vocab 3, 2 samples, 4 positions, prompt masked.
LABELS = [[-100, -100, 1, 2], [-100, 0, 2, -100]]
LOGITS = [
    [[0.0, 1.0, 2.0], [1.0, 3.0, 0.0], [0.5, -1.0, 2.0], [0.0, 0.0, 0.0]],
    [[2.0, 0.0, -1.0], [0.0, 1.0, 1.5], [1.0, 1.0, 1.0], [4.0, 0.0, 0.0]],
]
LOGITS_B = [
    [[1.0, 0.0, 0.0], [0.0, 0.0, 2.0], [1.5, 0.5, 0.0], [0.0, 1.0, 0.0]],
    [[0.0, 2.0, 0.0], [1.0, -1.0, 0.0], [0.0, 3.0, 1.0], [0.0, 0.0, 1.0]],
]
LABELS_R = [[-100, 2, 0, 1], [-100, -100, -100, 1]]


def softmax(row):
    m = max(row)
    e = [math.exp(x - m) for x in row]
    return [x / sum(e) for x in e]


def prob(row, i):
    return math.exp(logsoftmax(row, i))


def kl(p_row, q_row):
    """KL(softmax(p_row) || softmax(q_row))."""
    return sum(a * (math.log(a) - math.log(b)) for a, b in zip(softmax(p_row), softmax(q_row), strict=True))
