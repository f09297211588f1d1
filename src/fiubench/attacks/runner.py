"""Run one attack on one model into a directory; summarise attacks over models.

``run_attack`` writes ``result.json`` (extraction per variant, info, seconds) and
``per_sample.jsonl`` (every probe) atomically into its output directory.
``summarise_attacks`` turns the outcomes of the attacked models plus the fine-tuned
and retain baselines into flat metrics (``fiubench.metrics.robustness``):

    attack.<name>.<variant>   extraction of one variant
    attack.<name>             max over the attack's informative variants
    attack.<name>.recovery    share of the fine-tuned model's excess leak recovered
    attack.worst              max over informative attacks (the worst case)
    attack.worst_recovery     max recovery over informative attacks
    attack.<name>.informative 1: the fine-tuned model leaks more than the retain model
                              under some variant, 0: under none (not counted), NULL: unknown
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from fiubench.attacks.base import AttackContext
from fiubench.attacks.registry import build_attack
from fiubench.metrics.robustness import attack_value, is_informative, recovery, worst_case
from fiubench.utils.io import atomic_dir, atomic_write_json, atomic_write_text

Outcomes = Mapping[str, Mapping[str, Any]]  # attack name -> result.json dict


def run_attack(name: str, options: Mapping[str, Any] | None, model_dir: str | Path, ctx: AttackContext,
               out: Path) -> dict[str, Any]:
    """Run attack ``name`` on the model in ``model_dir``; write and return its result."""
    attack = build_attack(name, options)
    t0 = time.perf_counter()
    outcome = attack.run(Path(model_dir), ctx)
    result = outcome.to_json()
    result["seconds"] = time.perf_counter() - t0
    result["model"] = str(model_dir)
    result["forget_split"] = ctx.forget
    with atomic_dir(out, overwrite=True) as tmp:
        atomic_write_json(tmp / "result.json", result)
        atomic_write_text(tmp / "per_sample.jsonl", "".join(json.dumps(r) + "\n" for r in outcome.records))
    return result


def informative_variants(finetuned: Outcomes | None, retain: Outcomes | None,
                         margin: float) -> dict[str, dict[str, bool | None]]:
    """attack -> variant -> informative (None when a baseline is missing)."""
    names = set(finetuned or {}) | set(retain or {})
    out: dict[str, dict[str, bool | None]] = {}
    for a in sorted(names):
        ft = (finetuned or {}).get(a, {}).get("variants", {})
        rt = (retain or {}).get(a, {}).get("variants", {})
        out[a] = {v: is_informative(ft.get(v), rt.get(v), margin) for v in sorted(set(ft) | set(rt))}
    return out


def is_counted(flags: Mapping[str, bool | None]) -> bool:
    """An attack counts in the worst case unless every variant is known to be uninformative."""
    return not flags or any(f is not False for f in flags.values())


def summarise_attacks(models: Mapping[str, Outcomes], finetuned: Outcomes | None = None,
                      retain: Outcomes | None = None, margin: float = 0.02) -> dict[str, Any]:
    """Flat attack metrics per model label, the informative flags and each model's worst attack.

    ``models``: label -> its outcomes (include the fine-tuned and retain models under
    their own labels to get their rows too).
    """
    info = informative_variants(finetuned, retain, margin)
    per_model: dict[str, dict[str, float | None]] = {}
    worst_name: dict[str, str | None] = {}
    for label, outcomes in models.items():
        m: dict[str, float | None] = {}
        values: dict[str, float | None] = {}
        recoveries: dict[str, float | None] = {}
        for a, res in outcomes.items():
            variants = res.get("variants", {})
            flags = info.get(a, {})
            for v, x in variants.items():
                m[f"attack.{a}.{v}"] = x
            values[a] = attack_value(variants, flags)
            m[f"attack.{a}"] = values[a]
            ft = (finetuned or {}).get(a, {}).get("variants", {})
            rt = (retain or {}).get(a, {}).get("variants", {})
            recs = [recovery(x, ft.get(v), rt.get(v)) for v, x in variants.items() if flags.get(v)]
            recoveries[a] = max((r for r in recs if r is not None), default=None)
            m[f"attack.{a}.recovery"] = recoveries[a]
        counted = {a: v for a, v in values.items() if is_counted(info.get(a, {}))}
        for a in values:
            flags = list(info.get(a, {}).values())
            m[f"attack.{a}.informative"] = None if not flags or None in flags else float(any(flags))
        name, w = worst_case(counted)
        m["attack.worst"] = w
        m["attack.worst_recovery"] = max((r for a, r in recoveries.items() if a in counted and r is not None),
                                         default=None)
        per_model[label] = m
        worst_name[label] = name
    uninformative = sorted(a for a, flags in info.items() if not is_counted(flags))
    return {"metrics": per_model, "worst_attack": worst_name, "informative": info,
            "uninformative": uninformative, "margin": margin}
