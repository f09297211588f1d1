"""Headline aggregates: Model Utility and Forget Quality.

Model Utility (paper, Sec. 4): the *arithmetic* mean of the retain-side
    ROUGE-L, judge score, truth ratio (max(0, 1-R) form) and ACC.
Upstream code uses a harmonic mean, which collapses to 0 whenever one metric was not
run; we follow the paper.

Forget Quality (paper, as reproduced by third parties, with a two-sided MIA term):
    FQ = w_ks * norm(KS) + w_em * (1 - EM) + w_mia * T_mia + w_ape * (1 - APE)
with default weights 0.5 / 0.15 / 0.2 / 0.15, EM and APE on the forget split, and
T_mia computed from the AUC named by ``mia_metric`` (default Min-K%++). norm(KS):
    "p"   (default): the KS p-value itself, already in [0, 1];
    "log": clip(1 + log10(p) / L, 0, 1) with L = ``ks_log_floor`` (p <= 10^-L -> 0).
``mia_norm``:
    "two_sided" (default, metrics version 2): T_mia = 1 - 2|AUC - 0.5|. Chance (what
        the retain model, which saw neither the forget nor the holdout people, gives in
        expectation) scores 1; a model whose forget answers are *less* likely than
        never-seen ones (AUC 0.1, e.g. after gradient ascent) is as detectable as one
        with AUC 0.9 and scores the same 0.2.
    "one_sided" (metrics version 1, the paper's "1 - MIA"): T_mia = 1 - AUC. Rewards
        reverse detectability (AUC 0.1 -> 0.9); kept only to reproduce old numbers.

Missing inputs are never silently blanked or zeroed: a component whose metric is None
raises ConfigError unless the user skipped it (``skip``); then the aggregate is taken
over the remaining components (MU: their mean; FQ: weights renormalised to sum to 1)
and ``dropped`` lists what was left out.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from fiubench.errors import ConfigError
from fiubench.metrics.mia import two_sided_term

# skip token -> metric names it covers (a full metric name is accepted too)
SKIP_GROUPS: dict[str, tuple[str, ...]] = {
    "judge": ("retain.judge", "forget.judge"),
    "ks": ("forget.ks_p", "forget.ks_log10_p", "forget.ks_perm_p"),
    "mia": ("mia.auc_loss", "mia.auc_zlib", "mia.auc_min_k", "mia.auc_min_k_pp"),
    "visual": ("visual.acc", "visual.open_em", "visual.acc_holdout", "visual.open_em_holdout"),
}


def expand_skip(skip: Iterable[str]) -> set[str]:
    from fiubench.metrics.info import METRICS
    from fiubench.utils.registry import did_you_mean

    out: set[str] = set()
    known = list(SKIP_GROUPS) + METRICS.names()
    for s in skip:
        if s in SKIP_GROUPS:
            out.update(SKIP_GROUPS[s])
        elif s in METRICS:
            out.add(s)
        else:
            raise ConfigError(f"--skip / skip: unknown metric or group {s!r}.{did_you_mean(s, known)} Known groups: {', '.join(SKIP_GROUPS)}.")
    return out


@dataclass
class AggregateConfig:
    """How the headline numbers are combined (see module docstring)."""

    fq_weights: dict[str, float] = field(default_factory=lambda: {"ks": 0.5, "em": 0.15, "mia": 0.2, "ape": 0.15})
    ks_norm: Literal["p", "log"] = "p"
    ks_log_floor: float = 10.0
    mia_metric: str = "mia.auc_min_k_pp"
    mia_norm: Literal["two_sided", "one_sided"] = "two_sided"
    mu_metrics: tuple[str, ...] = ("retain.rouge_l", "retain.judge", "retain.truth_ratio", "visual.acc")

    def validate(self) -> None:
        if set(self.fq_weights) != {"ks", "em", "mia", "ape"}:
            raise ConfigError(f"fq_weights: keys must be ks, em, mia, ape; got {sorted(self.fq_weights)}")
        if any(w < 0 for w in self.fq_weights.values()) or sum(self.fq_weights.values()) <= 0:
            raise ConfigError("fq_weights: weights must be >= 0 with a positive sum")
        if self.ks_log_floor <= 0:
            raise ConfigError("ks_log_floor: must be > 0 (e.g. 10 maps p <= 1e-10 to 0)")
        if not self.mia_metric.startswith("mia.auc_"):
            raise ConfigError(f"mia_metric: must be one of the mia.auc_* metrics, got {self.mia_metric!r}")


def norm_ks(p: float, mode: str = "p", floor: float = 10.0) -> float:
    if mode == "p":
        return p
    if mode == "log":
        return min(1.0, max(0.0, 1.0 + math.log10(max(p, 1e-300)) / floor))
    raise ConfigError(f"ks_norm: unknown {mode!r} (p or log)")


def mia_term(auc: float, mode: str = "two_sided") -> float:
    """The forget-quality MIA term from an attack AUC (see the module docstring)."""
    if mode == "two_sided":
        return two_sided_term(auc)
    if mode == "one_sided":
        return 1.0 - auc
    raise ConfigError(f"mia_norm: unknown {mode!r} (two_sided or one_sided)")


def _missing(name: str, reasons: Mapping[str, str] | None = None) -> ConfigError:
    hint = next((g for g, names in SKIP_GROUPS.items() if name in names), name)
    why = (reasons or {}).get(name) or {
        "forget.ks_p": "no retain-model reference (pass --retain-eval RETAIN_RESULT_DIR)",
        "retain.judge": "the judge was not run (--judge none)",
        "visual.acc": "the dataset has no yes/no visual questions",
    }.get(name, "its input is missing")
    if name.startswith("mia."):
        why = "no non-member (holdout) identities in the dataset"
    return ConfigError(f"headline metric {name} cannot be computed: {why}. Skip it explicitly with --skip {hint} (skip=[{hint!r}]).")


def aggregates(metrics: Mapping[str, float | None], cfg: AggregateConfig, skip: Iterable[str] = (),
               reasons: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Model utility and forget quality from flat metrics; see the module docstring.

    ``reasons``: why a metric is missing, when the caller knows better than "not run"
    (e.g. every judge reply was malformed)."""
    skipped = expand_skip(skip)
    dropped: list[str] = []

    def take(name: str) -> float | None:
        v = metrics.get(name)
        if name in skipped:
            dropped.append(name)
            return None
        if v is None or (isinstance(v, float) and math.isnan(v)):
            raise _missing(name, reasons)
        return float(v)

    mu_parts = {n: take(n) for n in cfg.mu_metrics}
    mu_vals = [v for v in mu_parts.values() if v is not None]
    mu = sum(mu_vals) / len(mu_vals) if mu_vals else None

    ks = take("forget.ks_p")
    em = take("forget.exact_match")
    mia = take(cfg.mia_metric)
    ape = take("forget.ape")
    terms = {
        "ks": None if ks is None else norm_ks(ks, cfg.ks_norm, cfg.ks_log_floor),
        "em": None if em is None else 1.0 - em,
        "mia": None if mia is None else mia_term(mia, cfg.mia_norm),
        "ape": None if ape is None else 1.0 - ape,
    }
    wsum = sum(cfg.fq_weights[k] for k, v in terms.items() if v is not None)
    fq = (
        sum(cfg.fq_weights[k] * v for k, v in terms.items() if v is not None) / wsum if wsum > 0 else None
    )
    return {
        "model_utility": mu,
        "forget_quality": fq,
        "components": {
            "model_utility": {k: v for k, v in mu_parts.items()},
            "forget_quality": {k: v for k, v in terms.items()},
            "fq_weights": dict(cfg.fq_weights),
            "fq_weight_sum_used": wsum,
            "ks_norm": cfg.ks_norm,
            "mia_metric": cfg.mia_metric,
            "mia_norm": cfg.mia_norm,
        },
        "dropped": sorted(set(dropped)),
    }
