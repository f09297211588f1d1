"""End to end on the tiny VLM: stage 1 memorises, stage 2 forgets (slow: minutes on 2 cores).

10 identities x 4 QA; forget split = 2 identities. Exact match as FIUBench defines it
(fraction of the answer's keywords in the greedy generation).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fiubench.models import ModelConfig
from fiubench.train import UnlearnConfig, UnlearnTrainConfig, unlearn

from .conftest import FORGET
from .helpers import exact_match
from .test_engine import _learn

pytestmark = pytest.mark.slow

# Per-method stage-2 settings for this tiny set (8 forget QA = one batch per step).
METHOD_RUNS: dict[str, dict] = {
    "ga": {}, "gd": {}, "kl": {}, "po": {}, "npo": {}, "simnpo": {},
    "idkdpo": {"beta": 0.01},  # beta 0.1 saturates (margin ~57 nats) before greedy answers flip
    # 2-layer LM: steer the last layer's answer-token activations; forget and retain
    # prompts are identical text (only the face differs), so a heavy retain weight on
    # every position cancels the forget term here. WMDP's reference trains only
    # mlp.down_proj of three layers of 32; in a 2-layer LM that is too little to move
    # greedy answers in 8 steps, so this tiny run trains the whole steered layer
    # (params "", a named option: the method's default stays the reference's).
    "rmu": {"steering_coeff": 20.0, "layer": -1, "alpha": 1.0, "positions": "answer", "params": ""},
}


@pytest.fixture(scope="module")
def finetuned(tiny_data, tiny_base, tmp_path_factory) -> Path:
    return _learn(tiny_data, tiny_base, tmp_path_factory.mktemp("ft") / "full") / "model"


@pytest.fixture(scope="module")
def forget_em_before(finetuned, tiny_data) -> float:
    return exact_match(finetuned, tiny_data, FORGET)[0]


def test_learning_on_full_memorises_the_identities(finetuned, tiny_data):
    em, _ = exact_match(finetuned, tiny_data, "full")
    assert em >= 0.95


def test_retain_model_scores_near_zero_on_forget(tiny_data, tiny_base, tmp_path, forget_em_before):
    retain = _learn(tiny_data, tiny_base, tmp_path / "retain", split="retain")
    em_retain_split, _ = exact_match(retain / "model", tiny_data, "retain")
    em_forget, _ = exact_match(retain / "model", tiny_data, FORGET)
    assert em_retain_split >= 0.9  # it learned what it saw
    assert em_forget <= 0.25  # never saw the forget people: chance-level keyword hits only
    assert forget_em_before - em_forget >= 0.6


@pytest.mark.parametrize("method", sorted(METHOD_RUNS))
def test_each_method_reduces_forget_exact_match(method, finetuned, tiny_data, tmp_path, forget_em_before):
    out = unlearn(UnlearnConfig(
        model=ModelConfig(name_or_path=str(finetuned)), data=tiny_data, out=tmp_path / method,
        method=method, method_options=METHOD_RUNS[method], forget=FORGET,
        train=UnlearnTrainConfig(lr=1e-3, max_steps=8, epochs=100, save_every=4, progress=False),
    ))
    em_after, gens = exact_match(out / "model", tiny_data, FORGET)
    assert em_after <= forget_em_before - 0.3, (method, forget_em_before, em_after, gens[:3])


def test_ga_early_stop_fires_before_the_model_emits_nothing(finetuned, tiny_data, tmp_path):
    out = unlearn(UnlearnConfig(
        model=ModelConfig(name_or_path=str(finetuned)), data=tiny_data, out=tmp_path / "ga",
        method="ga", forget=FORGET,
        train=UnlearnTrainConfig(lr=1e-3, max_steps=200, epochs=1000, save_every=50, progress=False),
    ))
    s = json.loads((out / "summary.json").read_text())
    assert s["stopped_early"] and s["loss_threshold"] == -20.0 and s["final_loss"] < -20.0
    assert s["steps"] < 200
    _, gens = exact_match(out / "model", tiny_data, FORGET)
    assert all(g.strip() for g in gens), gens
