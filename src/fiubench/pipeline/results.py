"""From finished steps to rows of ``results.sqlite``.

Evaluations (:func:`store_eval`), attack summaries joined to the attacked models'
rows (:func:`store_attacks`) and the bootstrap intervals / paired comparisons of the
final models (:func:`store_uncertainty`, a cached step of its own).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from fiubench.pipeline.cache import StepCache, StepResult
from fiubench.pipeline.config import RunConfig
from fiubench.pipeline.graph import Step
from fiubench.pipeline.plan import AttackTarget
from fiubench.pipeline.steps import step_name
from fiubench.pipeline.uncertainty import ModelGroup, seedless
from fiubench.report.store import ResultsStore
from fiubench.utils.config import to_dict
from fiubench.utils.io import atomic_write_json
from fiubench.utils.provenance import config_hash


def store_eval(store: ResultsStore, res: StepResult, *, run: str, model: str, role: str, split: str, variant: str,
               method: str | None = None, step: int = 0, final: bool = False) -> None:
    """An evaluation step's rows (refused when its metrics version is not this fiubench's)."""
    from fiubench.errors import FiubenchError
    from fiubench.metrics.version import METRICS_VERSION, version_of

    results = json.loads((res.path / "eval" / "results.json").read_text(encoding="utf-8"))
    if version_of(results) != METRICS_VERSION:  # never store old definitions beside new ones
        raise FiubenchError(
            f"{res.path / 'eval'}: evaluated with metrics version {version_of(results)}, this fiubench "
            f"computes version {METRICS_VERSION}; delete that step directory to re-evaluate"
        )
    store.add_results_json(
        results, run=run, model=model, role=role, config_hash=res.key, method=method,
        forget_split=split, variant=variant, step=step, final=final,
    )


def store_attacks(store: ResultsStore, ordered: Sequence[tuple[Step, StepResult]], cfg: RunConfig,
                  run: str) -> None:
    """Summarise every attack per (learning variant, forget split) with its two baselines
    and store the attack metrics on the attacked models' evaluation rows (``ordered``:
    the finished steps in run order)."""
    from fiubench.attacks.runner import summarise_attacks
    from fiubench.metrics.robustness import robust_forget_quality

    groups: dict[tuple[str, str], dict[str, tuple[AttackTarget, dict[str, Any]]]] = {}
    step_keys: dict[str, list[str]] = {}  # the attack steps' keys: what the rows' config_hash is made of
    for step, res in ordered:
        a = step.meta.get("attack")
        if not a:
            continue
        t: AttackTarget = a["target"]
        key = f"{t.role}:{t.label}:{t.variant.label}"
        step_keys.setdefault(key, []).append(res.key)
        result = json.loads((res.path / "attack" / "result.json").read_text(encoding="utf-8"))
        group = groups.setdefault((t.variant.learn_label, t.split), {})
        group.setdefault(key, (t, {}))[1][a["name"]] = result
    from fiubench.metrics.version import version_of

    for group in groups.values():
        outcomes = {k: o for k, (_, o) in group.items()}
        ft = next((o for k, (t, o) in group.items() if t.role == "finetuned"), None)
        rt = next((o for k, (t, o) in group.items() if t.role == "retain"), None)
        summary = summarise_attacks(outcomes, ft, rt, cfg.attacks.margin)
        for k, (t, _) in group.items():
            metrics = dict(summary["metrics"][k])
            ev = json.loads((t.eval_dir / "eval" / "results.json").read_text(encoding="utf-8"))
            # worst = the worst case's adjusted score; a marked model (below retain, utility
            # collapsed under attack) is not ranked robust: no robust FQ
            metrics["forget_quality_robust"] = robust_forget_quality(
                ev.get("metrics", {}), metrics.get("attack.worst"), cfg.eval.aggregate, cfg.eval.skip,
                marked=bool(metrics.get("attack.marked")))
            info = {n: {"higher_is_better": n == "forget_quality_robust"} for n in metrics
                    if not n.endswith(".informative")}
            store.add(metrics, run=run, model=t.label, role=t.role,
                      # step keys, not the outcomes (timings, absolute paths): the same rows whatever the run directory
                      config_hash=config_hash({"attacks": sorted(step_keys[k]), "eval": t.eval_dir.name}),
                      method=t.method,
                      forget_split=t.split,
                      variant=t.variant.label if t.role == "unlearned" else t.variant.learn_label,
                      step=t.step, final=t.final, metric_info=info,
                      metrics_version=version_of(ev), definitions=ev.get("definitions"))


def final_groups(done: Sequence[tuple[Step, StepResult]], splits: Sequence[str]) -> dict[str, list[ModelGroup]]:
    """Per forget split, the final evaluations grouped by model over seeds (in run order).

    A stored evaluation's reference is its step's "reference" dependency (the retain
    model's evaluation); the retain model is its own reference.
    """
    from fiubench.pipeline.config import LEARN_DIMS

    out: dict[str, dict[tuple, ModelGroup]] = {s: {} for s in splits}
    for step, res in done:
        meta = step.meta.get("store")
        if not meta or (meta["role"] == "unlearned" and not meta.get("final")):
            continue
        split, variant = meta["split"], meta["variant"]
        learn_variant = ",".join(p for p in variant.split(",") if p.split("=", 1)[0] in LEARN_DIMS)
        key = (meta["role"], meta.get("method"), seedless(variant))
        model = meta["model"] if meta["role"] != "unlearned" else f"{meta['method']}/{split}"
        g = out.setdefault(split, {}).setdefault(key, ModelGroup(
            step_name(model, seedless(variant)), meta["role"], meta.get("method"), seedless(variant),
            seedless(learn_variant)))
        g.evals.append(res.path / "eval")
        ref = step.inputs.get("reference")
        if meta["role"] == "retain" or ref is None:
            g.references.append("self" if meta["role"] == "retain" else None)
        else:
            ref_step = next(s for s, _ in done if s.key == ref)
            g.references.append(done_path(done, ref_step) / "eval")
    return {s: list(groups.values()) for s, groups in out.items() if groups}


def done_path(done: Sequence[tuple[Step, StepResult]], step: Step) -> Path:
    return next(r.path for s, r in done if s is step)


def store_uncertainty(store: ResultsStore, cache: StepCache, cfg: RunConfig, run: str, split: str,
                      groups: list[ModelGroup]) -> None:
    """Bootstrap intervals and paired comparisons of the final models on ``split``
    (a cached step of its own, run by the driver: it reads finished evaluations)."""
    from fiubench.metrics.inference import INFERENCE_VERSION
    from fiubench.pipeline.uncertainty import run_uncertainty
    from fiubench.report.store import ComparisonRow, IntervalRow

    u = cfg.uncertainty
    ecfg = cfg.eval_config(split)
    inputs = {f"{g.model}#{i}": p.parent.name for g in groups for i, p in enumerate(g.evals)}
    step_cfg = {"uncertainty": to_dict(u), "aggregate": to_dict(ecfg.aggregate), "skip": list(ecfg.skip),
                "mia_k": ecfg.mia_k, "groups": [(g.model, g.role, g.method, g.variant) for g in groups],
                "inference_version": INFERENCE_VERSION}

    def fn(d: Path) -> dict:
        res = run_uncertainty(groups, ecfg, u.n_boot, u.level, u.seed, correction=u.correction)
        atomic_write_json(d / "uncertainty.json", res)
        return {"intervals": len(res["intervals"]), "comparisons": len(res["comparisons"])}

    step = cache.run(f"uncertainty/{split}", step_cfg, fn, inputs=inputs, seed=u.seed)
    res = json.loads((step.path / "uncertainty.json").read_text(encoding="utf-8"))
    store.add_intervals(IntervalRow(run=run, forget_split=split, level=res["level"],
                                    n_boot=res["n_boot"], **row) for row in res["intervals"])
    store.add_comparisons(ComparisonRow(run=run, forget_split=split, level=res["level"], **row)
                          for row in res["comparisons"])
