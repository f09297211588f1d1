"""Registry of every reported metric: direction, split read, display label.

Each entry declares whether higher is better and which split (or reference) it
reads, so reports never have to guess how to sort or colour a number
(lm-evaluation-harness style).
"""

from __future__ import annotations

from dataclasses import dataclass

from fiubench.utils.registry import Registry


@dataclass(frozen=True)
class MetricInfo:
    """What a flat metric name means."""

    name: str
    higher_is_better: bool | None  # None: neither (closest to a target value is best)
    split: str  # "forget", "retain", "forget+holdout", "visual", "mme", "pope", "aggregate"
    label: str
    headline: bool = False  # an input of model utility or forget quality


METRICS: Registry[MetricInfo] = Registry("metric")


def _add(name: str, hib: bool | None, split: str, label: str, headline: bool = False) -> None:
    METRICS.add(name, MetricInfo(name, hib, split, label, headline))


# Forget side: lower memorisation of the forgotten identities is better, except for the
# KS p-value (1 = indistinguishable from the retain model) and the truth-ratio forget
# score min(R, 1/R) (1 = the model prefers neither true nor false answers).
_add("forget.rouge_l", False, "forget", "ROUGE-L recall (forget)")
_add("forget.probability", False, "forget", "P(answer) (forget)")
_add("forget.truth_ratio", True, "forget", "truth ratio min(R,1/R) (forget)")
_add("forget.exact_match", False, "forget", "keyword exact match (forget)", headline=True)
_add("forget.ape", False, "forget", "APE: exact match on paraphrased questions", headline=True)
_add("forget.judge", False, "forget", "judge score (forget)")
_add("forget.exact_match_substring", False, "forget", "upstream substring exact match (forget; compatibility)")
_add("forget.exposure", False, "forget", "exposure of the true value among its field's values, bits (metrics.exposure)")
_add("forget.exposure_chance", None, "forget", "exposure a model that never saw the person has in expectation, bits")
_add("forget.exposure_top1", False, "forget", "fraction of vocabulary QA whose true value the model ranks first")
_add("forget.ks_p", True, "forget", "KS-test p-value vs retain model", headline=True)
_add("forget.ks_log10_p", True, "forget", "KS-test log10 p-value vs retain model")
_add("forget.ks_perm_p", True, "forget", "KS identity-permutation p-value vs retain model (people as units)")
_add("forget.ks_perm_p_floor", None, "forget",
     "smallest p forget.ks_perm_p can give (2/2^k over k identities): at it, p is 'at most'")
_add("forget.ks_d", False, "forget", "KS distance D between the model's and the retain model's truth ratios")
# MIA: ROC AUC oriented so 1.0 = every forget QA detected as a training member; 0.5
# (chance) is best, an AUC below 0.5 is reverse detectability (see metrics.mia).
_MIA_NAMES = {"loss": "LOSS", "zlib": "zlib", "min_k": "Min-K%", "min_k_pp": "Min-K%++"}
for _a, _n in _MIA_NAMES.items():
    _add(f"mia.auc_{_a}", None, "forget+holdout", f"MIA AUC, {_n} (0.5 = chance)", headline=_a == "min_k_pp")
    _add(f"mia.tpr1_{_a}", False, "forget+holdout", f"MIA TPR at 1% FPR, {_n}")
    _add(f"mia.tpr5_{_a}", False, "forget+holdout", f"MIA TPR at 5% FPR, {_n}")
    _add(f"mia.leak_{_a}", None, "forget+holdout", f"MIA privacy leak (AUC-AUC_retain)/AUC_retain, {_n}")
_add("mia.nonmembers", None, "holdout", "never-seen (holdout) answers the MIA scores are compared with")
_add("mia.nonmember_people", None, "holdout", "never-seen (holdout) people those answers come from")
_add("mia.fq_term", True, "forget+holdout", "MIA term of forget quality, 1-2|AUC-0.5|")
_add("mia.upstream_min_k", False, "forget", "upstream Min-K% score: sum_k w_k exp(mean lowest k%)")
# Retain side (model utility): higher is better.
_add("retain.rouge_l", True, "retain", "ROUGE-L recall (retain)", headline=True)
_add("retain.probability", True, "retain", "P(a)/(P(a)+sum P(perturbed)) (retain)")
_add("retain.truth_ratio", True, "retain", "truth ratio max(0,1-R) (retain)", headline=True)
_add("retain.exact_match", True, "retain", "keyword exact match (retain)")
_add("retain.exact_match_substring", True, "retain", "upstream substring exact match (retain; compatibility)")
_add("retain.judge", True, "retain", "judge score (retain)", headline=True)
_add("visual.acc", True, "visual", "visual yes/no accuracy (all faces)", headline=True)
_add("visual.open_em", True, "visual", "visual open-question exact match (all faces)")
_add("visual.acc_holdout", True, "visual", "visual yes/no accuracy (holdout: unseen faces)")
_add("visual.open_em_holdout", True, "visual", "visual open-question exact match (holdout: unseen faces)")
_add("mme.acc", True, "mme", "MME accuracy")
_add("mme.acc_plus", True, "mme", "MME accuracy+ (both questions of an image right)")
_add("pope.acc", True, "pope", "POPE accuracy")
# Calibration of the instrument (metrics.calibration.person_calibration, identity as the
# unit): the retain model's ln R on forget vs never-trained holdout identities; only in the
# retain model's results. ``fiubench audit`` runs the same check and adds the per-field table.
_add("calibration.ks_d", False, "forget+holdout", "calibration: KS distance D, retain model forget vs holdout ln R")
_add("calibration.perm_p", True, "forget+holdout",
     "calibration: p of D, identities permuted between forget and holdout")
for _s in ("forget", "holdout"):
    _add(f"calibration.{_s}_mean_log_r", None, _s, f"calibration: mean ln R on {_s} (target 0)")
    _add(f"calibration.{_s}_mean_log_r_low", None, _s, f"calibration: mean ln R on {_s}, 95 % BCa low (identities)")
    _add(f"calibration.{_s}_mean_log_r_high", None, _s, f"calibration: mean ln R on {_s}, 95 % BCa high (identities)")
_add("calibration.forget_people", None, "forget", "calibration: forget identities with a ln R")
_add("calibration.holdout_people", None, "holdout", "calibration: holdout identities with a ln R")
_add("calibration.fields_miscalibrated", False, "forget+holdout",
     "calibration: QA fields whose mean ln R is off (Holm; fiubench audit names them)")
_add("calibration.ok", True, "forget+holdout", "calibration: 1 = calibrated instrument, 0 = miscalibrated")
_add("model_utility", True, "aggregate", "model utility (paper: arithmetic mean)")
_add("forget_quality", True, "aggregate", "forget quality")


def metric_info(name: str) -> MetricInfo:
    return METRICS.get(name)
