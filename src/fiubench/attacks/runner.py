"""Run one attack on one model into a directory.

``run_attack`` writes ``result.json`` (extraction per variant and per identity, the
attacked model's metrics where the attack changes it, info, seconds) and
``per_sample.jsonl`` (every probe) atomically into its output directory. The summary
over models is :mod:`fiubench.attacks.summary` (re-exported here).
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from fiubench.attacks.base import AttackContext
from fiubench.attacks.registry import build_attack
from fiubench.attacks.summary import summarise_attacks
from fiubench.utils.io import atomic_dir, atomic_write_json, atomic_write_text

__all__ = ["run_attack", "summarise_attacks"]


def run_attack(name: str, options: Mapping[str, Any] | None, model_dir: str | Path, ctx: AttackContext,
               out: Path) -> dict[str, Any]:
    """Run attack ``name`` on the model in ``model_dir``; write and return its result."""
    attack = build_attack(name, options)
    t0 = time.perf_counter()
    outcome = attack.run(Path(model_dir), ctx)
    result = outcome.to_json()
    result["seconds"] = time.perf_counter() - t0
    result["in_worst_case"] = attack.in_worst_case
    result["model"] = str(model_dir)
    result["forget_split"] = ctx.forget
    with atomic_dir(out, overwrite=True) as tmp:
        atomic_write_json(tmp / "result.json", result)
        atomic_write_text(tmp / "per_sample.jsonl", "".join(json.dumps(r) + "\n" for r in outcome.records))
    return result
