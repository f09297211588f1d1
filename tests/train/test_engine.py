"""The training loop on the tiny VLM: invariance, resume, checkpoints, bad input."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from fiubench.cli.main import main
from fiubench.errors import FiubenchError
from fiubench.methods import UnlearningMethod, register_method
from fiubench.methods.base import MethodOptions
from fiubench.methods.terms import nll
from fiubench.models import ModelConfig
from fiubench.train import (
    LearnConfig,
    UnlearnConfig,
    UnlearnTrainConfig,
    learn,
    list_checkpoints,
    train_preset,
    unlearn,
)
from fiubench.train.loop import FAIL_AFTER_ENV

from .conftest import FORGET


def _learn(data: Path, base: Path, out: Path, split: str = "full", **train) -> Path:
    t = train_preset("tiny", progress=False, **train)
    return learn(LearnConfig(data=data, out=out, split=split, model=ModelConfig(name_or_path=str(base)),
                             train=t))


def _log(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]


def _weights(run: Path) -> dict[str, torch.Tensor]:
    return load_file(str(run / "model" / "model.safetensors"))


def test_batch8_accum1_equals_batch4_accum2(tiny_data, tiny_base, tmp_path):
    a = _learn(tiny_data, tiny_base, tmp_path / "a", batch_size=8, grad_accum=1, max_steps=4)
    b = _learn(tiny_data, tiny_base, tmp_path / "b", batch_size=4, grad_accum=2, max_steps=4)
    la, lb = [r["loss"] for r in _log(a)], [r["loss"] for r in _log(b)]
    assert len(la) == len(lb) == 4
    assert la[-1] < la[0]  # it learns
    assert la == pytest.approx(lb, rel=1e-4, abs=1e-5)
    ga, gb = [r["grad_norm"] for r in _log(a)], [r["grad_norm"] for r in _log(b)]
    assert ga == pytest.approx(gb, rel=1e-3)


def test_kill_and_resume_gives_the_uninterrupted_result(tiny_data, tiny_base, tmp_path, monkeypatch, capsys):
    kw = dict(batch_size=8, max_steps=6, save_every=2, epochs=20)
    full = _learn(tiny_data, tiny_base, tmp_path / "full", **kw)
    monkeypatch.setenv(FAIL_AFTER_ENV, "3")  # crash after step 3: last checkpoint is step 2
    with pytest.raises(RuntimeError, match="simulated crash"):
        _learn(tiny_data, tiny_base, tmp_path / "killed", **kw)
    assert [s for s, _ in list_checkpoints(tmp_path / "killed")] == [2]
    assert [r["step"] for r in _log(tmp_path / "killed")] == [1, 2, 3]
    monkeypatch.delenv(FAIL_AFTER_ENV)
    resumed = _learn(tiny_data, tiny_base, tmp_path / "killed", **kw)
    assert "resuming" in capsys.readouterr().err
    log_f, log_r = _log(full), _log(resumed)
    assert [r["step"] for r in log_r] == [1, 2, 3, 4, 5, 6]  # none lost, none twice
    assert [r["loss"] for r in log_r] == pytest.approx([r["loss"] for r in log_f], rel=1e-6)
    wf, wr = _weights(full), _weights(resumed)
    assert all(torch.allclose(wf[k], wr[k], atol=1e-7) for k in wf)
    summary = json.loads((resumed / "summary.json").read_text())
    assert summary["resumed_from_step"] == 2 and summary["steps"] == 6
    # a finished run started again does nothing and says so
    mtime = (resumed / "summary.json").stat().st_mtime_ns
    _learn(tiny_data, tiny_base, tmp_path / "killed", **kw)
    assert "already finished" in capsys.readouterr().err
    assert (resumed / "summary.json").stat().st_mtime_ns == mtime


def test_learn_outputs_and_refuses_a_different_run_in_the_same_dir(tiny_data, tiny_base, tmp_path):
    run = _learn(tiny_data, tiny_base, tmp_path / "r", max_steps=2)
    for f in ("model/model.safetensors", "log.jsonl", "summary.json", "provenance.json"):
        assert (run / f).exists(), f
    s = json.loads((run / "summary.json").read_text())
    for k in ("final_loss", "steps", "wall_time_s", "peak_memory_bytes", "trainable_params"):
        assert k in s
    assert s["peak_memory_bytes"] > 0 and s["trainable_params"] > 0
    prov = json.loads((run / "provenance.json").read_text())
    assert prov["seed"] == 0 and prov["config"]["train"]["max_steps"] == 2
    with pytest.raises(FiubenchError, match="different run.*max_steps"):
        _learn(tiny_data, tiny_base, tmp_path / "r", max_steps=3)


def _unlearn(data, model, out, method="ga", **kw) -> Path:
    train = UnlearnTrainConfig(progress=False, **{k: kw.pop(k) for k in list(kw) if k in
                               ("max_steps", "save_every", "lr", "batch_size", "epochs")})
    return unlearn(UnlearnConfig(model=ModelConfig(name_or_path=str(model)), data=data, out=out,
                                 method=method, forget=FORGET, train=train, **kw))


def test_unlearn_checkpoints_record_step_epoch_loss_config(tiny_data, tiny_base, tmp_path):
    run = _unlearn(tiny_data, tiny_base, tmp_path / "u", method="gd", max_steps=4, save_every=2,
                   batch_size=4)
    ckpts = list_checkpoints(run)
    assert [s for s, _ in ckpts] == [2, 4]
    meta = json.loads((ckpts[0][1] / "checkpoint.json").read_text())
    assert meta["step"] == 2 and meta["epoch"] == 2 / 2 and "loss" in meta
    assert meta["config"]["method"] == "gd"
    assert (ckpts[0][1] / "model" / "model.safetensors").is_file()  # evaluable
    assert not (ckpts[0][1] / "state").exists() and (ckpts[1][1] / "state").is_dir()
    rows = _log(run)
    assert {"forget_nll", "retain_nll", "lr", "grad_norm"} <= set(rows[0])


@dataclass
class _NaNOptions(MethodOptions):
    after: int = 1


@register_method
class _NaNAfter(UnlearningMethod):
    """Test method: GA whose loss turns NaN after ``after`` calls."""

    name = "test-nan"
    Options = _NaNOptions

    def compute_loss(self, ctx, forget, retain):
        self.calls = getattr(self, "calls", 0) + 1
        loss = -nll(ctx.logits(forget.inputs), forget.inputs["labels"])
        return (loss * float("nan") if self.calls > self.options.after else loss), {}


def test_nan_loss_stops_naming_the_step_and_keeps_the_last_good_checkpoint(tiny_data, tiny_base, tmp_path):
    with pytest.raises(FiubenchError, match=r"non-finite loss .* at step 3.*last good checkpoint is step 2"):
        _unlearn(tiny_data, tiny_base, tmp_path / "n", method="test-nan", method_options={"after": 2},
                 max_steps=5, save_every=1, batch_size=4)
    assert [s for s, _ in list_checkpoints(tmp_path / "n")] == [1, 2]
    assert not (tmp_path / "n" / "summary.json").exists() and not (tmp_path / "n" / "model").exists()


def test_bad_input_errors(tiny_data, tiny_base, tmp_path, capsys):
    args = ["unlearn", "--model", str(tiny_base), "--data", str(tiny_data), "--forget", FORGET,
            "--out", str(tmp_path / "x"), "--no-progress"]
    assert main([*args, "--method", "simnpoo"]) == 2
    assert 'Did you mean "simnpo"' in capsys.readouterr().err
    assert main([*args[:5], "--forget", "forget5", *args[7:], "--method", "ga"]) == 2
    err = capsys.readouterr().err
    assert "--forget" in err and "forget5" in err and "forget20" in err
    assert main(["unlearn", "--model", str(tmp_path / "nope"), "--data", str(tiny_data),
                 "--out", str(tmp_path / "y")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main([*args, "--method", "npo", "--method-opt", "bta=1"]) == 2
    assert 'Did you mean "beta"' in capsys.readouterr().err
    assert main([*args, "--retain", "full"]) == 2
    assert "shares" in capsys.readouterr().err
    assert main(["learn", "--data", str(tmp_path / "missing"), "--out", str(tmp_path / "z")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert not (tmp_path / "x").exists() and not (tmp_path / "z").exists()


def test_cli_learn_then_unlearn(tiny_data, tiny_base, tmp_path, capsys):
    ft = tmp_path / "ft"
    assert main(["learn", "--model", str(tiny_base), "--data", str(tiny_data), "--out", str(ft),
                 "--max-steps", "2", "--batch-size", "8", "--no-progress"]) == 0
    assert main(["unlearn", "--model", str(ft / "model"), "--data", str(tiny_data), "--forget", FORGET,
                 "--method", "npo", "--method-opt", "beta=0.5", "--out", str(tmp_path / "u"),
                 "--max-steps", "2", "--save-every", "1", "--no-progress"]) == 0
    s = json.loads((tmp_path / "u" / "summary.json").read_text())
    assert s["method"] == "npo" and s["method_options"]["beta"] == 0.5 and s["steps"] == 2
