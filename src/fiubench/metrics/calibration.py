"""Calibration of the instrument: is the truth ratio neutral for people a model never saw?

The truth ratio R = P(perturbed) / P(paraphrased answer) (TOFU, Maini et al. 2024;
FIUBench) only measures knowledge if, for a model that never saw a person, the true
answer and the perturbed ones are equally plausible. The retain model never saw the
forget identities nor the holdout identities (built like the others, never
trained), so on a well-built dataset its ln R on both splits are draws from one
distribution centred on 0. A negative mean ln R means the perturbed answers are
implausible in themselves (values nobody has, or the wrong type); a positive one, that
they are facts the model learned from other people; forget and holdout differing, that
the forget identities are not "never seen" for it (e.g. they leaked into its training).
Miscalibrated, the truth ratio, the KS forget-quality test and the truth-ratio utility
terms measure the dataset's construction, not forgetting.

The check uses the geometric truth ratio R = exp(mean_j ln P(pert_j) - ln P(para)):
with exchangeable answers E[ln R] = 0 exactly for a never-trained model (the
arithmetic mean of probabilities is biased upwards by Jensen's inequality).

:func:`person_calibration` is the one check, with the identity as the unit (the ~20
questions of one identity are not independent: an answer-level KS test gave 15-31 %
false alarms under exchangeability, so versions <= 5 of the metrics, which stored that
screen, are not comparable). It is stored with every retain-model evaluation as
``calibration.*`` (:meth:`PersonCalibration.metrics`, via
:func:`fiubench.eval.compute.calibration_metrics`) and shown per field by ``fiubench
audit``; both call it on the same records with the same seed, so they agree.
(1) forget vs holdout: the KS distance D between the two splits' ln R, its p from
permuting *identities* between the splits (``scipy.stats.permutation_test``); (2) the
**mean** ln R of each split with its BCa interval over identities
(:func:`fiubench.metrics.inference.person_bootstrap`), "biased" when it differs from 0
(person-level BCa p < alpha) by more than ``margin`` (ln units: 0.1 = R off by ~10 %);
(3) the same per **field** (the QA's profile attribute: blood type, admission, ...),
so the table names the field that is miscalibrated; the p-values of (1)-(3) are
Holm-adjusted together (one family: "miscalibrated" is one claim); a
field is "calibrated" when the TOST puts its mean inside +-margin, "undecided" when
these people cannot tell, and gets no verdict with fewer than ``MIN_IDENTITIES``
identities (BCa over 2-4 people is far too narrow: a false alarm on a 2-person field
was seen on the smoke run). Calibrated = none of (1)-(3) fails.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass

import numpy as np
from scipy import stats

from fiubench.metrics import inference as inf

ALPHA = 0.05
MARGIN_LOG_R = 0.1  # |mean ln R| beyond this (and significant) is a bias
# fewer identities give no verdict: a BCa interval over 2-4 people is far too narrow
MIN_IDENTITIES = 5

NO_HOLDOUT = (
    "cannot run: needs never-trained identities with paraphrased and perturbed answers "
    "(a 'holdout' split) to compare the forget identities with; the official release has none"
)

# the flat metrics of PersonCalibration.metrics(), stored with the retain model's results
CALIBRATION_METRICS = (
    "calibration.ks_d", "calibration.perm_p",
    "calibration.forget_mean_log_r", "calibration.forget_mean_log_r_low", "calibration.forget_mean_log_r_high",
    "calibration.holdout_mean_log_r", "calibration.holdout_mean_log_r_low", "calibration.holdout_mean_log_r_high",
    "calibration.forget_people", "calibration.holdout_people", "calibration.fields_miscalibrated",
    "calibration.ok",
)


# ------------------------------------------------------------------ person-level check
@dataclass(frozen=True)
class MeanLogR:
    """Mean ln R of one set of identities with its BCa interval over them and its verdict."""

    name: str  # "forget", "holdout" or a field
    k: int
    n_answers: int
    mean: float
    low: float
    high: float
    p_biased: float  # H0: mean ln R = 0, two-sided, BCa-inverted (Holm-adjusted for fields)
    p_calibrated: float  # TOST of |mean ln R| < margin
    verdict: str  # "calibrated", "MISCALIBRATED" or "undecided"


@dataclass(frozen=True)
class PersonCalibration:
    """The retain model's truth ratios, forget vs never-trained holdout, identity as the unit."""

    k_forget: int
    k_holdout: int
    d: float  # KS distance between forget and holdout ln R
    p_split: float  # identities permuted between the splits
    splits: tuple[MeanLogR, ...]
    fields: tuple[MeanLogR, ...]
    margin: float
    alpha: float
    p_split_adjusted: float = float("nan")  # Holm over every test of the check (NaN: as p_split)

    @property
    def problems(self) -> list[str]:
        out = []
        p = self.p_split if np.isnan(self.p_split_adjusted) else self.p_split_adjusted
        if p < self.alpha:
            out.append(f"forget and holdout truth ratios differ (KS D = {self.d:.3f}, identity-permutation "
                       f"p = {self.p_split:.3g}, Holm-adjusted {p:.3g} < {self.alpha})")
        for m in (*self.splits, *self.fields):
            if m.verdict == "MISCALIBRATED":
                side = "implausible in themselves" if m.mean < 0 else "more plausible than the truth"
                where = f"split {m.name}" if m in self.splits else f"field {m.name!r}"
                out.append(f"{where}: mean ln R = {m.mean:+.2f} [{m.low:+.2f}, {m.high:+.2f}] (k={m.k}), "
                           f"beyond +-{self.margin}: perturbed answers {side}")
        return out

    @property
    def ok(self) -> bool:
        return not self.problems

    def as_dict(self) -> dict:
        d = asdict(self)
        d["problems"], d["ok"] = self.problems, self.ok
        return d

    def metrics(self) -> dict[str, float | None]:
        """Flat metrics (:data:`CALIBRATION_METRICS`; an undefined bound is None)."""
        def num(x: float) -> float | None:
            return float(x) if np.isfinite(x) else None

        out: dict[str, float | None] = {"calibration.ks_d": num(self.d), "calibration.perm_p": num(self.p_split)}
        for m in self.splits:
            base = f"calibration.{m.name}_mean_log_r"
            out[base], out[f"{base}_low"], out[f"{base}_high"] = num(m.mean), num(m.low), num(m.high)
        out["calibration.forget_people"], out["calibration.holdout_people"] = float(self.k_forget), float(self.k_holdout)
        out["calibration.fields_miscalibrated"] = float(sum(m.verdict == "MISCALIBRATED" for m in self.fields))
        out["calibration.ok"] = 1.0 if self.ok else 0.0
        return out

    def summary(self) -> str:
        """One line: the figures and the verdict (``fiubench eval --retain-eval self``)."""
        def mean(m: MeanLogR) -> str:
            iv = f" [{m.low:+.3f}, {m.high:+.3f}]" if np.isfinite(m.low) else f" ({m.verdict})"
            return f"{m.name} {m.mean:+.3f}{iv}"

        head = (f"forget vs holdout KS D = {self.d:.3f}, identity-permutation p = {self.p_split:.3g} "
                f"({self.k_forget} vs {self.k_holdout} identities), mean ln R "
                + ", ".join(mean(m) for m in self.splits)
                + f"; {sum(m.verdict == 'MISCALIBRATED' for m in self.fields)} of {len(self.fields)} fields miscalibrated")
        return f"{head}: calibrated" if self.ok else f"{head}: MISCALIBRATED INSTRUMENT: " + "; ".join(self.problems)


def _mean_log_r(name: str, units: Sequence[np.ndarray], margin: float, alpha: float, n_boot: int,
                seed: int) -> tuple[MeanLogR, float]:
    """(entry with the unadjusted p, the unadjusted p)."""
    units = [u for u in units if len(u)]
    k, n = len(units), int(sum(len(u) for u in units))
    if k < MIN_IDENTITIES:
        nan = float("nan")
        return MeanLogR(name, k, n, inf.pooled_mean(units) if k else nan, nan, nan, nan, nan, "too few identities"), nan
    boot = inf.person_bootstrap(lambda idx: inf.pooled_mean(units, idx["people"]), {"people": k},
                                n_resamples=n_boot, seed=seed)
    iv = boot.interval()
    assert iv is not None
    p = min(1.0, 2.0 * min(boot.p_above(0.0), boot.p_below(0.0)))
    p_eq = inf.tost_p(boot, margin)
    return MeanLogR(name, k, n, iv.estimate, iv.low, iv.high, p, p_eq, _verdict(iv.estimate, p, p_eq, margin,
                                                                                  alpha)), p


def _verdict(mean: float, p: float, p_eq: float, margin: float, alpha: float) -> str:
    if np.isfinite(p) and p < alpha and abs(mean) > margin:
        return "MISCALIBRATED"
    if np.isfinite(p_eq) and p_eq < alpha:
        return "calibrated"
    return "undecided"


def person_calibration(forget: Sequence[np.ndarray], holdout: Sequence[np.ndarray], *,
                       fields: Mapping[str, Sequence[np.ndarray]] | None = None, margin: float = MARGIN_LOG_R,
                       alpha: float = ALPHA, n_boot: int = 1999, n_permutations: int = 1999,
                       seed: int = 0) -> PersonCalibration:
    """The calibration check over identities.

    ``forget`` / ``holdout``: per identity, the ln R of its QA (the retain model's, which
    never saw either split). ``fields``: field -> per identity (any split) the ln R of
    its QA of that field. See the module docstring for the tests and verdicts.
    """
    f = [np.asarray(u, dtype=np.float64) for u in forget if len(u)]
    h = [np.asarray(u, dtype=np.float64) for u in holdout if len(u)]
    if not f or not h:
        raise ValueError("calibration check needs truth ratios on both the forget and the holdout split")
    if any(not np.all(np.isfinite(u)) for u in (*f, *h)):
        raise ValueError("calibration check: ln R must be finite")
    units = f + h

    def dist(x: np.ndarray, y: np.ndarray) -> float:
        return inf.ks_distance(inf.pooled(units, x), inf.pooled(units, y))

    ids = np.arange(len(units))
    if len(f) < 2 or len(h) < 2:  # one identity on a side: nothing to permute, no p (not a failure)
        d_split, p_split = dist(ids[:len(f)], ids[len(f):]), float("nan")
    else:
        perm = stats.permutation_test((ids[:len(f)], ids[len(f):]), dist, permutation_type="independent",
                                      vectorized=False, n_resamples=n_permutations, alternative="greater",
                                      random_state=np.random.default_rng(seed))
        d_split, p_split = float(perm.statistic), float(perm.pvalue)
    entries, ps = [], []
    for name, per in (("forget", f), ("holdout", h), *sorted((fields or {}).items())):
        m, p = _mean_log_r(name, [np.asarray(u, dtype=np.float64) for u in per], margin, alpha, n_boot, seed)
        entries.append(m)
        ps.append(p)
    # "miscalibrated" is one claim resting on every test of the check: Holm over all of
    # them keeps its false alarms at alpha per run (the split KS alone flagged 1 of 3
    # calibrated draws of the default run at p = 0.036, means ln R +0.03 and +0.06)
    adj = inf.adjust([p_split, *ps], "holm")
    entries = [m if m.k < MIN_IDENTITIES else
               MeanLogR(**{**asdict(m), "p_biased": float(a),
                           "verdict": _verdict(m.mean, float(a), m.p_calibrated, margin, alpha)})
               for m, a in zip(entries, adj[1:], strict=True)]
    return PersonCalibration(len(f), len(h), d_split, p_split, tuple(entries[:2]), tuple(entries[2:]),
                             margin, alpha, float(adj[0]))
