"""Deterministic data order and learning-rate schedule: pure functions of (seed, step).

Because every sample choice is a function of the seed and the optimiser step, a run
resumed at step s draws exactly the batches an uninterrupted run would have drawn.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

# Stream tags keep the random streams of different purposes independent.
_ORDER, _RETAIN, _REFUSAL = 1, 2, 3


@dataclass(frozen=True)
class Plan:
    """Which samples each (step, micro-batch, rank) gets.

    One optimiser step consumes a global batch of G = batch_size * grad_accum * world
    samples. Each epoch is a seeded permutation of the n samples, padded by wrapping
    around to a multiple of G (like DistributedSampler) so that every rank always has
    a full micro-batch; steps_per_epoch = ceil(n / G).
    """

    n: int
    batch_size: int
    grad_accum: int
    world: int
    seed: int

    @property
    def global_batch(self) -> int:
        return self.batch_size * self.grad_accum * self.world

    @property
    def steps_per_epoch(self) -> int:
        return max(1, math.ceil(self.n / self.global_batch))

    def epoch_order(self, epoch: int) -> np.ndarray:
        perm = np.random.default_rng([self.seed, _ORDER, epoch]).permutation(self.n)
        total = self.steps_per_epoch * self.global_batch
        reps = math.ceil(total / self.n)
        return np.tile(perm, reps)[:total]

    def step_indices(self, step: int) -> np.ndarray:
        """The G sample indices of optimiser step ``step`` (0-based)."""
        epoch, within = divmod(step, self.steps_per_epoch)
        g = self.global_batch
        return self.epoch_order(epoch)[within * g : (within + 1) * g]

    def micro(self, indices: np.ndarray, micro: int, rank: int) -> np.ndarray:
        """Slice of a step's indices for micro-batch ``micro`` on rank ``rank``."""
        start = (micro * self.world + rank) * self.batch_size
        return indices[start : start + self.batch_size]


def total_steps(plan: Plan, epochs: int, max_steps: int | None) -> int:
    steps = epochs * plan.steps_per_epoch
    return min(steps, max_steps) if max_steps is not None else steps


def retain_indices(n_retain: int, size: int, seed: int, step: int) -> np.ndarray:
    """The retain samples paired with step ``step``: a seeded draw without replacement
    (with replacement only when the retain set is smaller than the batch)."""
    rng = np.random.default_rng([seed, _RETAIN, step])
    return rng.choice(n_retain, size=size, replace=n_retain < size)


def refusal_choice(n_examples: int, n_refusals: int, seed: int) -> np.ndarray:
    """Index of the refusal sentence used as target for each forget example."""
    return np.random.default_rng([seed, _REFUSAL]).integers(n_refusals, size=n_examples)


def lr_factor(step: int, total: int, warmup: int, kind: str) -> float:
    """Multiplier of the base lr at optimiser step ``step`` (0-based).

    Linear warm-up over ``warmup`` steps, then cosine (0.5 (1 + cos(pi p))), linear
    (1 - p) or constant, where p is the progress after warm-up in [0, 1].
    """
    if warmup > 0 and step < warmup:
        return (step + 1) / warmup
    if kind == "constant":
        return 1.0
    p = (step - warmup) / max(1, total - warmup)
    p = min(max(p, 0.0), 1.0)
    if kind == "linear":
        return 1.0 - p
    return 0.5 * (1.0 + math.cos(math.pi * p))
