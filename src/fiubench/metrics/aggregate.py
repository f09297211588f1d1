"""Headline aggregates: Model Utility and Forget Quality.

Model Utility (paper, Sec. 4): the *arithmetic* mean of the retain-side
    ROUGE-L, judge score, truth ratio (max(0, 1-R) form) and ACC.
Upstream code uses a harmonic mean, which collapses to 0 whenever one metric was not
run; we follow the paper.

Forget Quality (paper, as reproduced by third parties, with a two-sided MIA term):
    FQ = w_ks * T_ks + w_em * (1 - EM) + w_mia * T_mia + w_ape * (1 - APE)
with default weights 0.5 / 0.15 / 0.2 / 0.15, EM and APE on the forget split, and
T_mia computed from the AUC named by ``mia_metric`` (default Min-K%++).
T_ks, the KS term, from the KS p-value p of ``forget.ks_p`` (``ks_norm``):
    "paper_log" (default, metrics version 3): T_ks = clip(1 + log10(p) / s, 0, 1) with
        s = ``ks_log_scale`` = 26 (``PAPER_KS_SCALE``): p = 1 -> 1, p <= 1e-26 -> 0. This
        is the scale of the paper's Table 2: with it (and the one-sided MIA term) the
        FQ column follows from the other columns on all five rows to within 0.15
        points (``tests/metrics/test_aggregate.py::test_paper_table2_fq``).
        s stays FIXED whatever the number of answers: T_ks is a fixed function of the
        reported p, so a KS term means the same p on every split. The p of a given
        distance D shrinks with the number of answers (log10 p ~ -0.87 n_eff D^2), so
        FQ is comparable between runs on the same forget-split size (as the paper's
        forget1/5/10 tables are), not across sizes; the size-free effect is the KS
        distance D with its identity-level interval (``fiubench.metrics.inference``).
    "raw_p" (metrics versions 1-2): T_ks = p. Every unlearned model's answer-level p
        is below 1e-7 on the default run, so this term is ~0 for all of them and the
        ranking is decided by EM, MIA and APE alone; kept to reproduce old numbers.
The retain model scores T_ks = 1 by construction (its truth ratios are the reference:
D = 0, p = 1) and T_mia = 1 in expectation (two-sided: it saw neither forget nor
holdout people, AUC 0.5); its EM and APE are what a model that never saw the person
guesses (the paper's retain row: 13.3 / 14.7). Its FQ is therefore the practical
ceiling, close to but below 1 (the paper's 93.3).
``mia_norm``:
    "two_sided" (default, metrics version 2): T_mia = 1 - 2|AUC - 0.5|. Chance (what
        the retain model, which saw neither the forget nor the holdout people, gives in
        expectation) scores 1; a model whose forget answers are *less* likely than
        never-seen ones (AUC 0.1, e.g. after gradient ascent) is as detectable as one
        with AUC 0.9 and scores the same 0.2.
    "one_sided" (metrics version 1, the paper's "1 - MIA"): T_mia = 1 - AUC. Rewards
        reverse detectability (AUC 0.1 -> 0.9); kept to reproduce the paper's numbers
        (its Table 2 uses it) and old results. The two agree for AUC >= 0.5 up to
        the factor 2 (1 - 2(AUC - 0.5) vs 1 - AUC): the two-sided term is the stricter.

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

PAPER_KS_SCALE = 26.0  # s of the paper's Table 2 (forget5: 20 people x 20 answers)
KS_NORMS = ("paper_log", "raw_p")

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
    ks_norm: Literal["paper_log", "raw_p"] = "paper_log"
    ks_log_scale: float = 26.0
    mia_metric: str = "mia.auc_min_k_pp"
    mia_norm: Literal["two_sided", "one_sided"] = "two_sided"
    mu_metrics: tuple[str, ...] = ("retain.rouge_l", "retain.judge", "retain.truth_ratio", "visual.acc")

    def validate(self) -> None:
        if set(self.fq_weights) != {"ks", "em", "mia", "ape"}:
            raise ConfigError(f"fq_weights: keys must be ks, em, mia, ape; got {sorted(self.fq_weights)}")
        if any(w < 0 for w in self.fq_weights.values()) or sum(self.fq_weights.values()) <= 0:
            raise ConfigError("fq_weights: weights must be >= 0 with a positive sum")
        if self.ks_norm not in KS_NORMS:
            raise ConfigError(f"ks_norm: unknown {self.ks_norm!r} ({' or '.join(KS_NORMS)})")
        if not (self.ks_log_scale > 0 and math.isfinite(self.ks_log_scale)):
            raise ConfigError(f"ks_log_scale: must be a finite number > 0 (26 maps p <= 1e-26 to 0), got {self.ks_log_scale}")
        if not self.mia_metric.startswith("mia.auc_"):
            raise ConfigError(f"mia_metric: must be one of the mia.auc_* metrics, got {self.mia_metric!r}")


def norm_ks(p: float, mode: str = "paper_log", scale: float = PAPER_KS_SCALE) -> float:
    """The FQ KS term T_ks from a KS p-value (see the module docstring)."""
    if not (0.0 <= p <= 1.0):
        raise ValueError(f"KS p-value must be in [0, 1], got {p}")
    if mode == "raw_p":
        return p
    if mode == "paper_log":
        if p == 0.0:  # underflow: log10 p = -inf, the term's floor
            return 0.0
        return min(1.0, max(0.0, 1.0 + math.log10(p) / scale))
    raise ConfigError(f"ks_norm: unknown {mode!r} ({' or '.join(KS_NORMS)})")


def ks_term_formula(cfg: AggregateConfig) -> str:
    """How T_ks was computed, for a result's definitions."""
    if cfg.ks_norm == "raw_p":
        return "T_ks = p (raw KS p-value)"
    return f"T_ks = clip(1 + log10(p) / {cfg.ks_log_scale:g}, 0, 1) (s fixed, not scaled with the number of answers)"


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
        "ks": None if ks is None else norm_ks(ks, cfg.ks_norm, cfg.ks_log_scale),
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
            "ks_term": ks_term_formula(cfg),
            "mia_metric": cfg.mia_metric,
            "mia_norm": cfg.mia_norm,
        },
        "dropped": sorted(set(dropped)),
    }
