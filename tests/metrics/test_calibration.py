"""The calibration check on hand-made truth ratios: a calibrated instrument passes, the
three ways of being miscalibrated are flagged."""

import math

import numpy as np
import pytest

from fiubench.metrics.calibration import (
    ALPHA,
    MAX_ABS_MEDIAN_LOG_R,
    calibration_check,
    calibration_problems,
    median_log_ratio,
)


def test_median_log_ratio_hand() -> None:
    assert median_log_ratio([math.e, 1.0, math.exp(-2)]) == pytest.approx(0.0)
    assert median_log_ratio([math.e, math.e**3]) == pytest.approx(2.0)  # mean of the middle two logs


def _draw(rng: np.random.Generator, n: int, centre: float) -> list[float]:
    return list(np.exp(rng.normal(centre, 1.0, n)))


def test_calibrated_instrument_passes() -> None:
    rng = np.random.default_rng(0)
    chk = calibration_check(_draw(rng, 200, 0.0), _draw(rng, 200, 0.0))
    assert chk.ok and chk.problems == ()
    assert chk.ks_p >= ALPHA and abs(chk.forget_median_log_r) <= MAX_ABS_MEDIAN_LOG_R
    assert chk.metrics()["calibration.ok"] == 1.0 and "calibrated" in chk.summary()


def test_hand_values_exact() -> None:
    forget = [math.exp(x) for x in (-0.2, 0.0, 0.1)]
    holdout = [math.exp(x) for x in (-0.1, 0.05, 0.2)]
    chk = calibration_check(forget, holdout)
    assert chk.forget_median_log_r == pytest.approx(0.0)
    assert chk.holdout_median_log_r == pytest.approx(0.05)
    assert chk.ks_statistic == pytest.approx(1 / 3)
    assert chk.ok


def test_implausible_perturbations_are_flagged() -> None:
    """Control: perturbed answers use values nobody has, so even a never-trained model
    prefers the truth on both splits (median log R ~ -0.8, as measured on the old data)."""
    rng = np.random.default_rng(1)
    chk = calibration_check(_draw(rng, 200, -0.8), _draw(rng, 200, -0.8))
    assert not chk.ok
    assert chk.metrics()["calibration.ok"] == 0.0
    assert any("median log R on forget" in p and "implausible" in p for p in chk.problems)
    assert "MISCALIBRATED" in chk.summary()


def test_known_perturbations_are_flagged() -> None:
    rng = np.random.default_rng(2)
    chk = calibration_check(_draw(rng, 200, 1.0), _draw(rng, 200, 1.0))
    assert any("more plausible than the truth" in p for p in chk.problems)


def test_forget_identities_not_unseen_are_flagged() -> None:
    """Forget truth ratios shifted against holdout's (the forget people leaked into the
    retain model's training): the KS test flags it even with medians within bounds."""
    rng = np.random.default_rng(3)
    chk = calibration_check(_draw(rng, 400, -0.28), _draw(rng, 400, 0.25))
    assert chk.ks_p < ALPHA
    assert any("KS p" in p for p in chk.problems)
    assert len(chk.problems) == 1


def test_problems_thresholds() -> None:
    assert calibration_problems(0.05, 0.3, -0.3) == []
    assert len(calibration_problems(0.049, 0.31, -0.31)) == 3
    assert calibration_problems(0.5, 0.5, 0.0, max_abs_median_log_r=1.0) == []


def test_bad_input() -> None:
    with pytest.raises(ValueError, match="both"):
        calibration_check([], [1.0])
    with pytest.raises(ValueError, match="positive"):
        calibration_check([0.0], [1.0])
