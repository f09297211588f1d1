"""Every method at its reference defaults (``build_method(name)`` with no options) against
its reference's formula written out here in plain Python: every term (retain and
regularisation terms, temperature, weights, token masks), at the default values the
method card cites. Where a term is absent from the reference, the test checks that the
method does not even compute it (the fake context raises on an unset batch)."""

from __future__ import annotations

import math

import pytest
import torch

from fiubench.errors import ConfigError
from fiubench.methods import METHODS, UnlearnBatch, build_method

from .fake import (
    LABELS,
    LABELS_R,
    LOGITS,
    LOGITS_B,
    FakeContext,
    inputs,
    kl,
    logsigmoid,
    logsoftmax,
    prob,
    seq_logp,
    softmax,
    token_mean_nll,
)

# Forget answer positions of LABELS (position t predicts labels[t+1]): (sample, t, target)
F_POS = [(0, 1, 1), (0, 2, 2), (1, 0, 0), (1, 1, 2)]
R_POS = [(0, 0), (0, 1), (0, 2), (1, 2)]
R_NLL = token_mean_nll(LOGITS_B, LABELS_R)


def ctx_with(retain: bool = True):
    """Forget logits LOGITS (reference LOGITS_B); retain logits LOGITS_B (reference LOGITS).
    ``retain=False`` leaves the retain batch unset: touching it raises KeyError."""
    ctx = FakeContext()
    f, r = inputs(LABELS), inputs(LABELS_R)
    ctx.set(f, torch.tensor(LOGITS), ref=torch.tensor(LOGITS_B))
    if retain:
        ctx.set(r, torch.tensor(LOGITS_B), ref=torch.tensor(LOGITS))
    return ctx, UnlearnBatch(f), UnlearnBatch(r)


def cross_entropy(q, row):
    """H(q, softmax(row))."""
    return -sum(qv * logsoftmax(row, v) for v, qv in enumerate(q) if qv > 0)


def test_simnpo_at_openunlearning_defaults():
    """OpenUnlearning: gamma(=w_f) 0.125 * -(2/b) log sig(b (NLL/|y| - delta)) + alpha(=w_r) 1 * NLL_r, b 4.5."""
    ctx, f, r = ctx_with()
    loss, _ = build_method("simnpo").compute_loss(ctx, f, r)
    b, delta = 4.5, 0.0
    lp = seq_logp(LOGITS, LABELS)
    forget = sum(-2 / b * logsigmoid(b * (-a / 2 - delta)) for a in lp) / 2
    assert loss.item() == pytest.approx(0.125 * forget + 1.0 * R_NLL, rel=1e-6)
    # the margin delta sits inside the beta scaling (the paper's gamma = beta * delta)
    loss_d, _ = build_method("simnpo", {"delta": 0.3}).compute_loss(ctx, f, r)
    forget_d = sum(-2 / b * logsigmoid(b * (-a / 2 - 0.3)) for a in lp) / 2
    assert loss_d.item() == pytest.approx(0.125 * forget_d + R_NLL, rel=1e-6)


def test_simnpo_old_gamma_option_is_a_migration_error():
    with pytest.raises(ConfigError, match="simnpo options.gamma: .*'delta'.*forget_weight"):
        build_method("simnpo", {"gamma": 0.5})


def test_ceu_ignores_the_first_answer_token_and_has_no_retain_term():
    ctx, f, r = ctx_with(retain=False)
    loss, _ = build_method("ceu").compute_loss(ctx, f, r)
    # first answer token of each sample dropped: (0, 1, 1) and (1, 0, 0) leave
    kept = [(0, 2, 2), (1, 1, 2)]
    total = 0.0
    for b, t, y in kept:
        row = LOGITS[b][t]
        q = softmax([row[v] if v != y else -math.inf for v in range(3)])
        total += cross_entropy(q, row)
    assert loss.item() == pytest.approx(total / len(kept), rel=1e-6)


def test_undial_at_openunlearning_defaults_has_no_retain_term():
    ctx, f, r = ctx_with(retain=False)
    loss, _ = build_method("undial").compute_loss(ctx, f, r)
    total = 0.0
    for b, t, y in F_POS:
        teacher = [z - (10.0 if v == y else 0.0) for v, z in enumerate(LOGITS_B[b][t])]  # beta 10
        total += cross_entropy(softmax(teacher), LOGITS[b][t])
    assert loss.item() == pytest.approx(total / 4, rel=1e-6)


def test_satimp_at_the_authors_defaults():
    """tmlr-group/SatImp satimp_gd: mean_t p^5 (1-p)^0.1 log p + 0.1 * NLL_r."""
    ctx, f, r = ctx_with()
    loss, _ = build_method("satimp").compute_loss(ctx, f, r)
    forget = sum(prob(LOGITS[b][t], y) ** 5.0 * (1 - prob(LOGITS[b][t], y)) ** 0.1 * math.log(prob(LOGITS[b][t], y))
                 for b, t, y in F_POS) / 4
    assert loss.item() == pytest.approx(forget + 0.1 * R_NLL, rel=1e-6)


def test_wga_at_openunlearning_defaults():
    ctx, f, r = ctx_with()
    loss, _ = build_method("wga").compute_loss(ctx, f, r)
    forget = sum(prob(LOGITS[b][t], y) * math.log(prob(LOGITS[b][t], y)) for b, t, y in F_POS) / 4
    assert loss.item() == pytest.approx(forget + R_NLL, rel=1e-6)


def test_npo_at_openunlearning_defaults():
    ctx, f, r = ctx_with()
    loss, _ = build_method("npo").compute_loss(ctx, f, r)
    lp, ref = seq_logp(LOGITS, LABELS), seq_logp(LOGITS_B, LABELS)
    forget = sum(-2 / 0.1 * logsigmoid(-0.1 * (a - b)) for a, b in zip(lp, ref, strict=True)) / 2
    assert loss.item() == pytest.approx(forget + R_NLL, rel=1e-5)


@pytest.mark.parametrize("step_kind", ["max", "min"])
def test_scrub_terms_at_the_large_scale_defaults(step_kind):
    """T = 4 with T^2 scaling; max: -KL_T on forget; min: 0.001 T^2 KL_T + 0.99 CE on retain."""
    m = build_method("scrub")
    m.begin_run(3)
    m.begin_step(0 if step_kind == "max" else 3)
    assert m.phase == step_kind
    ctx, f, r = ctx_with()
    loss, _ = m.compute_loss(ctx, f, r)
    t = 4.0
    scaled = lambda rows: [[x / t for x in row] for row in rows]  # noqa: E731
    if step_kind == "max":  # teacher on forget = LOGITS_B
        kl_f = sum(kl(scaled(LOGITS_B[b])[s], scaled(LOGITS[b])[s]) for b, s, _ in F_POS) / 4
        assert loss.item() == pytest.approx(-1.0 * t**2 * kl_f, rel=1e-5)
    else:  # teacher on retain = LOGITS
        kl_r = sum(kl(scaled(LOGITS[b])[s], scaled(LOGITS_B[b])[s]) for b, s in R_POS) / 4
        assert loss.item() == pytest.approx(0.001 * t**2 * kl_r + 0.99 * R_NLL, rel=1e-5)


def test_scrub_schedule_is_per_epoch_with_two_max_epochs():
    m = build_method("scrub")
    m.begin_run(3)  # 3 steps per pass over the forget set
    phases = "".join(m.phase_of(s)[1] for s in range(15))  # a(max) / i(min)
    assert phases == "aaa" "iii" "aaa" "iii" "iii"


@pytest.mark.parametrize("old", ["max_every", "max_phase_steps"])
def test_scrub_old_step_options_are_migration_errors(old):
    with pytest.raises(ConfigError, match=f"scrub options.{old}: .*max_epochs"):
        build_method("scrub", {old: 2})


class _Layer(torch.nn.Module):
    def __init__(self, h):
        super().__init__()
        self.self_attn = torch.nn.Linear(h, h)
        self.mlp = torch.nn.ModuleDict({"up_proj": torch.nn.Linear(h, h), "down_proj": torch.nn.Linear(h, h)})


class _VLM:
    def __init__(self, n_layers, hidden):
        self.layers = torch.nn.ModuleList(_Layer(hidden) for _ in range(n_layers))
        self.model = torch.nn.ModuleDict({"layers": self.layers, "head": torch.nn.Linear(hidden, 3)})
        self.hidden = hidden

    def decoder_layers(self):
        return self.layers

    def hidden_size(self):
        return self.hidden


@pytest.mark.parametrize("name", ["rmu", "armu"])
def test_rmu_trains_down_proj_of_layers_5_to_7_of_32(name):
    vlm = _VLM(32, 2)
    m = build_method(name)
    m.configure_trainable(vlm)
    trainable = sorted(n for n, p in vlm.model.named_parameters() if p.requires_grad)
    assert trainable == [f"layers.{i}.mlp.down_proj.{w}" for i in (5, 6, 7) for w in ("bias", "weight")]
    m.setup(vlm, seed=0)
    assert m.layer_index == 7


def _hidden_ctx():
    """Hidden states of one forget and one retain sample (hidden size 2, prompt at position 0)."""
    ctx = FakeContext()
    f, r = inputs([[-100, 1, 2]]), inputs([[-100, 0, 1]])
    ctx.set_hidden(f, torch.tensor([[[9.0, 9.0], [1.0, 1.0], [0.0, 2.0]]]),
                   ref=torch.tensor([[[7.0, 7.0], [3.0, 4.0], [0.0, 1.0]]]))
    ctx.set_hidden(r, torch.tensor([[[5.0, 5.0], [1.0, 0.0], [0.0, 0.0]]]),
                   ref=torch.tensor([[[0.0, 0.0], [1.0, 1.0], [0.0, 2.0]]]))
    return ctx, UnlearnBatch(f), UnlearnBatch(r)


def mse(rows_a, rows_b):
    return sum((x - y) ** 2 for a, b in zip(rows_a, rows_b, strict=True) for x, y in zip(a, b, strict=True)) / (
        len(rows_a) * len(rows_a[0]))


def test_rmu_loss_at_the_published_wmdp_run():
    """||h_f - 6.5 u||^2 + 1200 ||h_r - h_r^ref||^2 on answer tokens (positions 1, 2)."""
    m = build_method("rmu")
    m.setup(_VLM(4, 2), seed=0)
    c = m.control.tolist()
    assert math.hypot(*c) == pytest.approx(6.5, rel=1e-6) and min(c) >= 0  # 6.5 x a uniform [0, 1) direction
    ctx, f, r = _hidden_ctx()
    loss, _ = m.compute_loss(ctx, f, r)
    f_mse = mse([[1.0, 1.0], [0.0, 2.0]], [c, c])
    r_mse = mse([[1.0, 0.0], [0.0, 0.0]], [[1.0, 1.0], [0.0, 2.0]])
    assert loss.item() == pytest.approx(f_mse + 1200.0 * r_mse, rel=1e-5)


def test_adaptive_rmu_coefficient_is_computed_once_from_the_first_forget_batch():
    m = build_method("armu")
    m.setup(_VLM(4, 2), seed=0)
    ctx, f, r = _hidden_ctx()
    m.prepare(ctx, [(f, r)])
    k = 5.0 * (5.0 + 1.0) / 2  # beta 5 x mean frozen norm over the answer tokens: ||(3,4)|| = 5, ||(0,1)|| = 1
    assert m.coefficient == pytest.approx(k)
    u = m.control.tolist()
    assert math.hypot(*u) == pytest.approx(1.0, rel=1e-6)  # steering_coeff 1
    loss, _ = m.compute_loss(ctx, f, r)
    target = [k * x for x in u]
    f_mse = mse([[1.0, 1.0], [0.0, 2.0]], [target, target])
    r_mse = mse([[1.0, 0.0], [0.0, 0.0]], [[1.0, 1.0], [0.0, 2.0]])
    assert loss.item() == pytest.approx(f_mse + 1200.0 * r_mse, rel=1e-5)
    # a later batch with other frozen norms does not move the coefficient
    ctx.set_hidden(f.inputs, torch.zeros(1, 3, 2), ref=torch.full((1, 3, 2), 100.0))
    m.compute_loss(ctx, f, r)
    assert m.coefficient == pytest.approx(k)


def test_kl_averages_over_retain_answer_tokens():
    ctx, f, r = ctx_with()
    loss, _ = build_method("kl").compute_loss(ctx, f, r)
    kl_r = sum(kl(LOGITS[b][t], LOGITS_B[b][t]) for b, t in R_POS) / 4  # the fine-tuned model's p first
    assert loss.item() == pytest.approx(-token_mean_nll(LOGITS, LABELS) + kl_r, rel=1e-6)


def test_po_is_one_token_mean_over_refusal_and_retain_answers():
    """TOFU idk: the mean loss of the concatenated refusal + retain batch."""
    ctx, f, r = ctx_with()
    refusal_labels = [[-100, 2, 2, 0], [-100, -100, 1, 1]]
    refusal = inputs(refusal_labels)
    ctx.set(refusal, torch.tensor(LOGITS))
    loss, _ = build_method("po").compute_loss(ctx, UnlearnBatch(f.inputs, refusal=refusal), r)
    n_idk, n_ret = 5, 4  # answer tokens that a position predicts (labels[1:])
    total = token_mean_nll(LOGITS, refusal_labels) * n_idk + R_NLL * n_ret
    assert loss.item() == pytest.approx(total / (n_idk + n_ret), rel=1e-6)


def test_every_builtin_method_has_a_reference_and_sourced_defaults():
    from fiubench.methods.plugins import source_of

    for name, cls in METHODS.items():
        if source_of(name) != "built-in" or not cls.__module__.startswith("fiubench.methods"):
            continue
        assert cls.reference, name
        missing = [o for o, src in cls.option_sources().items() if not src]
        assert not missing, (name, missing)
