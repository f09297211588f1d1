"""NPO, SimNPO, IdkDPO against hand-computed values."""

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
    logsigmoid,
    seq_logp,
    token_mean_nll,
)

REFUSAL = [[-100, 2, 2, 0], [-100, -100, 1, 1]]


def setup_ctx():
    ctx = FakeContext()
    f, r, idk = inputs(LABELS), inputs(LABELS_R), inputs(REFUSAL)
    ctx.set(f, torch.tensor(LOGITS), ref=torch.tensor(LOGITS_B))
    ctx.set(r, torch.tensor(LOGITS_B))
    ctx.set(idk, torch.tensor(LOGITS_B), ref=torch.tensor(LOGITS))
    return ctx, UnlearnBatch(f, refusal=idk), UnlearnBatch(r)


@pytest.mark.parametrize("beta", [0.1, 1.0])
def test_npo(beta):
    ctx, f, r = setup_ctx()
    loss, _ = build_method("npo", {"beta": beta, "retain_weight": 0.0}).compute_loss(ctx, f, r)
    lp, ref = seq_logp(LOGITS, LABELS), seq_logp(LOGITS_B, LABELS)
    expect = sum(-2 / beta * logsigmoid(-beta * (a - b)) for a, b in zip(lp, ref, strict=True)) / 2
    assert loss.item() == pytest.approx(expect, rel=1e-5)
    full, logs = build_method("npo", {"beta": beta}).compute_loss(ctx, f, r)
    assert full.item() == pytest.approx(expect + token_mean_nll(LOGITS_B, LABELS_R), rel=1e-5)
    assert "retain_nll" in logs


def test_npo_at_reference_is_2_log2_over_beta():
    ctx = FakeContext()
    f, r = inputs(LABELS), inputs(LABELS_R)
    ctx.set(f, torch.tensor(LOGITS), ref=torch.tensor(LOGITS))
    loss, _ = build_method("npo", {"beta": 0.5, "retain_weight": 0}).compute_loss(
        ctx, UnlearnBatch(f), UnlearnBatch(r)
    )
    assert loss.item() == pytest.approx(2 / 0.5 * 0.6931471805599453, rel=1e-6)


def test_simnpo():
    ctx, f, r = setup_ctx()
    beta, delta = 2.0, 0.5
    loss, _ = build_method(
        "simnpo", {"beta": beta, "delta": delta, "forget_weight": 1.0, "retain_weight": 0}
    ).compute_loss(ctx, f, r)
    lp = seq_logp(LOGITS, LABELS)
    lengths = [2, 2]
    expect = sum(
        -2 / beta * logsigmoid(beta * (-a / n - delta)) for a, n in zip(lp, lengths, strict=True)
    ) / 2
    assert loss.item() == pytest.approx(expect, rel=1e-5)


def test_idkdpo():
    ctx, f, r = setup_ctx()
    beta = 0.3
    loss, _ = build_method("idkdpo", {"beta": beta, "retain_weight": 0}).compute_loss(ctx, f, r)
    win, win_ref = seq_logp(LOGITS_B, REFUSAL), seq_logp(LOGITS, REFUSAL)
    lose, lose_ref = seq_logp(LOGITS, LABELS), seq_logp(LOGITS_B, LABELS)
    expect = sum(
        -2 / beta * logsigmoid(beta * ((w - wr) - (lo - lr)))
        for w, wr, lo, lr in zip(win, win_ref, lose, lose_ref, strict=True)
    ) / 2
    assert loss.item() == pytest.approx(expect, rel=1e-5)
    with_retain, _ = build_method("idkdpo", {"beta": beta}).compute_loss(ctx, f, r)
    assert with_retain.item() == pytest.approx(expect + token_mean_nll(LOGITS_B, LABELS_R), rel=1e-5)
