"""Poisoned checkpoints: a step whose weights become non-finite stops with a clear
error, keeps the last finite checkpoint and is never marked done."""

from __future__ import annotations

import pytest

from fiubench.cli.main import main


@pytest.mark.parametrize("lr", ["inf", "1e39", "nan"])
def test_learning_rates_that_poison_weights_are_rejected_before_loading(micro_dataset, random_tiny, tmp_path,
                                                                       capsys, lr):
    out = tmp_path / "u"
    rc = main(["unlearn", "--model", str(random_tiny), "--data", str(micro_dataset), "--method", "ga",
               "--forget", "forget10", "--out", str(out), "--lr", lr, "--max-steps", "1"])
    err = capsys.readouterr().err
    assert rc == 2 and "lr: must be a finite number" in err and "Traceback" not in err, err
    assert not out.exists()


def test_weights_that_become_non_finite_are_never_saved_nor_marked_done(micro_dataset, random_tiny, tmp_path,
                                                                       monkeypatch):
    """The finite-loss, poisoned-weights case (issue: lr .inf, max_steps 1): validation is
    bypassed to reach the loop's own guard, the last line of defence."""
    from fiubench.models import ModelConfig
    from fiubench.train import UnlearnConfig, UnlearnTrainConfig, list_checkpoints, unlearn
    from fiubench.train.config import TrainConfig
    from fiubench.train.loop import NonFiniteLoss

    monkeypatch.setattr(TrainConfig, "validate", lambda self, where="train": None)
    out = tmp_path / "u"
    train = UnlearnTrainConfig(lr=float("inf"), max_steps=1, save_every=1, batch_size=2, progress=False)
    with pytest.raises(NonFiniteLoss, match=r"weights became non-finite .* at step 1.*no checkpoint"):
        unlearn(UnlearnConfig(model=ModelConfig(name_or_path=str(random_tiny), device="cpu"), data=micro_dataset,
                              out=out, method="ga", forget="forget10", train=train))
    assert list_checkpoints(out) == []
    assert not (out / "summary.json").exists() and not (out / "model").exists()


def test_a_failed_step_is_never_cached(tmp_path):
    from fiubench.pipeline.cache import MARKER, StepCache

    cache = StepCache(tmp_path)

    def poisoned(d):
        (d / "half").write_text("x")
        raise RuntimeError("weights went NaN")

    with pytest.raises(RuntimeError):
        cache.run("unlearn/ga/forget10", {"lr": 1.0}, poisoned)
    assert not list(tmp_path.rglob(MARKER))
    ran = cache.run("unlearn/ga/forget10", {"lr": 1.0}, lambda d: {"ok": True})
    assert ran.ran
