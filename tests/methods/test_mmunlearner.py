"""MMUnlearner against the reference's rules (Z1zs/MMUnlearner): the Fisher by hand, the
F_f / F_r >= 1 selection, the mask on the forget step only, device-consistent masks, and a
non-degenerate mask under LoRA."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest
import torch
from torch import nn

from fiubench.methods import UnlearnBatch, build_method
from fiubench.methods.mmunlearner import Target, masked_surrogate, saliency_masks

from .fake import inputs, logsoftmax

V = 3  # vocabulary = input ids = output classes


class ColumnModel(nn.Module):
    """logits[b, t] = W[:, input_ids[b, t]] (a linear layer on one-hot inputs) plus a bias
    vector ``shift`` outside any linear layer (trained unmasked, as the reference's norms)."""

    def __init__(self, w: list[list[float]]) -> None:
        super().__init__()
        self.lin = nn.Linear(V, V, bias=False)
        with torch.no_grad():
            self.lin.weight.copy_(torch.tensor(w))
        self.shift = nn.Parameter(torch.zeros(V))

    def forward(self, input_ids, attention_mask=None, use_cache=False):
        x = nn.functional.one_hot(input_ids, V).float()
        return SimpleNamespace(logits=self.lin(x) + self.shift)


class Ctx:
    def __init__(self, model: nn.Module) -> None:
        self.vlm = SimpleNamespace(model=model)

    def logits(self, inp):
        return self.vlm.model(inp["input_ids"]).logits


W0 = [[0.5, -1.0, 2.0], [1.0, 0.0, -0.5], [0.0, 1.5, 0.5]]
# Batches of (input_ids, labels): position t predicts labels[t+1].
FORGET = [([[0, 1, 2, 0]], [[-100, 1, 2, -100]]), ([[2, 0, 1, 1]], [[-100, -100, 0, 2]])]
RETAIN = [([[1, 2, 0, 2]], [[-100, 0, 1, -100]]), ([[0, 0, 2, 1]], [[-100, 2, -100, 1]])]


def batch(ids, labels):
    b = inputs(labels)
    b["input_ids"] = torch.tensor(ids)
    return UnlearnBatch(b)


def hand_grad(w, ids, labels):
    """d(token-mean CE)/dW[v][i] in plain Python: (1/N) sum_t (softmax(W[:, i])_v - 1[v = y]),
    over the answer positions t whose input id is i."""
    g = [[0.0] * V for _ in range(V)]
    pos = [(ids[0][t], labels[0][t + 1]) for t in range(len(ids[0]) - 1) if labels[0][t + 1] != -100]
    for i, y in pos:
        col = [w[v][i] for v in range(V)]
        for v in range(V):
            g[v][i] += (math.exp(logsoftmax(col, v)) - (v == y)) / len(pos)
    return g


def hand_fisher(w, batches):
    sq = [[0.0] * V for _ in range(V)]
    for ids, labels in batches:
        g = hand_grad(w, ids, labels)
        for v in range(V):
            for i in range(V):
                sq[v][i] += g[v][i] ** 2 / len(batches)
    return sq


def test_fisher_and_mask_by_hand():
    model = ColumnModel(W0)
    m = build_method("mmunlearner")
    pairs = [(batch(*f), batch(*r)) for f, r in zip(FORGET, RETAIN, strict=True)]
    m.prepare(Ctx(model), pairs)
    ff, fr = hand_fisher(W0, FORGET), hand_fisher(W0, RETAIN)
    want = [[(ff[v][i] + 1e-15) / (fr[v][i] + 1e-15) >= 1.0 for i in range(V)] for v in range(V)]
    assert m.masks["lin.weight"].tolist() == want
    assert 0 < sum(map(sum, want)) < V * V  # the example is not degenerate
    assert [n for n, _ in m.unmasked] == ["shift"]  # outside the linear layers: unmasked


def test_selection_rule_is_ratio_at_least_threshold():
    ff = {"w": torch.tensor([4.0, 0.0, 1.0, 3.0, 0.0])}
    fr = {"w": torch.tensor([1.0, 1.0, 1.0, 6.0, 0.0])}
    assert saliency_masks(ff, fr, threshold=1.0, eps=1e-15)["w"].tolist() == [True, False, True, False, True]
    assert saliency_masks(ff, fr, threshold=2.0, eps=1e-15)["w"].tolist() == [True, False, False, False, False]


def test_forget_gradient_masked_retain_gradient_not():
    model = ColumnModel(W0)
    m = build_method("mmunlearner", {"retain_weight": 0.5, "forget_weight": 2.0})
    pairs = [(batch(*f), batch(*r)) for f, r in zip(FORGET, RETAIN, strict=True)]
    m.prepare(Ctx(model), pairs)
    mask = m.masks["lin.weight"].tolist()
    f, r = pairs[0]
    loss, logs = m.compute_loss(Ctx(model), f, r)
    loss.backward()
    gf, gr = hand_grad(W0, *FORGET[0]), hand_grad(W0, *RETAIN[0])
    want = [[-2.0 * gf[v][i] * mask[v][i] + 0.5 * gr[v][i] for i in range(V)] for v in range(V)]
    assert model.lin.weight.grad.flatten().tolist() == pytest.approx(sum(want, []), abs=1e-6)
    # the loss value is GD's: -w_f CE(forget) + w_r CE(retain)
    assert loss.item() == pytest.approx(-2.0 * logs["forget_nll"] + 0.5 * logs["retain_nll"], rel=1e-6)
    # the unmasked parameter gets the whole forget gradient (d CE / d shift = sum over columns)
    want_shift = [sum(-2.0 * gf[v][i] + 0.5 * gr[v][i] for i in range(V)) for v in range(V)]
    assert model.shift.grad.tolist() == pytest.approx(want_shift, abs=1e-6)


def test_masks_and_masked_step_stay_on_the_parameters_device():
    """The masks are built where the Fisher lives (``meta`` here stands for a GPU:
    a CPU tensor indexed by device indices would raise, as the old code did)."""
    ff = {"w": torch.empty(4, 3, device="meta"), "l": torch.empty(4, 5, device="meta")}
    fr = {"w": torch.empty(4, 3, device="meta"), "l": torch.empty(4, 5, device="meta")}
    masks = saliency_masks(ff, fr, threshold=1.0, eps=1e-15)
    assert all(m.device.type == "meta" and m.dtype == torch.bool for m in masks.values())
    w = torch.empty(4, 3, device="meta", requires_grad=True)
    base = torch.empty(4, 5, device="meta")
    a = torch.empty(2, 5, device="meta", requires_grad=True)
    b = torch.empty(4, 2, device="meta", requires_grad=True)
    extra = torch.empty(3, device="meta", requires_grad=True)
    s = masked_surrogate([Target("w", w), Target("l", base, (a, b, 2.0))],
                         [torch.empty(4, 3, device="meta"), torch.empty(4, 5, device="meta")],
                         masks, [(extra, torch.empty(3, device="meta"))])
    assert s.device.type == "meta" and s.dim() == 0


def test_lora_mask_is_on_the_base_weight_and_not_degenerate(tiny_vlm_dir):
    from PIL import Image

    from fiubench.models import ModelConfig
    from fiubench.models.config import TuningScope
    from fiubench.models.loading import load_vlm

    torch.manual_seed(0)
    scope = TuningScope(vision=False, projector=True, language=True, lora=True, lora_r=4, lora_alpha=8,
                        lora_dropout=0.0)
    vlm = load_vlm(ModelConfig(name_or_path=str(tiny_vlm_dir), scope=scope))
    model = vlm.model
    img = [Image.new("RGB", (32, 32), c) for c in ("red", "blue", "green", "white")]
    qa = [("Who is this?", "Ann Lee."), ("Where does this person live?", "Paris."),
          ("Who is this?", "Bo Chan."), ("What is this person's job?", "A baker.")]
    mk = lambda s: UnlearnBatch(vlm.train_batch([(img[i], *qa[i]) for i in s]))  # noqa: E731
    ctx = SimpleNamespace(vlm=vlm, logits=lambda inp: model(**{k: v for k, v in inp.items() if k != "labels"}).logits)
    m = build_method("mmunlearner")
    m.prepare(ctx, [(mk([0, 1]), mk([2, 3]))])
    lora_targets = [t for t in m.targets if t.lora is not None]
    assert lora_targets, "no LoRA layer found"
    kept = [m.masks[t.name].float().mean().item() for t in lora_targets]
    assert all(t.name.endswith("base_layer.weight") for t in lora_targets)
    assert 0.05 < sum(kept) / len(kept) < 0.95, kept  # neither all nor nothing
    assert all(0.0 < k < 1.0 for k in kept), kept
    # The adapter's forget gradient is the masked merged-weight gradient pulled back:
    # grad_B = s * (M * G_W) A^T (B = 0 at the start, so grad_A = s B^T (...) = 0 as in plain LoRA).
    t = lora_targets[0]
    a, b, s = t.lora
    f, r = mk([0, 1]), mk([2, 3])
    t.wrt.requires_grad_(True)
    from fiubench.methods.terms import nll

    g_w, = torch.autograd.grad(-nll(ctx.logits(f.inputs), f.inputs["labels"]), [t.wrt])
    t.wrt.requires_grad_(False)
    model.zero_grad()
    m.options.retain_weight = 0.0
    loss, _ = m.compute_loss(ctx, f, r)
    loss.backward()
    want_b = s * (g_w * m.masks[t.name]) @ a.detach().t()
    assert torch.allclose(b.grad, want_b, atol=1e-6)
    assert not torch.allclose(b.grad, s * g_w @ a.detach().t(), atol=1e-6)  # the mask did something
