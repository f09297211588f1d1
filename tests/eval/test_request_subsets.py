"""Sequential deletion requests (pipeline.requests): the partition into disjoint requests, the
dataset view its unlearning steps read, and the figures on a subset of the forget people
recomputed from one evaluation's records: on all people they are the evaluation's own,
and the retain model on any subset scores as the retain model (KS p = 1, the null case)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fiubench.errors import ConfigError
from fiubench.eval.config import EvalConfig
from fiubench.metrics.judge import JudgeConfig
from fiubench.pipeline.requests import partition, request_name, subset_metrics, write_view


def test_requests_are_disjoint_seeded_and_cover_the_split() -> None:
    ids = [f"{i:08d}" for i in range(10)]
    parts = partition(ids, 4, seed=0)
    assert sorted(len(p) for p in parts) == [2, 2, 3, 3]
    assert sorted(u for p in parts for u in p) == ids and len({u for p in parts for u in p}) == 10
    assert parts == partition(ids, 4, seed=0) and parts != partition(ids, 4, seed=1)
    assert all(p == sorted(p) for p in parts)  # dataset order inside a request
    with pytest.raises(ConfigError, match="unlearn.requests"):
        partition(ids[:2], 3, 0)


def test_the_view_adds_request_splits_that_load(eval_data_dir: Path, tmp_path: Path) -> None:
    from fiubench.data import load_dataset

    ds = load_dataset(eval_data_dir)
    parts = partition(ds.split_ids("forget5"), 2, 0)
    view = write_view(eval_data_dir, tmp_path / "view", {request_name("forget5", i + 1, 2): p
                                                         for i, p in enumerate(parts)})
    loaded = load_dataset(view)  # request splits are not "forget*": no disjointness clash
    assert loaded.split_ids("req1of2-forget5") == parts[0] and loaded.split_ids("forget5") == ds.split_ids("forget5")
    assert json.loads((eval_data_dir / "split.json").read_text()).get("req1of2-forget5") is None  # source untouched
    with pytest.raises(ConfigError, match="already has split"):
        write_view(eval_data_dir, tmp_path / "view2", {"forget5": parts[0]})


@pytest.fixture(scope="module")
def evaluated(eval_vlm, eval_dataset):  # type: ignore[no-untyped-def]
    from fiubench.eval.runner import evaluate

    ecfg = EvalConfig(forget="forget5", judge=JudgeConfig(backend="none"), skip=["judge"], max_new_tokens=6,
                      visual_max_new_tokens=3)
    return ecfg, evaluate(eval_vlm, eval_dataset, ecfg, "self")


def test_subset_figures_on_all_people_are_the_evaluations_own(evaluated) -> None:
    ecfg, res = evaluated
    people = {r["unique_id"] for r in res.records if r.get("kind") == "qa" and r.get("split") == "forget"}
    m = subset_metrics(res.records, res.records, people, ecfg, judged=False)
    for name in ("forget.exact_match", "forget.ape", "forget.ks_p", "mia.auc_min_k_pp", "forget_quality",
                 "model_utility"):
        assert m[name] == pytest.approx(res.metrics[name]), name
    one = subset_metrics(res.records, res.records, {sorted(people)[0]}, ecfg, judged=False)
    assert one["forget.ks_p"] == pytest.approx(1.0)  # the retain model against itself, on any subset
    qa = [r for r in res.records if r.get("kind") == "qa" and r.get("split") == "forget"
          and r["unique_id"] == sorted(people)[0]]
    assert one["forget.exact_match"] == pytest.approx(sum(r["exact_match"] for r in qa) / len(qa))
