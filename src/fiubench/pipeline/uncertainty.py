"""The run's uncertainty step: intervals and verdicts of the final models.

Per forget split, every final model group (retain, fine-tuned, each method; the runs of
one group differ only by their seed) gets intervals over identities (and seeds) on
its headline figures (:mod:`fiubench.eval.uncertainty`), and pairs of groups are
compared: each method and the fine-tuned model vs the retain model, each method vs the
best method (highest FQ) and every other pair of methods of the same variant. Each
comparison has an estimate, its interval, k, and a verdict (better / worse /
equivalent within the metric's margin / undecided) with Holm-adjusted p-values per
family and metric (:mod:`fiubench.metrics.inference`). The result is one JSON file the
pipeline copies into ``results.sqlite`` (tables ``intervals`` and ``comparisons``).
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


def _pairs(groups: list[ModelGroup], best: dict[str, str]) -> list[tuple[ModelGroup, ModelGroup, str]]:
    """(a, b, family): each method and the fine-tuned model vs its retain model ("vs retain"),
    each method vs the best method of its variant ("vs best", a - best), the other pairs
    of methods of one variant ("pairs")."""
    retain = {g.learn_variant: g for g in groups if g.role == "retain"}
    methods = [g for g in groups if g.role == "unlearned"]
    out: list[tuple[ModelGroup, ModelGroup, str]] = []
    for g in groups:
        if g.role in ("finetuned", "unlearned") and g.learn_variant in retain:
            out.append((g, retain[g.learn_variant], "vs retain"))
    for i, a in enumerate(methods):
        for b in methods[i + 1:]:
            if b.variant != a.variant:
                continue
            if best.get(a.variant) == a.model:
                out.append((b, a, "vs best"))
            elif best.get(a.variant) == b.model:
                out.append((a, b, "vs best"))
            else:
                out.append((a, b, "pairs"))
    return out


def run_uncertainty(groups: list[ModelGroup], ecfg: EvalConfig, n_boot: int, level: float, seed: int,
                    correction: str = "holm") -> dict[str, Any]:
    """Intervals of every group and comparisons with verdicts (JSON-able).

    ``n_boot``: bootstrap resamples, also the number of random sign-flip patterns when
    there are too many people to enumerate them all. Verdicts at alpha = 1 - ``level``,
    the p-values adjusted (Holm, or ``"bh"``) within each family and metric of a split:
    "vs retain", "vs best" and "pairs" (see docs/metrics-uncertainty.md).
    """
    from fiubench.eval.uncertainty import ModelFigures, compare_models, model_intervals
    from fiubench.metrics.inference import decide

    figs = {g.model: ModelFigures(_samples(g, ecfg), ecfg.skip) for g in groups}
    intervals, fq = [], {}
    for g in groups:
        f = figs[g.model]
        for metric, iv in model_intervals(f, level=level, n_resamples=n_boot, seed=seed).items():
            intervals.append({
                "model": g.model, "role": g.role, "method": g.method, "variant": g.variant, "metric": metric,
                "estimate": None if iv is None else iv.estimate, "low": None if iv is None else iv.low,
                "high": None if iv is None else iv.high, "n_seeds": f.n_seeds,
                "k": None if iv is None else iv.k_label, "ci_method": "undefined" if iv is None else iv.method,
            })
            if metric == "forget_quality" and iv is not None and g.role == "unlearned":
                fq[g.model] = iv.estimate
    best: dict[str, str] = {}
    for g in groups:
        if g.model in fq and (g.variant not in best or fq[g.model] > fq[best[g.variant]]):
            best[g.variant] = g.model
    raw = []
    for a, b, family in _pairs(groups, best):
        for c in compare_models(figs[a.model], figs[b.model], level=level, n_resamples=n_boot,
                                n_permutations=n_boot, seed=seed,
                                labels={"model_a": a.model, "model_b": b.model, "family": family}):
            raw.append(c)
    comparisons = []
    for key in dict.fromkeys((c.labels["family"], c.metric) for c in raw):
        fam = [c for c in raw if (c.labels["family"], c.metric) == key]
        for c in decide(fam, alpha=1.0 - level, correction=correction):  # type: ignore[arg-type]
            comparisons.append({
                "model_a": c.labels["model_a"], "model_b": c.labels["model_b"], "metric": c.metric,
                "estimate": c.estimate, "low": c.low, "high": c.high, "indistinguishable": c.low <= 0.0 <= c.high,
                "k": c.k_label, "margin": c.margin, "p_differs": c.p_differs,
                "p_differs_adjusted": c.p_differs_adjusted, "p_equivalent": c.p_equivalent,
                "p_equivalent_adjusted": c.p_equivalent_adjusted, "verdict": c.verdict, "family": key[0],
                "ci_method": c.method,
            })
    return {"n_boot": n_boot, "level": level, "seed": seed, "correction": correction, "best": best,
            "intervals": intervals, "comparisons": comparisons}
