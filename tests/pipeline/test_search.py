"""Hyperparameter selection without peeking: candidates, the rule, the split checks, the
selection table (fast), and a search on the smoke preset end to end (slow)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from fiubench.errors import ConfigError
from fiubench.pipeline.search import Point, SearchSection, check_splits, select, stop_at
from fiubench.report.selection import selection_table


def test_grid_and_random_candidates():
    s = SearchSection(strategy="grid", lr=[1e-4, 1e-3], max_steps=[2, 4],
                      method_options={"npo": {"beta": [0.1, 0.5]}})
    assert [c.values for c in s.candidates("ga")] == [
        {"lr": 1e-4, "max_steps": 2}, {"lr": 1e-4, "max_steps": 4},
        {"lr": 1e-3, "max_steps": 2}, {"lr": 1e-3, "max_steps": 4},
    ]
    npo = s.candidates("npo")
    assert len(npo) == 8 and npo[0].train == {"lr": 1e-4, "max_steps": 2} and npo[0].options == {"beta": 0.1}
    assert npo[0].label == "lr=0.0001,max_steps=2,beta=0.1"
    r = SearchSection(strategy="random", lr=[1e-4, 1e-3], max_steps=[2, 4], n_trials=3, seed=1)
    a, b = r.candidates("ga"), r.candidates("ga")
    assert len(a) == 3 and [c.values for c in a] == [c.values for c in b]  # seeded
    assert len({c.label for c in a}) == 3  # without replacement
    assert len(SearchSection(strategy="random", lr=[1e-4], n_trials=5).candidates("ga")) == 1


def P(i, step, mu, fq, epoch=None):  # noqa: N802 - a short constructor for the table below
    return Point(i, step, float(step) if epoch is None else epoch, mu, fq)


def test_selection_rule():
    pts = [P(0, 1, 0.95, 0.2), P(0, 2, 0.85, 0.9), P(1, 1, 0.92, 0.6), P(1, 2, 0.91, 0.6)]
    best, ok = select(pts, finetuned_utility=1.0, ratio=0.9)
    # 0.85 is under the floor 0.9 despite the best FQ; 0.6 ties -> higher utility (0.92)
    assert ok and (best.index, best.step) == (1, 1)
    best, ok = select(pts, finetuned_utility=1.0, ratio=0.99)
    assert not ok and (best.index, best.step) == (0, 1)  # nobody qualifies: highest utility
    tie = [P(1, 2, 0.9, 0.5), P(0, 3, 0.9, 0.5), P(0, 2, 0.9, 0.5)]
    best, _ = select(tie, 1.0, 0.5)
    assert (best.index, best.step) == (0, 2)  # earlier checkpoint, then earlier candidate
    assert select([P(0, 1, 0.9, None), P(0, 2, 0.9, 0.1)], 1.0, 0.5)[0].step == 2  # missing FQ never wins


def test_stop_at_the_chosen_epoch():
    ck = [(6, 0.5, "a"), (12, 1.0, "b"), (18, 1.5, "c")]
    assert [c[0] for c in stop_at(ck, 1.0)] == [6, 12]
    assert [c[0] for c in stop_at(ck, 0.1)] == [6]  # never empty
    assert [c[0] for c in stop_at(ck, 9.0)] == [6, 12, 18]


class _DS:
    def __init__(self, splits):
        self.splits = splits

    def split_ids(self, name):
        if name not in self.splits:
            raise KeyError(name)
        return self.splits[name]


SPLITS = {"full": list("abcdefgh"), "forget10": ["a", "b"], "forget_val": ["c"], "retain": list("defgh"),
          "retain_val": ["h"], "retain_test": list("defg")}


def _check(**over):
    kw = dict(forget_splits=["forget10"], eval_retain="retain_test", learn_full="full", learn_retain="retain")
    kw.update(over)
    search = SearchSection(strategy="grid", lr=[1e-4])
    check_splits(search, _DS(SPLITS), **kw)


def test_validation_identities_must_be_disjoint_from_the_evaluated_ones():
    _check()
    with pytest.raises(ConfigError, match=r"run.eval.retain_split 'retain'.*retain_test"):
        _check(eval_retain="retain")
    with pytest.raises(ConfigError, match="would peek"):
        check_splits(SearchSection(strategy="grid", forget_split="forget10", retain_split="retain_val"),
                     _DS(SPLITS), forget_splits=["forget10"], eval_retain="retain_test", learn_full="full",
                     learn_retain="retain")
    with pytest.raises(ConfigError, match="never-saw-them"):
        _check(learn_retain="full")
    with pytest.raises(ConfigError, match="data.val_percent"):
        check_splits(SearchSection(strategy="grid"), _DS({k: v for k, v in SPLITS.items() if k != "forget_val"}),
                     forget_splits=["forget10"], eval_retain="retain_test", learn_full="full", learn_retain="retain")


def test_run_config_checks_the_search_section():
    from fiubench.pipeline.config import RunConfig
    from fiubench.presets import load_run_config

    cfg = load_run_config("smoke_search", None)
    assert cfg.search.active and len(cfg.search.lr) >= 2
    bad = RunConfig(methods=["ga"], search=SearchSection(strategy="grid", method_options={"npo": {"beta": [1]}}))
    with pytest.raises(ConfigError, match=r"run.search.method_options.npo"):
        bad.validate()
    bad = RunConfig(methods=["npo"], search=SearchSection(strategy="grid", method_options={"npo": {"bta": [1]}}))
    with pytest.raises(ConfigError, match='Did you mean "beta"'):
        bad.validate()
    from fiubench.pipeline.config import SweepSection

    bad = RunConfig(methods=["ga"], sweep=SweepSection(unlearn_lr=[1e-4]), search=SearchSection(strategy="grid",
                                                                                                  lr=[1e-3]))
    with pytest.raises(ConfigError, match="not both"):
        bad.validate()


def test_data_build_validation_splits(tmp_path):
    from fiubench.data import load_dataset
    from fiubench.data.build import DataConfig, build_dataset

    out = build_dataset(DataConfig(n_identities=20, qa_per_identity=1, forget_percents=(5, 10), retain_percents=(5,),
                                   val_percent=10, select="random", image_size=16), tmp_path / "d")
    ds = load_dataset(out)
    ids = {s: set(ds.split_ids(s)) for s in ("forget5", "forget10", "forget_val", "retain", "retain5",
                                             "retain_val", "retain_test", "full", "holdout")}
    assert len(ids["forget_val"]) == 2 and len(ids["retain_val"]) == 2
    assert ids["forget_val"] <= ids["full"] and not ids["forget_val"] & (ids["retain"] | ids["forget10"]
                                                                          | ids["forget5"])
    assert ids["retain_val"] <= ids["retain"] and not ids["retain_val"] & ids["retain5"]
    assert ids["retain_test"] == ids["retain"] - ids["retain_val"]
    with pytest.raises(ConfigError, match="val_percent"):
        DataConfig(n_identities=10, forget_percents=(10,), retain_percents=(50,), val_percent=30).validate()


def test_selection_table():
    rec = {"method": "ga", "variant": "", "forget_split": "forget_val", "retain_split": "retain_val",
           "rule": "highest FQ", "finetuned_utility": 0.8, "utility_floor": 0.72, "select_checkpoint": True,
           "met_floor": True, "candidates": [{"lr": 1e-4}, {"lr": 1e-3}],
           "chosen": {"index": 1, "step": 2, "epoch": 1.0, "utility": 0.75, "forget_quality": 0.6,
                      "label": "lr=0.001", "setting": {"lr": 1e-3}},
           "evaluation": {"forget10": {"step": 2, "model_utility": 0.7, "forget_quality": 0.5}}}
    t = selection_table([rec])
    (label, cells), = t.rows
    assert label == "ga"
    text = dict(zip([c.header for c in t.columns], cells, strict=True))
    assert text["selection split"] == "forget_val + retain_val"
    assert text["candidates"] == "2: lr=0.0001; lr=0.001" and text["chosen setting"] == "lr=0.001"
    assert text["val FQ"] == 0.6 and text["eval split"] == "forget10 (step 2)" and text["eval FQ"] == 0.5


@pytest.mark.slow
def test_search_on_the_smoke_preset(tmp_path: Path) -> None:
    from fiubench.report.store import ResultsStore

    out = tmp_path / "run"
    res = subprocess.run([sys.executable, "-m", "fiubench", "sweep", "--preset", "smoke_search", "--out", str(out)],
                         capture_output=True, text=True, timeout=1500)
    assert res.returncode == 0, res.stderr[-3000:]
    sel = json.loads((out / "selection.json").read_text())["selections"]
    assert {s["method"] for s in sel} == {"ga", "po"}
    for s in sel:
        assert s["forget_split"] == "forget_val" and s["retain_split"] == "retain_val"
        assert len({c["lr"] for c in s["candidates"]}) >= 2
        assert s["chosen"]["setting"]["lr"] in {c["lr"] for c in s["candidates"]}
        assert len(s["points"]) == 2 * len(s["candidates"])  # every checkpoint of every candidate scored
        ev = s["evaluation"]["forget10"]
        assert ev["forget_quality"] is not None and ev["step"] <= 2
        # the reported model is the chosen setting, stopped at the chosen epoch
        with ResultsStore(out / "results.sqlite", create=False) as st:
            rows = st.rows(method=s["method"], metric="forget_quality")
        finals = [r for r in rows if r.final]
        assert len(finals) == 1 and finals[0].step == ev["step"] and max(r.step for r in rows) == ev["step"]
        assert finals[0].forget_split == "forget10"
    with ResultsStore(out / "results.sqlite", create=False) as st:
        assert set(st.distinct("forget_split")) == {"forget10"}  # validation evaluations never reach the store
    html = (out / "report" / "index.html").read_text()
    assert 'id="selection"' in html and "forget_val + retain_val" in html and "lr=0.001" in html
    assert (out / "report" / "tables" / "selection.csv").is_file()
    # the candidates unlearned the validation identities; the reported run unlearned forget10
    for method in ("ga", "po"):
        for lr in ("0.0001", "0.001"):
            (run,) = (out / "steps").glob(f"search_unlearn_{method}_lr={lr}-*")
            assert json.loads((run / "run" / "summary.json").read_text())["forget"] == "forget_val"
    (run,) = (out / "steps").glob("unlearn_ga_forget10-*")
    assert json.loads((run / "run" / "summary.json").read_text())["forget"] == "forget10"


def test_sweep_command_fills_the_search_section():
    import argparse

    from fiubench.cli.sweep import overrides
    from fiubench.presets import load_run_config, raw_config

    args = argparse.Namespace(lr=[1e-4, 1e-3], epochs=None, max_steps=[2], random=None, min_utility_ratio=None)
    raw = raw_config("smoke", None)
    cfg = load_run_config("smoke", None, overrides(args, raw))
    assert cfg.search.strategy == "grid" and cfg.search.lr == [1e-4, 1e-3] and cfg.search.max_steps == [2]
    assert cfg.data.val_percent == 10 and cfg.eval.retain_split == "retain_test"  # validation identities
    args.random = 1
    assert load_run_config("smoke", None, overrides(args, raw)).search.strategy == "random"
