import math

import numpy as np
import pytest

from fiubench.train.schedule import Plan, lr_factor, refusal_choice, retain_indices, total_steps


def test_each_epoch_is_a_permutation_padded_by_wraparound():
    plan = Plan(n=10, batch_size=2, grad_accum=2, world=1, seed=3)  # G=4 -> 3 steps, 12 slots
    assert plan.steps_per_epoch == 3
    order = plan.epoch_order(0)
    assert sorted(order[:10]) == list(range(10))
    assert list(order[10:]) == list(order[:2])  # wrapped around
    assert not np.array_equal(plan.epoch_order(0), plan.epoch_order(1))  # reshuffled per epoch
    assert np.array_equal(plan.epoch_order(1), Plan(10, 2, 2, 1, 3).epoch_order(1))  # seeded


def test_micro_batches_partition_the_step_across_accumulation_and_ranks():
    plan = Plan(n=16, batch_size=2, grad_accum=2, world=2, seed=0)
    idx = plan.step_indices(1)
    parts = [plan.micro(idx, m, r) for m in range(2) for r in range(2)]
    assert sorted(np.concatenate(parts)) == sorted(idx)
    # same global batch as batch 8 on one process
    assert sorted(Plan(16, 8, 1, 1, 0).step_indices(1)) == sorted(idx)


def test_total_steps():
    plan = Plan(n=10, batch_size=4, grad_accum=1, world=1, seed=0)
    assert total_steps(plan, 5, None) == 15
    assert total_steps(plan, 5, 7) == 7


def test_lr_factor_by_hand():
    assert lr_factor(0, 100, 10, "cosine") == pytest.approx(0.1)
    assert lr_factor(9, 100, 10, "cosine") == pytest.approx(1.0)
    assert lr_factor(10, 100, 10, "cosine") == pytest.approx(1.0)
    assert lr_factor(55, 100, 10, "cosine") == pytest.approx(0.5)  # halfway after warm-up
    assert lr_factor(40, 100, 0, "cosine") == pytest.approx(0.5 * (1 + math.cos(math.pi * 0.4)))
    assert lr_factor(55, 100, 10, "linear") == pytest.approx(0.5)
    assert lr_factor(99, 100, 10, "constant") == 1.0


def test_retain_pairing_and_refusals_are_seeded():
    a = retain_indices(50, 8, seed=1, step=4)
    assert np.array_equal(a, retain_indices(50, 8, seed=1, step=4))
    assert len(set(a.tolist())) == 8  # without replacement
    assert not np.array_equal(a, retain_indices(50, 8, seed=1, step=5))
    assert len(retain_indices(3, 8, seed=0, step=0)) == 8  # small retain set: with replacement
    r = refusal_choice(20, 50, seed=2)
    assert np.array_equal(r, refusal_choice(20, 50, seed=2)) and r.max() < 50
