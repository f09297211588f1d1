"""Calibration of the instrument: is the truth ratio neutral for people a model never saw?

The truth ratio R = P(perturbed) / P(paraphrased answer) (TOFU, Maini et al. 2024;
FIUBench) only measures knowledge if, for a model that never saw a person, the true
answer and the perturbed ones are equally plausible. The retain model never saw the
forget identities nor the holdout identities (built like the others, never
trained), so on a well-built dataset its truth ratios on both splits are draws from
one distribution centred on R = 1:

* two-sample Kolmogorov-Smirnov test (``scipy.stats.ks_2samp``) between its forget
  and its holdout truth ratios: p >= ``alpha`` (a small p means the forget
  identities are not "never seen" for it, e.g. they leaked into its training);
* median log R (natural log) on each split within +-``max_abs_median_log_r``
  (a negative median means the perturbed answers are implausible in themselves:
  values nobody has, or the wrong type; a positive one, that they are facts the
  model learned from other people).

Fails either, and the truth ratio, the KS forget-quality test and the truth-ratio
utility terms measure the dataset's construction, not forgetting: a miscalibrated
instrument. Pure functions of per-sample truth ratios.

The check uses the geometric truth ratio R = exp(mean_j ln P(pert_j) - ln P(para)):
with exchangeable answers E[ln R] = 0 exactly for a never-trained model (the
arithmetic mean of probabilities is biased upwards by Jensen's inequality).

Caveat: the KS test treats the ~20 questions of one identity as independent, so
with few identities its p-value is optimistic; the median bound carries most of
the weight there.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from fiubench.metrics.ks import ks_test

ALPHA = 0.05
MAX_ABS_MEDIAN_LOG_R = 0.3

NO_HOLDOUT = (
    "cannot run: needs never-trained identities with paraphrased and perturbed answers "
    "(a 'holdout' split) to compare the forget identities with; the official release has none"
)


def median_log_ratio(ratios: Sequence[float]) -> float:
    """Median of ln R."""
    r = np.asarray(ratios, dtype=np.float64)
    if r.size == 0:
        raise ValueError("median log truth ratio of no values")
    return float(np.median(np.log(r)))


def calibration_problems(
    ks_p: float, forget_median_log_r: float, holdout_median_log_r: float, *,
    alpha: float = ALPHA, max_abs_median_log_r: float = MAX_ABS_MEDIAN_LOG_R,
) -> list[str]:
    """Why a retain model's forget-vs-holdout statistics fail the check (empty: calibrated)."""
    out = []
    if ks_p < alpha:
        out.append(f"forget and holdout truth ratios differ (KS p = {ks_p:.3g} < {alpha})")
    for split, med in (("forget", forget_median_log_r), ("holdout", holdout_median_log_r)):
        if abs(med) > max_abs_median_log_r:
            side = "implausible in themselves" if med < 0 else "more plausible than the truth"
            out.append(
                f"median log R on {split} = {med:+.2f} (|.| > {max_abs_median_log_r}): perturbed answers {side}"
            )
    return out


@dataclass(frozen=True)
class CalibrationCheck:
    """The retain model's forget-vs-holdout truth-ratio comparison."""

    n_forget: int
    n_holdout: int
    ks_statistic: float
    ks_p: float
    ks_log10_p: float
    forget_median_log_r: float
    holdout_median_log_r: float
    problems: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.problems

    def metrics(self) -> dict[str, float]:
        """Flat metrics (stored with the retain model's results)."""
        return {
            "calibration.ks_p": self.ks_p,
            "calibration.ks_log10_p": self.ks_log10_p,
            "calibration.forget_median_log_r": self.forget_median_log_r,
            "calibration.holdout_median_log_r": self.holdout_median_log_r,
            "calibration.ok": 1.0 if self.ok else 0.0,
        }

    def summary(self) -> str:
        head = (
            f"KS p = {self.ks_p:.3g} (forget {self.n_forget} vs holdout {self.n_holdout} QA), median log R "
            f"forget {self.forget_median_log_r:+.3f}, holdout {self.holdout_median_log_r:+.3f}"
        )
        if self.ok:
            return f"{head}: calibrated"
        return f"{head}: MISCALIBRATED INSTRUMENT: " + "; ".join(self.problems)


def calibration_check(
    forget_ratios: Sequence[float], holdout_ratios: Sequence[float], *,
    alpha: float = ALPHA, max_abs_median_log_r: float = MAX_ABS_MEDIAN_LOG_R,
) -> CalibrationCheck:
    """Check a never-trained model's truth ratios R on forget vs holdout identities."""
    if len(forget_ratios) == 0 or len(holdout_ratios) == 0:
        raise ValueError("calibration check needs truth ratios on both the forget and the holdout split")
    if any(not (r > 0 and math.isfinite(r)) for r in (*forget_ratios, *holdout_ratios)):
        raise ValueError("truth ratios must be positive and finite")
    ks = ks_test(forget_ratios, holdout_ratios)
    mf, mh = median_log_ratio(forget_ratios), median_log_ratio(holdout_ratios)
    problems = calibration_problems(ks.p_value, mf, mh, alpha=alpha, max_abs_median_log_r=max_abs_median_log_r)
    return CalibrationCheck(
        n_forget=len(forget_ratios), n_holdout=len(holdout_ratios), ks_statistic=ks.statistic,
        ks_p=ks.p_value, ks_log10_p=ks.log10_p, forget_median_log_r=mf, holdout_median_log_r=mh,
        problems=tuple(problems),
    )


CALIBRATION_METRICS = (
    "calibration.ks_p", "calibration.ks_log10_p", "calibration.forget_median_log_r",
    "calibration.holdout_median_log_r", "calibration.ok",
)
