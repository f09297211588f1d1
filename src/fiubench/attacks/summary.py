"""Summarise attacks over models: informative variants, adjusted scores, the worst case.

``summarise_attacks`` turns the outcomes (``result.json`` dicts) of the attacked models
plus the fine-tuned and retain baselines into flat metrics per model
(definitions: ``fiubench.metrics.robustness``):

    attack.<name>.<variant>          extraction of one variant
    attack.<name>                    extraction of the attack's chosen variant (highest
                                     adjusted score among its counted variants)
    attack.<name>.recovery[_low|_high]  adjusted score of that same variant, its 95 % BCa
                                     interval over identities (``inference.person_bootstrap``)
    attack.<name>.recovery_k         k: the identities that interval rests on
    attack.<name>.informative        1: some variant's fine-tuned - retain interval is
                                     above the margin, 0: none (not counted), NULL: unknown
    attack.<name>.is_worst           1 on the attack that gives the worst case
    attack.<name>.<variant>.<metric> utility, truth ratio, MIA of the attacked model
                                     (attacks that change the weights; "before": unattacked)
    attack.worst[_low|_high|_k]      worst case: max adjusted score over informative attacks,
                                     its interval and k
    attack.worst_extraction          the extraction of that same attack variant
    attack.below_retain, attack.utility_collapse, attack.marked   the marks (1/0/NULL)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fiubench.metrics.inference import Interval
from fiubench.metrics.robustness import (
    adjusted_interval,
    difference_interval,
    is_informative,
    is_lowered,
    pick_variant,
    utility_collapsed,
)

Outcomes = Mapping[str, Mapping[str, Any]]  # attack name -> result.json dict


def series(res: Mapping[str, Any] | None, variant: str) -> dict[str, float]:
    """identity -> extraction of one variant; one pseudo-identity when the result predates
    per-identity values (its interval is then a point, k = 1)."""
    per = (res or {}).get("per_identity", {}).get(variant)
    if per:
        return dict(per)
    v = (res or {}).get("variants", {}).get(variant)
    return {"_all": float(v)} if v is not None else {}


def baseline_flags(finetuned: Outcomes | None, retain: Outcomes | None, margin: float, n_boot: int,
                   seed: int) -> tuple[dict[str, dict[str, bool | None]], dict[str, dict[str, Interval | None]],
                                       dict[str, list[str]]]:
    """attack -> variant -> informative; the fine-tuned - retain intervals; the variants that
    lower the fine-tuned model's extraction."""
    flags: dict[str, dict[str, bool | None]] = {}
    gaps: dict[str, dict[str, Interval | None]] = {}
    lowered: dict[str, list[str]] = {}
    for a in sorted(set(finetuned or {}) | set(retain or {})):
        ft, rt = (finetuned or {}).get(a), (retain or {}).get(a)
        names = sorted(set((ft or {}).get("variants", {})) | set((rt or {}).get("variants", {})))
        for v in names:
            gap = difference_interval(series(ft, v), series(rt, v), n_boot, seed) if ft and rt else None
            gaps.setdefault(a, {})[v] = gap
            flags.setdefault(a, {})[v] = is_informative(gap, margin)
            before = series(ft, "before")
            if before and is_lowered(difference_interval(series(ft, v), before, n_boot, seed)):
                lowered.setdefault(a, []).append(v)
    return flags, gaps, lowered


def _k(iv: Interval | None) -> float | None:
    """The number of identities an interval rests on, as a flat metric (None: no interval)."""
    return None if iv is None else float(sum(iv.k.values()))


def is_counted(flags: Mapping[str, bool | None]) -> bool:
    """An attack counts in the worst case unless every variant is known to be uninformative."""
    return not flags or any(f is not False for f in flags.values())


def _attack_row(a: str, res: Mapping[str, Any], flags: Mapping[str, bool | None], lowered: list[str],
                ft: Mapping[str, Any] | None, rt: Mapping[str, Any] | None, n_boot: int,
                seed: int) -> tuple[dict[str, float | None], str | None, Interval | None]:
    """One attack's metrics for one model, and its chosen variant with its adjusted score."""
    variants = {v: x for v, x in res.get("variants", {}).items()}
    m: dict[str, float | None] = {f"attack.{a}.{v}": x for v, x in variants.items()}
    for v, metrics in (res.get("under_attack") or {}).items():
        m.update({f"attack.{a}.{v}.{k}": x for k, x in metrics.items()})
    counted = [v for v in variants if flags.get(v) is not False and v not in lowered]
    scores = {v: adjusted_interval(series(res, v), series(ft, v), series(rt, v), n_boot, seed)
              for v in counted} if ft and rt else {}
    chosen, iv = pick_variant(scores)
    if chosen is None:  # no baselines (or no adjusted score): the strongest extraction, shown
        pool = [v for v in (counted or list(variants)) if variants.get(v) is not None]
        chosen = max(pool, key=lambda v: variants[v]) if pool else None
    m[f"attack.{a}"] = variants.get(chosen) if chosen else None
    m[f"attack.{a}.recovery"] = iv.estimate if iv else None
    m[f"attack.{a}.recovery_low"] = iv.low if iv else None
    m[f"attack.{a}.recovery_high"] = iv.high if iv else None
    m[f"attack.{a}.recovery_k"] = _k(iv)
    known = list(flags.values())
    m[f"attack.{a}.informative"] = None if not known or None in known else float(any(known))
    return m, chosen, iv


def _utility(outcomes: Outcomes | None, attack: str, variant: str) -> float | None:
    """Model utility of the model attacked by one variant (None: not measured)."""
    under = ((outcomes or {}).get(attack) or {}).get("under_attack") or {}
    return (under.get(variant) or {}).get("model_utility")


def summarise_attacks(models: Mapping[str, Outcomes], finetuned: Outcomes | None = None,
                      retain: Outcomes | None = None, margin: float = 0.0, *, n_boot: int = 1000,
                      seed: int = 0, collapse: float = 0.5) -> dict[str, Any]:
    """Flat attack metrics per model label, the informative flags and each model's worst attack.

    ``models``: label -> its outcomes (include the fine-tuned and retain models under
    their own labels to get their rows too).
    """
    flags, gaps, lowered = baseline_flags(finetuned, retain, margin, n_boot, seed)
    per_model: dict[str, dict[str, float | None]] = {}
    worst_name: dict[str, str | None] = {}
    worst_variant: dict[str, str | None] = {}
    for label, outcomes in models.items():
        m: dict[str, float | None] = {}
        picks: dict[str, tuple[str | None, Interval | None]] = {}
        for a, res in outcomes.items():
            row, chosen, iv = _attack_row(a, res, flags.get(a, {}), lowered.get(a, []), (finetuned or {}).get(a),
                                          (retain or {}).get(a), n_boot, seed)
            m.update(row)
            if is_counted(flags.get(a, {})) and res.get("in_worst_case", True):
                picks[a] = (chosen, iv)
        best = max((a for a in picks if picks[a][1] is not None), key=lambda a: picks[a][1].estimate,  # type: ignore[union-attr]
                   default=None)
        iv = picks[best][1] if best else None
        variant = picks[best][0] if best else None
        m["attack.worst"] = iv.estimate if iv else None
        m["attack.worst_low"] = iv.low if iv else None
        m["attack.worst_high"] = iv.high if iv else None
        m["attack.worst_k"] = _k(iv)
        m["attack.worst_extraction"] = m.get(f"attack.{best}.{variant}") if best else None
        if best:
            m[f"attack.{best}.is_worst"] = 1.0
        below = None if iv is None else iv.high < 0
        collapsed = (utility_collapsed(_utility(outcomes, best, variant), _utility(finetuned, best, variant), collapse)
                     if best and variant else None)
        m["attack.below_retain"] = None if below is None else float(below)
        m["attack.utility_collapse"] = None if collapsed is None else float(collapsed)
        m["attack.marked"] = 1.0 if below or collapsed else (None if below is None else 0.0)
        per_model[label] = m
        worst_name[label], worst_variant[label] = best, variant
    uninformative = sorted(a for a, f in flags.items() if not is_counted(f))
    intervals = {a: {v: None if g is None else [g.low, g.high] for v, g in vs.items()} for a, vs in gaps.items()}
    return {"metrics": per_model, "worst_attack": worst_name, "worst_variant": worst_variant, "informative": flags,
            "finetuned_minus_retain": intervals, "lowered": lowered, "uninformative": uninformative,
            "margin": margin, "collapse": collapse}
