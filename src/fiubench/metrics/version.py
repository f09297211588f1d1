"""The version of the metric definitions, written into every evaluation's results.

Results computed under different definitions are not comparable: the results store,
``fiubench results --compare``, the KS reference check and the pipeline's step cache
all read this number, so an old and a new number are never silently mixed. Bump it
(and say what changed below) whenever a metric's *definition* changes; adding a new
metric does not need a bump.

History
    1  (unversioned results) truth ratio with the arithmetic mean of the perturbed
       probabilities; forget-quality MIA term 1 - AUC (one-sided); ``mia.upstream_min_k``
       a plain mean over k of the mean lowest-k log-probs; ``visual.open_em`` the whole
       reference sentence after 8 new tokens; similarity judge = whole-sentence cosine.
    2  truth ratio with the geometric mean (TOFU / FIUBench code) by default, its
       definition stored with the results and checked by the KS step; MIA term
       1 - 2|AUC - 0.5| (two-sided) plus TPR at 1 % / 5 % FPR and the privacy leak
       relative to the retain model; ``mia.upstream_min_k`` = upstream's weighted
       sum of exp(mean lowest-k log-probs); ``visual.open_em`` scores the attribute
       span with a generation budget that fits every reference answer; the offline
       judge scores the private value (keywords), not the sentence.
    3  forget quality's KS term on the paper's scale by default
       (``aggregate.ks_norm: paper_log``): clip(1 + log10 p / 26, 0, 1), s fixed at 26
       whatever the number of answers; the raw p (versions 1-2) is ``ks_norm: raw_p``.
    4  exact match (and APE) find a keyword on word boundaries, numbers compared as
       numbers (``metrics.text.keyword_found``); upstream's substring rule is the
       compatibility metric ``*.exact_match_substring``. The generator's occupation
       vocabulary drops the 30 jobs found inside another ("administrator"), so
       datasets built from the same seed differ from earlier ones.
    5  MIA TPR at x % FPR undefined (n/a) below 10 / x never-seen answers
       (``mia.min_negatives``); ``mia.nonmembers`` / ``mia.nonmember_people`` count them.
    6  the retain model's ``calibration.*`` are the person-level check of ``fiubench audit``
       (``metrics.calibration.person_calibration``: identity-permutation p of the forget
       vs holdout KS D, mean ln R per split with its BCa interval over identities, per-field
       verdicts); the answer-level screen (KS over answers, median ln R within +-0.3) and
       its ``calibration.ks_p`` / ``ks_log10_p`` / ``*_median_log_r`` are gone.
    7  ``calibration.ok``: the split test's p and every split and field mean's p are
       Holm-adjusted together (one family), so a calibrated instrument is flagged at
       most alpha of the time; ``calibration.perm_p`` stays the raw p.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

METRICS_VERSION = 7
UNVERSIONED = 1  # results written before the version existed


def version_of(results: Mapping[str, Any]) -> int:
    """The metrics version of a ``results.json`` dict (1 when it predates versioning)."""
    v = results.get("metrics_version")
    return UNVERSIONED if v is None else int(v)
