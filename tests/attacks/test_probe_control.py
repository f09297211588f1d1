"""The hidden-state probe's control: on tiny models trained to answer one categorical
attribute about every face, the probe reads the forget people's value from the model
that learnt them (fine-tuned) and is near chance on the model that never saw them
(retain).

Measured (24 people, forget 6, test_results with 5 values, 80 epochs): the probe reads
the fine-tuned model at 100 % (middle and last layer), the retain model at 11 % (chance,
the majority share of the training labels: 38 %); the fine-tuned - retain interval over
the 6 people is [50, 100].

Slow: two short fine-tunings on 2 CPU cores (about 35 min when the machine is shared).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from fiubench.attacks import AttackContext, run_attack

pytestmark = pytest.mark.slow

ATTRIBUTE = "test_results"  # 5 values


def _train(data: Path, base: Path, out: Path, people: list, epochs: int) -> Path:
    from fiubench.attacks.hidden_probe import questions
    from fiubench.models import ModelConfig
    from fiubench.train import train_preset
    from fiubench.train.learn import finetune

    # exactly the (question, answer start) the probe reads, completed with the value
    items = [(p.image_path, q, f"{pre} {p.profile[ATTRIBUTE]}.") for p in people for _, q, pre in questions(p, ATTRIBUTE)]
    train = train_preset("tiny", progress=False, epochs=epochs)
    return finetune(ModelConfig(name_or_path=str(base)), items, out, train, {"test": "probe control", "train": train},
                    kind="probe_control") / "model"


@pytest.fixture(scope="module")
def probe_models(tiny_vlm_dir, tmp_path_factory):
    from fiubench.data import load_dataset
    from fiubench.data.build import DataConfig, build_dataset

    root = tmp_path_factory.mktemp("probe_control")
    build_dataset(DataConfig(n_identities=24, qa_per_identity=1, seed=1, holdout_fraction=0.1,
                             forget_percents=(25,), retain_percents=(25,), select="random"), root / "data")
    ds = load_dataset(root / "data")
    forget = {p.unique_id for p in ds.split("forget25")}
    retain = [p for p in ds.split("retain") if p.unique_id not in forget]
    return ds, {"finetuned": _train(root / "data", tiny_vlm_dir, root / "ft", [*retain, *ds.split("forget25")], 80),
                "retain": _train(root / "data", tiny_vlm_dir, root / "rt", retain, 80)}


def test_probe_reads_the_fine_tuned_model_and_is_at_chance_on_the_retain_model(probe_models, tmp_path):
    from fiubench.attacks.summary import summarise_attacks

    ds, models = probe_models
    out = {}
    for role, path in models.items():
        ctx = AttackContext(dataset=ds, forget="forget25", work=tmp_path / role, model_overrides={"device": "cpu"})
        out[role] = run_attack("hidden_probe", {"attribute": ATTRIBUTE}, path, ctx, tmp_path / "out" / role)
    ft, rt = (max(out[r]["variants"].values()) for r in ("finetuned", "retain"))
    chance = out["retain"]["info"]["chance"]
    assert ft >= 0.8, out["finetuned"]
    assert rt <= chance + 0.2, out["retain"]  # never saw the forget people: chance
    s = summarise_attacks({r: {"hidden_probe": out[r]} for r in out}, {"hidden_probe": out["finetuned"]},
                          {"hidden_probe": out["retain"]}, n_boot=200)
    assert s["metrics"]["finetuned"]["attack.hidden_probe.informative"] == 1.0
    assert s["worst_attack"]["finetuned"] is None  # a reading of the weights is never the worst case
