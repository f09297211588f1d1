"""A statistical audit of one evaluation set: do its verdicts hold?

From the per-sample records of a run's final evaluations (see
:mod:`fiubench.pipeline.audit` for where they come from):

* **simulations under a known truth** (:mod:`fiubench.metrics.verdict_sim`): coverage
  of the person-level BCa interval of forget EM (one model, and paired a - b), and the
  false "better / worse" rate of the verdicts under exchangeability (two random halves
  of each identity's answers of one model), each at k = 4, 10, 20, 40 identities drawn
  from the run's own identities;
* **calibration done right** (:func:`fiubench.metrics.calibration.person_calibration`):
  the retain model's ln R (geometric truth ratio) on forget vs never-trained holdout
  identities, per split and per QA field;
* **power** at the run's number of forget identities, from the standard errors of the
  run's own paired comparisons (the uncertainty step's intervals).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from fiubench.eval.compute import Record, log_r, retain_calibration
from fiubench.metrics import inference as inf
from fiubench.metrics import verdict_sim as vs
from fiubench.metrics.calibration import PersonCalibration

# figures of the power table, and the differences a reader asks about (metric's unit)
POWER_METRICS = {"forget_quality": (0.05, 0.10), "forget.exact_match": (0.05, 0.10), "forget.ks_d": (0.10, 0.20)}


def identity_units(records: Sequence[Record], split: str, field: str) -> tuple[list[str], list[np.ndarray]]:
    """(identities, per identity the values of ``field`` of its QA on ``split``), sorted by id;
    undefined values (None) left out."""
    per: dict[str, list[float]] = {}
    for r in records:
        if r.get("kind") == "qa" and r.get("split") == split:
            v = r.get(field)
            lst = per.setdefault(r["unique_id"], [])
            if v is not None and math.isfinite(float(v)):
                lst.append(float(v))
    ids = sorted(per)
    return ids, [np.asarray(per[i], dtype=np.float64) for i in ids]


def log_r_units(records: Sequence[Record], split: str) -> tuple[list[str], list[np.ndarray]]:
    """(identities, per identity the ln R of its QA on ``split``), sorted by id."""
    per: dict[str, list[float]] = {}
    for r in records:
        if r.get("kind") == "qa" and r.get("split") == split:
            v = log_r(r)
            lst = per.setdefault(r["unique_id"], [])
            if v is not None:
                lst.append(v)
    ids = sorted(per)
    return ids, [np.asarray(per[i], dtype=np.float64) for i in ids]


def calibration(records: Sequence[Record], **kw: Any) -> PersonCalibration:
    """:func:`person_calibration` of the retain model's records (forget vs holdout, per
    field): :func:`fiubench.eval.compute.retain_calibration`, the code path of the stored
    ``calibration.*`` metrics too, so the audit and the evaluation agree (same seed)."""
    return retain_calibration(records, **kw)


def simulations(sources: Mapping[str, tuple[list[np.ndarray], list[np.ndarray] | None]],
                nulls: Mapping[str, list[np.ndarray]], *, ks: Sequence[int] = vs.KS, n_sims: int = 100,
                n_boot: int = 499, seed: int = 0) -> dict[str, list[dict[str, Any]]]:
    """Coverage rows (one per source and k) and null-verdict rows (one per source and k)."""
    cov, null = [], []
    for label, (a, b) in sources.items():
        for k in ks:
            r = vs.coverage(a, k, other=b, n_sims=n_sims, n_boot=n_boot, seed=seed)
            cov.append({"figure": label, **r.as_dict()})
    for label, units in nulls.items():
        for k in ks:
            r = vs.null_verdicts(units, k, n_sims=n_sims, n_boot=n_boot, n_permutations=n_boot, seed=seed)
            null.append({"figure": label, **r.as_dict()})
    return {"coverage": cov, "null": null}


def power_table(comparisons: Sequence[Mapping[str, Any]], k: int, *, level: float = inf.LEVEL,
                ks: Sequence[int] = vs.KS) -> list[dict[str, Any]]:
    """Per figure: the median SE of the run's paired comparisons (method pairs and vs the
    retain model), the smallest difference detectable at 80 % power at k and at ``ks``,
    and the identities needed for the differences of :data:`POWER_METRICS`."""
    out = []
    for metric, deltas in POWER_METRICS.items():
        ses = [vs.se_from_interval(c["low"], c["high"], level) for c in comparisons
               if c.get("metric") == metric and c.get("low") is not None and c.get("high") is not None
               and math.isfinite(c["low"]) and math.isfinite(c["high"]) and c["high"] > c["low"]]
        if not ses:
            out.append({"metric": metric, "k": k, "n_comparisons": 0, "se": None})
            continue
        se = float(np.median(ses))
        out.append({
            "metric": metric, "k": k, "n_comparisons": len(ses), "se": se,
            "mde": vs.min_detectable(se, k), **{f"mde_k{kk}": vs.min_detectable(se, k, kk) for kk in ks},
            **{f"k_for_{d:g}": vs.identities_needed(se, k, d) for d in deltas},
        })
    return out
