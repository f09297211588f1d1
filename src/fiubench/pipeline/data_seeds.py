"""``fiubench run --data-seeds N``: the benchmark over N draws of people and splits.

The intervals of one run say what *these* people support; a user asks whether another
draw of people would give the same ranking. Each draw is a full run (dataset built with
``data.seed`` = base + 0 ... N-1, so new profiles, faces and splits; stage 1 included)
in ``<out>/data_seed=<seed>/``, then :func:`aggregate` reads the draws' interval rows
and writes ``<out>/stability.json`` and ``<out>/report/`` (the "Stability across data
draws" section, with links to each draw's own report):

* per model and figure: the mean over draws, the between-draw SD sqrt(B), the mean
  within-draw SE sqrt(W) (from each draw's 95 % interval over identities), and the
  interval of the mean with the between-draw variance folded in:
  mean +- z sqrt(max(B, W) / N) (B already contains the people-sampling variance W plus
  whatever the data generation and training add; with few draws B is noisy, so the
  interval never claims less than the within-draw variance);
* the ranking's stability: per draw, the methods ranked by FQ (and MU); the share of
  draws in which each method ranks first; Kendall's tau between every pair of draws
  (``scipy.stats.kendalltau``).
"""

from __future__ import annotations

import copy
import itertools
import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from scipy import stats

from fiubench.errors import ConfigError

STABILITY_FILE = "stability.json"
RANKED = ("forget_quality", "model_utility")


def draw_dir(out: Path, seed: int) -> Path:
    return out / f"data_seed={seed}"


def draw_configs(cfg: Any, n: int) -> list[Any]:
    """The N configs, ``data.seed`` = base + i (checked before anything runs)."""
    if n < 2:
        raise ConfigError(f"--data-seeds: must be >= 2 (a single draw is a plain run), got {n}")
    if cfg.dataset is not None:
        raise ConfigError("--data-seeds: needs the embedded dataset (config `data:`); a fixed `dataset:` "
                          "directory cannot be redrawn")
    out = []
    for i in range(n):
        c = copy.deepcopy(cfg)
        c.data.seed = cfg.data.seed + i
        c.validate()
        out.append(c)
    return out


def run_draws(cfg: Any, out: Path, n: int, run_one: Callable[[Any, Path], Any]) -> Path:
    """Run every draw (``run_one(cfg, dir)``), then aggregate; returns the stability report."""
    cfgs = draw_configs(cfg, n)
    dirs = []
    for c in cfgs:
        d = draw_dir(out, c.data.seed)
        run_one(c, d)
        dirs.append(d)
    return aggregate(out, dirs)


def _rows(d: Path) -> list[Any]:
    from fiubench.report.store import ResultsStore

    with ResultsStore(d / "results.sqlite", create=False) as store:
        return store.intervals()


def _z(level: float) -> float:
    return float(stats.norm.ppf(0.5 + level / 2))


def figures(draws: dict[str, list[Any]]) -> list[dict[str, Any]]:
    """Per (split, model, metric): mean over draws, between SD, within SE, folded interval."""
    cells: dict[tuple[str, str, str, str], list[tuple[float, float]]] = {}
    for rows in draws.values():
        for r in rows:
            if r.estimate is None or r.low is None or r.high is None or not math.isfinite(r.estimate):
                continue
            se = (r.high - r.low) / (2 * _z(r.level))
            cells.setdefault((r.forget_split, r.model, r.role, r.metric), []).append((r.estimate, se))
    out = []
    n_draws = len(draws)
    for (split, model, role, metric), vals in cells.items():
        if len(vals) < n_draws:
            continue  # a figure some draw lacks: not comparable across draws
        x = np.array([v[0] for v in vals])
        w = float(np.mean([v[1] ** 2 for v in vals]))
        b = float(np.var(x, ddof=1))
        half = 1.96 * math.sqrt(max(b, w) / len(x))
        out.append({"forget_split": split, "model": model, "role": role, "metric": metric, "n_draws": len(x),
                    "estimates": x.tolist(), "mean": float(x.mean()), "between_sd": math.sqrt(b),
                    "within_se": math.sqrt(w), "ratio": math.sqrt(b / w) if w > 0 else None,
                    "low": float(x.mean()) - half, "high": float(x.mean()) + half})
    return out


def ranking(draws: dict[str, list[Any]], metric: str) -> dict[str, Any]:
    """Per forget split: P(first) per method (share of draws) and Kendall tau between draws."""
    out: dict[str, Any] = {}
    splits = sorted({r.forget_split for rows in draws.values() for r in rows})
    for split in splits:
        per: dict[str, dict[str, float]] = {}
        for name, rows in draws.items():
            per[name] = {r.model: r.estimate for r in rows if r.forget_split == split and r.role == "unlearned"
                         and r.metric == metric and r.estimate is not None}
        models = sorted(set.intersection(*(set(v) for v in per.values()))) if per else []
        if len(models) < 2:
            continue
        first = dict.fromkeys(models, 0.0)
        for v in per.values():
            first[max(models, key=lambda m, v=v: v[m])] += 1.0 / len(per)
        taus = []
        for a, b in itertools.combinations(per, 2):
            tau = stats.kendalltau([per[a][m] for m in models], [per[b][m] for m in models]).statistic
            taus.append({"draws": [a, b], "tau": None if tau is None or not math.isfinite(tau) else float(tau)})
        ok = [t["tau"] for t in taus if t["tau"] is not None]
        out[split] = {"models": models, "p_first": first, "kendall_tau": taus,
                      "mean_tau": float(np.mean(ok)) if ok else None}
    return out


def aggregate(out: Path, dirs: list[Path]) -> Path:
    """``stability.json`` and the stability report of the draws in ``dirs``."""
    from fiubench.report.stability import write_stability_report
    from fiubench.utils.io import atomic_write_json

    draws = {d.name: _rows(d) for d in dirs}
    if not any(draws.values()):
        raise ConfigError("--data-seeds: the draws have no intervals (uncertainty.n_boot = 0?): nothing to "
                          "aggregate")
    res = {"draws": [d.name for d in dirs], "figures": figures(draws),
           "ranking": {m: ranking(draws, m) for m in RANKED}}
    atomic_write_json(out / STABILITY_FILE, res)
    return write_stability_report(res, out / "report")


def load_stability(out: Path) -> dict[str, Any] | None:
    p = out / STABILITY_FILE
    return json.loads(p.read_text(encoding="utf-8")) if p.is_file() else None
