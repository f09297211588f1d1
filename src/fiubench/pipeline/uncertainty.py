"""The run's uncertainty step: bootstrap intervals and paired comparisons of final models.

Per forget split, every final model group (retain, fine-tuned, each method; the runs of
one group differ only by their seed) is bootstrapped over identities (and seeds) with
the same draws (:mod:`fiubench.eval.uncertainty`), then compared pairwise: each method
vs the retain model and vs every other method of the same variant, and the fine-tuned
vs the retain model. A difference whose 95 % interval includes 0 is marked
indistinguishable. The result is one JSON file the pipeline copies into
``results.sqlite`` (tables ``intervals`` and ``comparisons``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fiubench.eval.config import EvalConfig
from fiubench.eval.result import EvalResult
from fiubench.report.uncertainty import seedless

__all__ = ["ModelGroup", "run_uncertainty", "seedless"]


@dataclass
class ModelGroup:
    """The final evaluations of one model over its seeds."""

    model: str
    role: str
    method: str | None
    variant: str  # seedless
    learn_variant: str = ""  # seedless stage-1 variant: which retain model it is compared with
    evals: list[Path] = field(default_factory=list)
    references: list[Path | str | None] = field(default_factory=list)  # retain eval dir, "self"


def _samples(group: ModelGroup, ecfg: EvalConfig) -> list[Any]:
    from fiubench.eval.uncertainty import IdentitySamples

    out = []
    for ev, ref in zip(group.evals, group.references, strict=True):
        res = EvalResult.load(ev)
        reference: Any = ref
        if isinstance(ref, Path):
            reference = EvalResult.load(ref).forget_truth_ratios()
        out.append(IdentitySamples(res.records, ecfg.aggregate, mia_k=ecfg.mia_k, reference=reference))
    return out


def run_uncertainty(groups: list[ModelGroup], ecfg: EvalConfig, n_boot: int, level: float, seed: int) -> dict[str, Any]:
    """Intervals of every group and paired comparisons (JSON-able)."""
    from fiubench.eval.uncertainty import bootstrap_model, compare

    boots = {g.model: bootstrap_model(_samples(g, ecfg), ecfg.skip, n_boot=n_boot, seed=seed) for g in groups}
    intervals = []
    for g in groups:
        b = boots[g.model]
        for metric, iv in b.intervals(level).items():
            intervals.append({
                "model": g.model, "role": g.role, "method": g.method, "variant": g.variant, "metric": metric,
                "estimate": b.estimates[metric], "low": None if iv is None else iv.low,
                "high": None if iv is None else iv.high, "n_seeds": b.n_seeds,
            })
    retain = {g.learn_variant: g for g in groups if g.role == "retain"}
    methods = [g for g in groups if g.role == "unlearned"]
    pairs: list[tuple[ModelGroup, ModelGroup]] = []
    for g in groups:
        if g.role == "finetuned" and g.learn_variant in retain:
            pairs.append((g, retain[g.learn_variant]))
    for i, a in enumerate(methods):
        if a.learn_variant in retain:
            pairs.append((a, retain[a.learn_variant]))
        pairs += [(a, b) for b in methods[i + 1:] if b.variant == a.variant]
    comparisons = []
    for a, b in pairs:
        for metric, iv in compare(boots[a.model], boots[b.model], level).items():
            comparisons.append({
                "model_a": a.model, "model_b": b.model, "metric": metric,
                "estimate": None if iv is None else iv.estimate, "low": None if iv is None else iv.low,
                "high": None if iv is None else iv.high,
                "indistinguishable": None if iv is None else iv.contains(0.0),
            })
    return {"n_boot": n_boot, "level": level, "seed": seed, "intervals": intervals, "comparisons": comparisons}
