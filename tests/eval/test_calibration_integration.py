"""The calibration check on a trained model: it separates people a model saw from people it
never saw (slow: trains a tiny VLM for a few hundred steps).

One model is trained on the retain identities only. For it the forget identities and
the holdout identities are both never seen, so the check must pass (exchangeable
perturbed answers); its own training identities are seen, so comparing them with the
holdout identities must be flagged. This is the control the check has to separate.
(Measured with the person-level check, 10 + 10 identities: never seen D 0.090, identity-
permutation p 0.2, mean ln R forget +0.023 [-0.071, +0.097], holdout -0.001, 0 of 20
fields off; seen mean ln R -1.11 [-1.17, -1.02], p 0.0015. With the answer-level screen of
metrics version <= 5: never seen KS p 0.55 and 0.22, seen median ln R -0.87.)
"""

from __future__ import annotations

from pathlib import Path

import pytest

from fiubench.eval.compute import calibration_units, retain_calibration
from fiubench.metrics.calibration import person_calibration

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory, tiny_vlm_dir: Path):  # type: ignore[no-untyped-def]
    from fiubench.data import load_dataset
    from fiubench.data.build import DataConfig, build_dataset
    from fiubench.models import ModelConfig, load_vlm
    from fiubench.train import LearnConfig, learn
    from fiubench.train.config import train_preset

    root = tmp_path_factory.mktemp("calib")
    data = build_dataset(DataConfig(n_identities=20, qa_per_identity=20, holdout_fraction=0.5, seed=1,
                                    forget_percents=(50,), retain_percents=(10,)), root / "data")
    run = learn(LearnConfig(data=data, out=root / "retain", split="retain",
                            model=ModelConfig(name_or_path=str(tiny_vlm_dir)),
                            train=train_preset("tiny", progress=False, epochs=20)))
    return load_vlm(ModelConfig(name_or_path=str(run / "model"), device="cpu")), load_dataset(data)


def test_check_separates_seen_from_never_seen_people(trained) -> None:  # type: ignore[no-untyped-def]
    from fiubench.eval import EvalConfig, evaluate
    from fiubench.metrics.judge import JudgeConfig

    vlm, ds = trained
    cfg = EvalConfig(forget="forget50", retain_max_identities=None, visual=False, paraphrase_generations=False,
                     max_new_tokens=1, batch_size=64, judge=JudgeConfig(backend="none"),
                     skip=["judge", "visual", "forget.ape"])
    r = evaluate(vlm, ds, cfg, retain_reference="self")
    unseen = retain_calibration(r.records)  # forget vs holdout: both never seen
    retain = [dict(x, split="forget") if x.get("split") == "retain" else x
              for x in r.records if x.get("split") != "forget"]
    f, h, fields = calibration_units(retain)  # its own training identities vs holdout
    assert len(f) == len(h) == unseen.k_forget == unseen.k_holdout == 10  # 20 QA each
    seen = person_calibration(f, h, fields=fields)
    print("never seen:", unseen.summary())
    print("seen:", seen.summary())
    assert unseen.ok, unseen.summary()
    assert r.metrics["calibration.ok"] == 1.0
    assert not seen.ok and seen.splits[0].mean < -0.5 and seen.p_split < 0.05, seen.summary()
