"""RMU: steering loss against a hand computation; layer selection via decoder_layers()."""

import pytest
import torch
from torch import nn

from fiubench.errors import ConfigError
from fiubench.methods import UnlearnBatch, build_method
from fiubench.methods.rmu import resolve_layer

from .fake import FakeContext, inputs


class TinyVLM:
    """Just enough of the VLM interface for RMU's setup."""

    def __init__(self, n_layers=4, hidden=2):
        self.layers = nn.ModuleList(
            nn.ModuleDict({"attn": nn.Linear(hidden, hidden),
                           "mlp": nn.ModuleDict({"down_proj": nn.Linear(hidden, hidden)})})
            for _ in range(n_layers))
        self.model = nn.ModuleDict({"layers": self.layers, "head": nn.Linear(hidden, 3)})
        self._h = hidden

    def decoder_layers(self):
        return self.layers

    def hidden_size(self):
        return self._h


def test_rmu_loss_by_hand():
    m = build_method("rmu", {"steering_coeff": 2.0, "alpha": 10.0, "positions": "all"})
    m.setup(TinyVLM(hidden=2), seed=0)
    m.control = torch.tensor([0.6, 0.8]) * 2.0  # a hand-picked unit vector times c
    ctx = FakeContext()
    f = inputs([[-100, 1, 2]])
    f["attention_mask"] = torch.tensor([[1, 1, 0]])  # last position is padding
    r = inputs([[-100, 0, 1]])
    ctx.set_hidden(f, torch.tensor([[[1.0, 1.0], [0.0, 2.0], [99.0, 99.0]]]))
    ctx.set_hidden(r, torch.tensor([[[1.0, 0.0], [0.0, 0.0], [2.0, 2.0]]]),
                   ref=torch.tensor([[[1.0, 1.0], [0.0, 0.0], [2.0, 0.0]]]))
    loss, logs = m.compute_loss(ctx, UnlearnBatch(f), UnlearnBatch(r))
    # forget: ||(1,1)-(1.2,1.6)||^2 + ||(0,2)-(1.2,1.6)||^2 over 2 tokens x 2 dims
    f_mse = ((0.2**2 + 0.6**2) + (1.2**2 + 0.4**2)) / 4
    r_mse = (1.0 + 0.0 + 4.0) / 6
    assert logs["forget_mse"] == pytest.approx(f_mse, rel=1e-6)
    assert loss.item() == pytest.approx(f_mse + 10.0 * r_mse, rel=1e-6)


def test_rmu_control_is_seeded_unit_vector_times_c():
    a, b = build_method("rmu", {"steering_coeff": 3.0}), build_method("rmu", {"steering_coeff": 3.0})
    a.setup(TinyVLM(hidden=8), seed=5)
    b.setup(TinyVLM(hidden=8), seed=5)
    assert torch.equal(a.control, b.control)
    assert a.control.norm().item() == pytest.approx(3.0, rel=1e-6)


def test_rmu_trains_only_layers_up_to_the_chosen_one():
    vlm = TinyVLM(n_layers=5)
    m = build_method("rmu", {"layer": 3, "trained_layers": 2, "params": ""})
    m.configure_trainable(vlm)
    trainable = [n for n, p in vlm.model.named_parameters() if p.requires_grad]
    assert sorted({n.split(".")[1] for n in trainable}) == ["2", "3"]
    assert any(".attn." in n for n in trainable)  # params="": the whole layers
    assert not any(n.startswith("head") for n in trainable)
    m = build_method("rmu", {"layer": 3, "trained_layers": 2})  # default: mlp.down_proj only
    m.configure_trainable(vlm)
    trainable = [n for n, p in vlm.model.named_parameters() if p.requires_grad]
    assert sorted(trainable) == [f"layers.{i}.mlp.down_proj.{w}" for i in (2, 3) for w in ("bias", "weight")]
    with pytest.raises(ConfigError, match="params='mlp.gate_proj'"):
        build_method("rmu", {"params": "mlp.gate_proj"}).configure_trainable(vlm)


def test_resolve_layer():
    assert resolve_layer(None, 32) == 7  # WMDP's layer 7 of Zephyr-7B's 32
    assert resolve_layer(-1, 4) == 3
    with pytest.raises(ConfigError, match="decoder layers"):
        resolve_layer(7, 4)
    assert resolve_layer(None, 2) == 0


def test_rmu_answer_positions_ignore_prompt_tokens():
    m = build_method("rmu", {"positions": "answer", "alpha": 0.0})
    m.setup(TinyVLM(hidden=2), seed=0)
    m.control = torch.tensor([0.0, 1.0])
    ctx = FakeContext()
    f = inputs([[-100, 1, 2]])  # position 0 is prompt
    r = inputs([[-100, 0, 1]])
    h = torch.tensor([[[50.0, -50.0], [0.0, 1.0], [0.0, 3.0]]])
    ctx.set_hidden(f, h)
    ctx.set_hidden(r, torch.zeros(1, 3, 2), ref=torch.zeros(1, 3, 2))
    loss, _ = m.compute_loss(ctx, UnlearnBatch(f), UnlearnBatch(r))
    assert loss.item() == pytest.approx((0.0 + 4.0) / 4)  # prompt position 0 not counted
