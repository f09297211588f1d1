"""UNDIAL, WGA, SatImp, CE-U, task vectors against
hand-computed values (plain-Python maths in fake.py, independent of torch)."""

import math
from types import SimpleNamespace

import pytest
import torch
from torch import nn

from fiubench.methods import UnlearnBatch, build_method
from fiubench.methods.taskvector import implied_forget_weights, negate

from .fake import (
    LABELS,
    LABELS_R,
    LOGITS,
    LOGITS_B,
    FakeContext,
    inputs,
    logsoftmax,
    prob,
    softmax,
    token_mean_nll,
)

# Forget answer positions of LABELS (position t predicts labels[t+1]): (sample, t, target)
F_POS = [(0, 1, 1), (0, 2, 2), (1, 0, 0), (1, 1, 2)]
R_POS = [(0, 0), (0, 1), (0, 2), (1, 2)]


def setup_ctx():
    ctx = FakeContext()
    f, r = inputs(LABELS), inputs(LABELS_R)
    ctx.set(f, torch.tensor(LOGITS), ref=torch.tensor(LOGITS_B))
    ctx.set(r, torch.tensor(LOGITS_B), ref=torch.tensor(LOGITS))
    return ctx, UnlearnBatch(f), UnlearnBatch(r)


R_NLL = token_mean_nll(LOGITS_B, LABELS_R)


@pytest.mark.parametrize("gamma", [0.0, 3.0])
def test_undial(gamma):
    ctx, f, r = setup_ctx()
    loss, logs = build_method("undial", {"gamma": gamma, "retain_weight": 0.5}).compute_loss(ctx, f, r)
    total = 0.0
    for b, t, y in F_POS:
        teacher = [z - (gamma if v == y else 0.0) for v, z in enumerate(LOGITS_B[b][t])]
        q = softmax(teacher)
        total += -sum(q[v] * logsoftmax(LOGITS[b][t], v) for v in range(3))
    assert logs["undial"] == pytest.approx(total / 4, rel=1e-6)
    assert loss.item() == pytest.approx(total / 4 + 0.5 * R_NLL, rel=1e-6)


def test_undial_teacher_lowers_the_true_token():
    ctx, f, r = setup_ctx()
    ctx.set(f.inputs, torch.tensor(LOGITS), ref=torch.tensor(LOGITS))  # student == teacher
    lo, _ = build_method("undial", {"gamma": 0.0, "retain_weight": 0}).compute_loss(ctx, f, r)
    hi, _ = build_method("undial", {"gamma": 5.0, "retain_weight": 0}).compute_loss(ctx, f, r)
    assert hi.item() > lo.item()  # the unadjusted teacher is already matched: only gamma moves it


@pytest.mark.parametrize("beta", [0.0, 1.0, 2.5])
def test_wga(beta):
    ctx, f, r = setup_ctx()
    loss, _ = build_method("wga", {"beta": beta, "retain_weight": 0}).compute_loss(ctx, f, r)
    expect = sum(prob(LOGITS[b][t], y) ** beta * logsoftmax(LOGITS[b][t], y) for b, t, y in F_POS) / 4
    assert loss.item() == pytest.approx(expect, rel=1e-6)
    if beta == 0.0:  # plain token-level GA
        assert loss.item() == pytest.approx(-token_mean_nll(LOGITS, LABELS), rel=1e-6)
    full, _ = build_method("wga", {"beta": beta}).compute_loss(ctx, f, r)
    assert full.item() == pytest.approx(expect + R_NLL, rel=1e-6)


def test_wga_weight_carries_no_gradient():
    ctx, f, r = setup_ctx()
    lg = torch.tensor(LOGITS, requires_grad=True)
    ctx.set(f.inputs, lg)
    loss, _ = build_method("wga", {"beta": 1.0, "retain_weight": 0}).compute_loss(ctx, f, r)
    loss.backward()
    # d/dz_y of sg(p) * log p = sg(p) * (1 - p) / N  (weight treated as constant)
    p = prob(LOGITS[0][1], 1)
    assert lg.grad[0, 1, 1].item() == pytest.approx(p * (1 - p) / 4, rel=1e-5)


def test_satimp():
    ctx, f, r = setup_ctx()
    b1, b2 = 2.0, 0.5
    loss, _ = build_method("satimp", {"beta1": b1, "beta2": b2, "retain_weight": 0.25}).compute_loss(ctx, f, r)
    expect = 0.0
    for b, t, y in F_POS:
        p = prob(LOGITS[b][t], y)
        expect += p**b1 * (1 - p) ** b2 * math.log(p)
    assert loss.item() == pytest.approx(expect / 4 + 0.25 * R_NLL, rel=1e-6)


def test_ceu():
    ctx, f, r = setup_ctx()
    loss, logs = build_method("ceu", {"ignore_first_n_answer_tokens": 0}).compute_loss(ctx, f, r)
    total = 0.0
    for b, t, y in F_POS:
        row = LOGITS[b][t]
        others = [v for v in range(3) if v != y]
        q = softmax([row[v] for v in others])
        total += -sum(qv * logsoftmax(row, v) for qv, v in zip(q, others, strict=True))
    assert loss.item() == pytest.approx(total / 4, rel=1e-6)
    # its gradient pushes the true token's logit down
    lg = torch.tensor(LOGITS, requires_grad=True)
    ctx.set(f.inputs, lg)
    build_method("ceu", {"ignore_first_n_answer_tokens": 0}).compute_loss(ctx, f, r)[0].backward()
    assert lg.grad[0, 1, 1] > 0 and lg.grad[1, 0, 0] > 0


class _Lookup(nn.Module):
    """logits[b, t] = W[input_ids[b, t]]: a model whose weights are its logits."""

    def __init__(self, w):
        super().__init__()
        self.w = nn.Parameter(torch.tensor(w))

    def forward(self, input_ids, attention_mask=None, use_cache=False):
        return SimpleNamespace(logits=self.w[input_ids])


def test_task_vector_arithmetic():
    ft, forget = torch.tensor([1.0, -2.0]), torch.tensor([1.5, -1.0])
    assert negate(ft, forget, 2.0).tolist() == [0.0, -4.0]  # 1 - 2*0.5, -2 - 2*1
    theta = negate(ft, forget, 2.0)
    assert torch.allclose(implied_forget_weights(ft, theta, 2.0), forget)


def test_task_vector_loss_is_forget_ce_at_the_implied_weights():
    start = [[0.0, 1.0, 2.0], [1.0, 0.0, 0.5], [2.0, 2.0, 0.0]]
    model = _Lookup(start)
    m = build_method("taskvector", {"alpha": 2.0})
    vlm = SimpleNamespace(model=model)
    m.setup(vlm, seed=0)
    ctx = FakeContext()
    ctx.vlm = vlm
    labels = [[-100, 1, 2], [-100, 0, 0]]
    f, r = inputs(labels), inputs(LABELS_R)
    with torch.no_grad():
        model.w += torch.tensor([[1.0, 0.0, 0.0], [0.0, 2.0, 0.0], [0.0, 0.0, -1.0]])  # theta moved
    loss, _ = m.compute_loss(ctx, UnlearnBatch(f), UnlearnBatch(r))
    # phi = start + (start - theta) / 2 = start - delta / 2
    phi = [[-0.5, 1.0, 2.0], [1.0, -1.0, 0.5], [2.0, 2.0, 0.5]]
    ids = [[0, 1, 2], [0, 0, 0]]
    expect = token_mean_nll([[phi[i] for i in row] for row in ids], labels)
    assert loss.item() == pytest.approx(expect, rel=1e-6)
    # descending L moves theta against the direction that lowers the forget CE at phi
    loss.backward()
    w = torch.tensor(phi, requires_grad=True)
    ce = torch.nn.functional.cross_entropy(w[torch.tensor(ids)][:, :-1].reshape(-1, 3),
                                           torch.tensor(labels)[:, 1:].reshape(-1), ignore_index=-100)
    ce.backward()
    assert torch.allclose(model.w.grad, -w.grad / 2.0, atol=1e-6)
