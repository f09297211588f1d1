"""GA, GD, KL, PO against hand-computed values."""

import math

import pytest
import torch

from fiubench.methods import UnlearnBatch, build_method

from .fake import (
    LABELS,
    LABELS_R,
    LOGITS,
    LOGITS_B,
    FakeContext,
    inputs,
    logsoftmax,
    token_mean_nll,
)


def setup_ctx():
    ctx = FakeContext()
    f, r = inputs(LABELS), inputs(LABELS_R)
    ctx.set(f, torch.tensor(LOGITS), ref=torch.tensor(LOGITS_B))
    ctx.set(r, torch.tensor(LOGITS_B), ref=torch.tensor(LOGITS))
    return ctx, UnlearnBatch(f), UnlearnBatch(r)


def test_ga_is_negative_token_mean_nll():
    ctx, f, r = setup_ctx()
    loss, logs = build_method("ga").compute_loss(ctx, f, r)
    # sample 0 scores (t=1 -> 1), (t=2 -> 2); sample 1 scores (t=0 -> 0), (t=1 -> 2)
    by_hand = -(
        -logsoftmax([1.0, 3.0, 0.0], 1) - logsoftmax([0.5, -1.0, 2.0], 2)
        - logsoftmax([2.0, 0.0, -1.0], 0) - logsoftmax([0.0, 1.0, 1.5], 2)
    ) / 4
    assert loss.item() == pytest.approx(by_hand, rel=1e-6)
    assert logs["forget_nll"] == pytest.approx(-by_hand, rel=1e-6)


def test_gd_weights():
    ctx, f, r = setup_ctx()
    loss, _ = build_method("gd", {"retain_weight": 0.5}).compute_loss(ctx, f, r)
    expect = -token_mean_nll(LOGITS, LABELS) + 0.5 * token_mean_nll(LOGITS_B, LABELS_R)
    assert loss.item() == pytest.approx(expect, rel=1e-6)


def _kl(p_logits, q_logits):
    lp = [logsoftmax(p_logits, i) for i in range(3)]
    lq = [logsoftmax(q_logits, i) for i in range(3)]
    return sum(math.exp(a) * (a - b) for a, b in zip(lp, lq, strict=True))


def test_kl_formula():
    ctx, f, r = setup_ctx()
    loss, logs = build_method("kl").compute_loss(ctx, f, r)
    # retain answer positions: sample 0 t=0,1,2 ; sample 1 t=2. ref = LOGITS, theta = LOGITS_B
    pos = [(0, 0), (0, 1), (0, 2), (1, 2)]
    kl = sum(_kl(LOGITS[b][t], LOGITS_B[b][t]) for b, t in pos) / len(pos)
    assert logs["retain_kl"] == pytest.approx(kl, rel=1e-5)
    assert loss.item() == pytest.approx(-token_mean_nll(LOGITS, LABELS) + kl, rel=1e-5)


def test_kl_ignores_prompt_image_and_padding_positions():
    ctx, f, r = setup_ctx()
    base, _ = build_method("kl").compute_loss(ctx, f, r)
    # Scored retain positions predict labels[t+1] != -100: (0,0..2), (1,2). Every other
    # position (prompt/image tokens of sample 1, its last padding slot) is changed.
    theta = torch.tensor(LOGITS_B)
    ref = torch.tensor(LOGITS)
    for b, t in [(0, 3), (1, 0), (1, 1), (1, 3)]:
        theta[b, t] = torch.tensor([9.0, -7.0, 3.0])
        ref[b, t] = torch.tensor([-5.0, 8.0, 0.0])
    ctx.set(r.inputs, theta, ref=ref)
    changed, _ = build_method("kl").compute_loss(ctx, f, r)
    assert changed.item() == pytest.approx(base.item(), abs=1e-6)
    # ... while changing a scored position does change it (the test can fail).
    theta[0, 1] = torch.tensor([9.0, -7.0, 3.0])
    moved, _ = build_method("kl").compute_loss(ctx, f, r)
    assert abs(moved.item() - base.item()) > 1e-3


def test_po_uses_refusal_targets():
    ctx, f, r = setup_ctx()
    refusal = inputs([[-100, 2, 2, 0], [-100, -100, 1, 1]])
    ctx.set(refusal, torch.tensor(LOGITS_B))
    f = UnlearnBatch(f.inputs, refusal=refusal)
    loss, logs = build_method("po").compute_loss(ctx, f, r)
    idk = token_mean_nll(LOGITS_B, [[-100, 2, 2, 0], [-100, -100, 1, 1]])
    assert logs["refusal_nll"] == pytest.approx(idk, rel=1e-6)
    # one token mean over both batches (5 refusal + 4 retain answer tokens)
    assert loss.item() == pytest.approx((5 * idk + 4 * token_mean_nll(LOGITS_B, LABELS_R)) / 9, rel=1e-6)


def test_gradient_sign_of_ga_lowers_answer_probability():
    lg = torch.tensor(LOGITS, requires_grad=True)
    ctx, f, r = setup_ctx()
    ctx.set(f.inputs, lg)
    loss, _ = build_method("ga").compute_loss(ctx, f, r)
    loss.backward()
    # descending the GA loss moves the logit of the true next token down
    assert lg.grad[0, 1, 1] > 0 and lg.grad[1, 0, 0] > 0
