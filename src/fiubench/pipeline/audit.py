"""``fiubench audit RUN_DIR``: the statistical audit of a finished run.

Reads the run's final evaluations through its uncertainty steps (``steps/uncertainty_*``:
which evaluation directories make up each model group, and the run's paired
comparisons), runs :mod:`fiubench.eval.audit` per forget split and writes
``RUN_DIR/audit.json`` (the report shows it as its "Statistical audit" section).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fiubench.errors import ConfigError
from fiubench.eval.result import EvalResult
from fiubench.metrics import verdict_sim as vs

AUDIT_FILE = "audit.json"
STEP_GLOB = "uncertainty_*"


def _split_groups(run_dir: Path) -> dict[str, dict[str, Any]]:
    """forget split -> {"groups": [(model, role, method, variant, [eval dirs])], "comparisons", "level"}."""
    steps = run_dir / "steps"
    if not (run_dir / "results.sqlite").is_file() or not steps.is_dir():
        raise ConfigError(f"fiubench audit: {run_dir} is not a finished run directory (no results.sqlite or steps/)")
    out: dict[str, dict[str, Any]] = {}
    for d in sorted(steps.glob(STEP_GLOB)):
        done, res = d / "DONE.json", d / "uncertainty.json"
        if not (done.is_file() and res.is_file()):
            continue
        meta = json.loads(done.read_text(encoding="utf-8"))
        split = meta["step"].split("/", 1)[1]
        cfg, inputs = meta["provenance"]["config"], meta["inputs"]
        u = json.loads(res.read_text(encoding="utf-8"))
        groups = []
        for model, role, method, variant in cfg["groups"]:
            evals = [steps / inputs[f"{model}#{i}"] / "eval" for i in range(len(inputs))
                     if f"{model}#{i}" in inputs]
            groups.append((model, role, method, variant, evals))
        out[split] = {"groups": groups, "comparisons": u["comparisons"], "level": u["level"]}
    if not out:
        raise ConfigError(f"fiubench audit: {run_dir} has no finished uncertainty step (a run with "
                          "uncertainty.n_boot = 0, or not finished): rerun it with intervals")
    return out


def _records(evals: list[Path]) -> list[dict[str, Any]]:
    return EvalResult.load(evals[0]).records  # first seed: the audit simulates from one draw of people


def sim_sources(split: str, info: dict[str, Any]) -> tuple[int, list[dict[str, Any]], dict[str, Any], dict[str, Any]]:
    """(forget identities, retain records, coverage sources, null sources) of one split:
    forget EM of the fine-tuned model (alone and paired with the retain model's) and its
    forget ln R (the KS input); the nulls split each person's answers of the fine-tuned
    model in two halves."""
    from fiubench.eval import audit as ea

    by_role: dict[str, list[Any]] = {}
    for model, role, method, _variant, evals in info["groups"]:
        by_role.setdefault(role, []).append((model, method, evals))
    if "retain" not in by_role or "finetuned" not in by_role:
        raise ConfigError(f"fiubench audit: split {split} lacks the retain or the fine-tuned model")
    retain = _records(by_role["retain"][0][2])
    finetuned = _records(by_role["finetuned"][0][2])
    ids, ft_em = ea.identity_units(finetuned, "forget", "exact_match")
    ids_r, rt_em = ea.identity_units(retain, "forget", "exact_match")
    if ids != ids_r:
        raise ConfigError(f"fiubench audit: split {split}: retain and fine-tuned evaluated different people")
    _, ft_lnr = ea.log_r_units(finetuned, "forget")
    sources = {"EM forget, fine-tuned": (ft_em, None), "EM forget, fine-tuned - retain (paired)": (ft_em, rt_em),
               "ln R forget, fine-tuned": (ft_lnr, None)}
    nulls = {"EM forget, fine-tuned: two halves of each person": ft_em,
             "ln R forget, fine-tuned: two halves of each person": ft_lnr}
    return len(ids), retain, sources, nulls


def audit_split(split: str, info: dict[str, Any], *, n_sims: int, n_boot: int, seed: int,
                ks: tuple[int, ...] = vs.KS) -> dict[str, Any]:
    from fiubench.eval import audit as ea

    k, retain, sources, nulls = sim_sources(split, info)
    sims = ea.simulations(sources, nulls, ks=ks, n_sims=n_sims, n_boot=n_boot, seed=seed)
    cal = ea.calibration(retain, seed=seed)
    power = ea.power_table([c for c in info["comparisons"] if c.get("family") in ("pairs", "vs best", "vs retain")],
                           k, level=info["level"], ks=ks)
    return {"split": split, "k": k, "n_sims": n_sims, "n_boot": n_boot, "ks": list(ks), **sims,
            "calibration": cal.as_dict(), "power": power}


def run_audit(run_dir: str | Path, *, n_sims: int = 100, n_boot: int = 499, seed: int = 0,
              ks: tuple[int, ...] = vs.KS) -> dict[str, Any]:
    """The audit of every forget split of ``run_dir``; written to ``RUN_DIR/audit.json``."""
    from fiubench.utils.io import atomic_write_json

    if n_sims < 10 or n_boot < 99:
        raise ConfigError(f"fiubench audit: --sims must be >= 10 and --n-boot >= 99, got {n_sims}, {n_boot}")
    run_dir = Path(run_dir)
    splits = _split_groups(run_dir)
    res = {"splits": [audit_split(s, info, n_sims=n_sims, n_boot=n_boot, seed=seed, ks=ks)
                      for s, info in splits.items()]}
    res["calibrated"] = all(s["calibration"]["ok"] for s in res["splits"])
    atomic_write_json(run_dir / AUDIT_FILE, res)
    return res
