"""Sequential deletion requests: one forget split removed in R requests of disjoint people.

Under the Right to be Forgotten requests arrive one after another (PULSE, Kawakami et al.
2025, arXiv 2507.01271): the deployed model is unlearned on request 1, serves, is unlearned
on request 2 from *that* model, and so on. With ``unlearn.requests: R`` the run partitions
each forget split's identities into R requests (a seeded shuffle of the split, then R
contiguous parts whose sizes differ by at most one) and applies each method R times in
sequence, each from the previous request's final model, with the method's own training
budget per request.

Each request's unlearning step reads a *view* of the dataset: a directory of hard links to
the dataset's files (images included) with a ``split.json`` that adds the request splits (``req<i>of<R>-<split>``;
not named ``forget*``, which must be pairwise disjoint). After every request the model is
evaluated once on the whole forget split; the figures on the people removed so far and on
each request's people are recomputed from those per-sample records (``subset_metrics``:
every metric is a pure function of the records), against the retain model's records of the
same people.
"""

from __future__ import annotations

import json
import os
import random
import shutil
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from fiubench.errors import ConfigError
from fiubench.utils.io import atomic_write_text

LINKED = ("full.json", "prompt.json", "profiles.jsonl", "visual_qa.jsonl")


def request_name(split: str, i: int, n: int) -> str:
    """The split name of request ``i`` (1-based) of ``n`` of ``split``."""
    return f"req{i}of{n}-{split}"


def partition(ids: Sequence[str], requests: int, seed: int) -> list[list[str]]:
    """``requests`` disjoint groups of people covering ``ids`` (seeded; each in dataset order)."""
    if requests < 1:
        raise ConfigError(f"run.unlearn.requests: must be >= 1, got {requests}")
    if requests > len(ids):
        raise ConfigError(f"run.unlearn.requests: {requests} requests need at least {requests} forget identities, "
                          f"the split has {len(ids)}")
    order = list(ids)
    random.Random(f"requests:{seed}:{requests}").shuffle(order)
    base, extra = divmod(len(order), requests)
    out, start = [], 0
    for i in range(requests):
        size = base + (1 if i < extra else 0)
        chosen = set(order[start:start + size])
        out.append([u for u in ids if u in chosen])
        start += size
    return out


def _link(src: Path, dst: Path) -> None:
    """A hard link (a copy across file systems): the dataset loader refuses images whose
    resolved path leaves the dataset folder, which a symbolic link would."""
    if dst.exists():
        return
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def write_view(src: Path, dst: Path, splits: Mapping[str, Sequence[str]]) -> Path:
    """``dst``: links to ``src``'s dataset files plus a ``split.json`` with ``splits`` added."""
    merged = json.loads((src / "split.json").read_text(encoding="utf-8"))
    clash = sorted(set(merged) & set(splits))
    if clash:
        raise ConfigError(f"{src}/split.json already has split(s) {clash}: rename them to run sequential requests")
    dst.mkdir(parents=True, exist_ok=True)
    for name in LINKED:
        if (src / name).is_file():
            _link(src / name, dst / name)
    for f in (src / "images").rglob("*") if (src / "images").is_dir() else ():
        if f.is_file():
            out = dst / "images" / f.relative_to(src / "images")
            out.parent.mkdir(parents=True, exist_ok=True)
            _link(f, out)
    merged.update({k: list(v) for k, v in splits.items()})
    atomic_write_text(dst / "split.json", json.dumps(merged, indent=1))
    return dst


def subset(records: Iterable[dict[str, Any]], people: set[str]) -> list[dict[str, Any]]:
    """The records with the forget QA of ``people`` only (retain, holdout, visual kept)."""
    return [r for r in records if not (r.get("kind") == "qa" and r.get("split") == "forget")
            or r.get("unique_id") in people]


def subset_metrics(records: Sequence[dict[str, Any]], retain_records: Sequence[dict[str, Any]],
                   people: set[str], ecfg: Any, judged: bool) -> dict[str, Any]:
    """Every flat metric and the aggregates of a model on the forget people ``people``,
    against the retain model's records of the same people (KS reference, MIA baseline)."""
    from fiubench.eval.compute import (
        RetainReference,
        compute_metrics,
        forget_truth_ratios,
        mia_aucs,
    )
    from fiubench.metrics.aggregate import aggregates
    from fiubench.metrics.version import METRICS_VERSION

    mine, theirs = subset(records, people), subset(retain_records, people)
    own_retain = compute_metrics(theirs, mia_k=ecfg.mia_k, judged=judged, tr_mean=ecfg.truth_ratio_mean,
                                 metrics_version=METRICS_VERSION, self_reference=True)
    ref = RetainReference(forget_truth_ratios(theirs), ecfg.truth_ratio_mean, METRICS_VERSION, mia_aucs(own_retain))
    m = compute_metrics(mine, mia_k=ecfg.mia_k, judged=judged, tr_mean=ecfg.truth_ratio_mean,
                        metrics_version=METRICS_VERSION, reference=ref)
    agg = aggregates(m, ecfg.aggregate, ecfg.skip)
    m["model_utility"], m["forget_quality"] = agg["model_utility"], agg["forget_quality"]
    return m
