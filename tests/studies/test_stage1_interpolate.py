"""studies/stage1_interpolate.py: WiSE-FT interpolation of a stage-1 model towards its base."""

from __future__ import annotations

import torch

from .study import load_study


def _interpolate():
    return load_study("stage1_interpolate").interpolate


def test_interpolation_is_alpha_model_plus_rest_base_on_float_tensors_only():
    interpolate = _interpolate()

    def model():
        return {"w": torch.tensor([1.0, 3.0]), "ids": torch.tensor([5, 7])}

    base = {"w": torch.tensor([3.0, -1.0]), "ids": torch.tensor([0, 0])}
    for alpha, want in ((1.0, [1.0, 3.0]), (0.0, [3.0, -1.0]), (0.25, [2.5, 0.0])):
        m = model()
        interpolate(m, base, alpha)
        torch.testing.assert_close(m["w"], torch.tensor(want))
        assert m["ids"].tolist() == [5, 7]  # buffers such as position ids stay the model's
