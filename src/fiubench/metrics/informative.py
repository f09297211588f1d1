"""Which forget-quality terms can tell a model that knows from one that never knew?

A term of forget quality (``metrics.aggregate``) grades forgetting only if, on this run, the
fine-tuned model (which learnt the forget people) scores measurably worse on it than the
retain model (which never saw them). Otherwise a method that did nothing and one that
forgot everything get the same term, and its weight in FQ measures nothing. So, per term,
from the person-level comparison fine-tuned - retain (``eval.uncertainty.compare_models``:
a paired BCa bootstrap over identities and a person-wise sign-flip test):

    EM, APE       memorisation margin = EM_ft - EM_rt (resp. APE): informative iff the
                  interval's lower bound is > 0;
    MIA           margin = T_rt - T_ft with T = the FQ term 1 - 2|AUC - 0.5|: informative
                  iff the interval of T_ft - T_rt lies below 0;
    KS            the retain model's own KS distance is 0 by construction (its p is 1), so
                  an interval on D_ft - 0 says little (D >= 0); the term is informative iff
                  the person-level permutation test of D has p < alpha;
    each attack   ``attack.<name>.informative`` of the attacks summary (the same interval
                  rule on each attack's fine-tuned - retain extraction).

A term without a comparison (no uncertainty step, too few people) is *unknown*, never
silently dropped. Forget quality is then reported twice: as defined, and "FQ (informative
terms)" with each uninformative term's weight set to 0 and the remaining weights
renormalised to sum to 1 (the uninformative weight shared out in proportion).

Pure: comparison estimates and flat metrics in, verdicts and numbers out.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from fiubench.errors import ConfigError
from fiubench.metrics.aggregate import AggregateConfig, aggregates

# FQ term -> the compared figure it is judged on
TERMS: dict[str, str] = {"ks": "forget.ks_d", "em": "forget.exact_match", "mia": "mia.fq_term",
                         "ape": "forget.ape"}
# +1: the fine-tuned model remembers more when the figure is higher; -1: lower
_SIGN = {"em": 1, "ape": 1, "mia": -1}


@dataclass(frozen=True)
class TermCheck:
    term: str
    metric: str
    estimate: float | None  # fine-tuned - retain on ``metric``
    low: float | None
    high: float | None
    p_differs: float | None
    k: str | None
    informative: bool | None  # None: unknown (no comparison)
    rule: str


def check_term(term: str, estimate: float | None, low: float | None, high: float | None,
               p_differs: float | None, alpha: float) -> tuple[bool | None, str]:
    """(informative, the rule applied) for one FQ term (see the module docstring)."""
    if term == "ks":
        rule = f"person-level permutation p of KS D < {alpha:g}"
        return (None if p_differs is None else bool(p_differs < alpha)), rule
    if term not in _SIGN:
        raise ValueError(f"unknown forget-quality term {term!r}")
    sign = _SIGN[term]
    rule = ("interval of fine-tuned - retain above 0" if sign > 0
            else "interval of fine-tuned - retain below 0 (a lower term: more detectable)")
    if low is None or high is None:
        return None, rule
    bound = low if sign > 0 else -high
    return bool(bound > 0), rule


def term_checks(comparisons: Mapping[str, Mapping[str, object]], alpha: float) -> dict[str, TermCheck]:
    """Per FQ term, its verdict from the fine-tuned - retain comparisons (metric -> row with
    estimate, low, high, p_differs, k)."""
    out = {}
    for term, metric in TERMS.items():
        row = comparisons.get(metric) or {}
        est, low, high, p = (row.get(x) for x in ("estimate", "low", "high", "p_differs"))
        informative, rule = check_term(term, _num(est), _num(low), _num(high), _num(p), alpha)
        out[term] = TermCheck(term, metric, _num(est), _num(low), _num(high), _num(p),
                              None if row.get("k") is None else str(row.get("k")), informative, rule)
    return out


def _num(x: object) -> float | None:
    return None if x is None else float(x)  # type: ignore[arg-type]


def shared_out_weights(weights: Mapping[str, float], informative: Mapping[str, bool | None]) -> dict[str, float]:
    """FQ weights with the uninformative terms' set to 0 (unknown terms keep theirs)."""
    return {t: (0.0 if informative.get(t) is False else float(w)) for t, w in weights.items()}


def informative_forget_quality(metrics: Mapping[str, float | None], agg: AggregateConfig,
                               informative: Mapping[str, bool | None], skip: Iterable[str] = ()) -> float | None:
    """FQ over the informative terms only, the uninformative weight shared out (None when no
    term is informative or an input is missing)."""
    weights = shared_out_weights(agg.fq_weights, informative)
    if sum(weights.values()) <= 0:
        return None
    cfg = dataclasses.replace(agg, fq_weights=weights, mu_metrics=())
    try:
        return aggregates(metrics, cfg, skip)["forget_quality"]
    except ConfigError:
        return None
