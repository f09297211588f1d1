"""Sequential deletion requests in the run (``unlearn.requests: R``; ``pipeline.requests``).

Per forget split, one ``requests/<split>`` step writes the dataset view with the R request
splits. Per variant x method, R unlearning steps form a chain: request 1 starts from the
fine-tuned model, request i from request i-1's final checkpoint, each with the method's own
budget (``unlearn.train``); request i's key covers request i-1's, so a kill between two
requests resumes at the next one and a finished request is never redone. After each
request its final model is evaluated on the whole forget split (stored as the method with
variant ``requests=<i>of<R>``); the single-batch run of the same method (the ordinary
unlearning step, always planned) is the comparison.

After the run, :func:`store_sequential` adds to each request's stored row the figures on the
people removed so far and on each request's people (recomputed from its per-sample
records, ``pipeline.requests.subset_metrics``), and to the last request's row the
*sequential penalty* = single-batch - after-R on FQ and MU with a person-level BCa interval
(``eval.uncertainty.compare_models``: both models were evaluated on the same people).
"""

from __future__ import annotations

import dataclasses
import functools
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from fiubench.errors import FiubenchError
from fiubench.pipeline.requests import partition, request_name, write_view
from fiubench.report.sequential import request_variant


def _view(d: Path, *, data: Path, splits: dict[str, list[str]]) -> dict:
    write_view(data, d / "dataset", splits)
    return {"dataset": "dataset"}


def _after_previous(d: Path, *, previous_run: Path, inner: functools.partial) -> Any:
    """Unlearn one request from the previous request's final checkpoint."""
    from fiubench.train import list_checkpoints

    ckpts = list_checkpoints(previous_run)
    if not ckpts:
        raise FiubenchError(f"{previous_run}: the previous deletion request saved no checkpoint")
    model = dataclasses.replace(inner.keywords["model"], name_or_path=str(ckpts[-1][1] / "model"))
    return inner.func(d, **{**inner.keywords, "model": model})


def plan_requests(p: Any, data: Path, data_key: str, deps: Sequence[Any], learned: dict[str, Any],
                  refs: dict[tuple[str, str], Any], gates: dict[tuple[str, str], Any] | None = None) -> list[Any]:
    """The steps of every request chain (none unless ``unlearn.requests`` > 1).

    ``p``: the run's planner; ``learned``: learn variant -> its fine-tuned model's learn step;
    ``refs``: (learn variant, split) -> the retain model's evaluation step; ``gates``: the
    stage-1 gates every unlearning step waits for."""
    from fiubench.pipeline.graph import Step
    from fiubench.utils.provenance import config_hash

    cfg = p.cfg
    n = cfg.unlearn.requests
    if n <= 1:
        return []
    steps: list[Any] = []
    for split in cfg.forget_splits:
        parts = partition(p.dataset(data).split_ids(split), n, cfg.unlearn.requests_seed)
        names = {request_name(split, i + 1, n): part for i, part in enumerate(parts)}
        view = Step(f"requests/{split}", {"split": split, "requests": n, "splits": names},
                    functools.partial(_view, data=data, splits=names),
                    inputs={"data": p._data_key("unlearn", split, data_key)}, deps=list(deps))
        view_dir = p.cache.path(view.name, view.key) / "dataset"
        view_key = config_hash({"data": view.inputs["data"], "splits": names})
        steps.append(view)
        for v in cfg.variants():
            ft = learned[v.learn_label]
            ft = ft[0] if isinstance(ft, tuple) else ft  # (fine-tuned, retain) learn steps, or the first
            gate = [] if gates is None else [gates[(v.learn_label, split)]]
            for method in cfg.methods:
                prev = None
                for i in range(1, n + 1):
                    label = request_variant(i, n, v.label)
                    u = p.unlearn_step(method, request_name(split, i, n), v, ft, view_dir, view_key,
                                       deps=[view, *deps, *gate], name=f"unlearn/{method}/{split}/{label}")
                    # the request's people are read from the view (its content key), not the dataset
                    u = dataclasses.replace(u, inputs={**u.inputs, "data": view_key})
                    if prev is not None:  # from the previous request's model, not the fine-tuned one
                        prev_run = p.cache.path(prev.name, prev.key) / "run"
                        inputs = {k: val for k, val in u.inputs.items() if k != "finetuned"}
                        u = dataclasses.replace(
                            u, fn=functools.partial(_after_previous, previous_run=prev_run, inner=u.fn),
                            inputs={**inputs, "previous": prev.key}, deps=[prev, view, *deps, *gate])
                    u.then = functools.partial(_evaluate_request, p=p, method=method, split=split, label=label,
                                               ref=refs[(v.learn_label, split)], data=data, data_key=data_key)
                    u.meta["request"] = {"method": method, "split": split, "i": i, "n": n, "variant": v.label}
                    steps.append(u)
                    prev = u
    return steps


def _evaluate_request(res: Any, *, p: Any, method: str, split: str, label: str, ref: Any, data: Path,
                      data_key: str) -> list[Any]:
    from fiubench.train import list_checkpoints
    from fiubench.utils.provenance import config_hash

    ckpts = list_checkpoints(res.path / "run")
    if not ckpts:
        return []
    step, path = ckpts[-1]
    name = f"{method}/{split}/{label}"
    return [p.eval_step(name, path / "model", config_hash({"unlearn": res.key, "step": step}), split, data,
                        data_key, ref, store={"model": name, "role": "unlearned", "split": split, "variant": label,
                                              "method": method, "step": step, "final": True})]


def _eval_dir(done: Sequence[tuple[Any, Any]], **match: Any) -> tuple[Any, Path] | None:
    for step, res in done:
        st = step.meta.get("store") or {}
        if st and all(st.get(k) == v for k, v in match.items()):
            return st, res.path / "eval"
    return None


def store_sequential(cfg: Any, cache: Any, store: Any, run: str, done: Sequence[tuple[Any, Any]]) -> None:
    """Per-request figures and the sequential penalty, added to the stored request rows."""
    n = cfg.unlearn.requests
    if n <= 1:
        return
    for step, _res in done:
        meta = step.meta.get("request")
        if not meta:
            continue
        rows = _request_figures(cfg, cache, done, meta)
        if rows is not None:
            st, metrics, info = rows
            store.add(metrics, run=run, model=st["model"], role="unlearned", config_hash=_key(done, st),
                      method=st["method"], forget_split=st["split"], variant=st["variant"], step=st["step"],
                      final=True, metric_info=info)


def _key(done: Sequence[tuple[Any, Any]], st: dict[str, Any]) -> str:
    return next(res.key for step, res in done if step.meta.get("store") is st)


def _request_figures(cfg: Any, cache: Any, done: Sequence[tuple[Any, Any]], meta: dict[str, Any]) -> Any:
    from fiubench.eval.result import EvalResult
    from fiubench.pipeline.requests import subset_metrics

    split, i, n, method = meta["split"], meta["i"], meta["n"], meta["method"]
    mine = _eval_dir(done, split=split, method=method, variant=request_variant(i, n, meta["variant"]), final=True)
    learn_label = ",".join(x for x in meta["variant"].split(",") if x.split("=", 1)[0] in _learn_dims())
    retain = _eval_dir(done, split=split, role="retain", variant=learn_label)
    if mine is None or retain is None:
        return None
    st, ev = mine
    ecfg = cfg.eval_config(split)
    judged = ecfg.judge.backend != "none"
    records, ref_records = EvalResult.load(ev).records, EvalResult.load(retain[1]).records
    parts = json.loads((cache.path(f"requests/{split}", _view_key(done, split)) / "dataset" / "split.json")
                       .read_text(encoding="utf-8"))
    people = [set(parts[request_name(split, j, n)]) for j in range(1, n + 1)]
    removed = set().union(*people[:i])
    out: dict[str, float | None] = {"seq.request": float(i), "seq.requests": float(n)}
    fig = subset_metrics(records, ref_records, removed, ecfg, judged)
    out["seq.removed.forget_quality"] = fig["forget_quality"]
    out["seq.removed.exact_match"] = fig["forget.exact_match"]
    for j in range(1, n + 1):
        out[f"seq.req{j}.forget_quality"] = subset_metrics(records, ref_records, people[j - 1], ecfg,
                                                           judged)["forget_quality"]
    if i == n:
        single = _eval_dir(done, split=split, method=method, variant=meta["variant"], final=True)
        if single is not None:
            out.update(_penalty(single[1], ev, retain[1], ecfg, cfg.uncertainty))
    info = {k: {"higher_is_better": None if k.startswith("seq.request") else
                (not k.startswith("seq.penalty"))} for k in out}
    return st, out, info


def _learn_dims() -> tuple[str, ...]:
    from fiubench.pipeline.config import LEARN_DIMS

    return LEARN_DIMS


def _view_key(done: Sequence[tuple[Any, Any]], split: str) -> str:
    return next(res.key for step, res in done if step.name == f"requests/{split}")


def _penalty(single: Path, after: Path, retain: Path, ecfg: Any, u: Any) -> dict[str, float | None]:
    """single-batch - after-R on FQ and MU, with a person-level paired BCa interval."""
    from fiubench.eval.result import EvalResult
    from fiubench.eval.uncertainty import IdentitySamples, ModelFigures, compare_models

    ref = EvalResult.load(retain).forget_truth_ratios()
    figs = [ModelFigures([IdentitySamples(EvalResult.load(d).records, ecfg.aggregate, mia_k=ecfg.mia_k,
                                          reference=ref)], ecfg.skip) for d in (single, after)]
    out: dict[str, float | None] = {}
    rows = {c.metric: c for c in compare_models(*figs, n_resamples=max(u.n_boot, 200), n_permutations=max(u.n_boot, 200),
                                                seed=u.seed)}
    for metric, name in (("forget_quality", "fq"), ("model_utility", "mu")):
        c = rows.get(metric)
        out[f"seq.penalty_{name}"] = None if c is None else c.estimate
        out[f"seq.penalty_{name}_low"] = None if c is None else c.low
        out[f"seq.penalty_{name}_high"] = None if c is None else c.high
    return out
