"""The stored calibration check (``calibration.*``), through the evaluation path
(``eval.compute.compute_metrics(..., calibration=True)``) on a simulated retain model: its
own records with exchangeable forget / holdout truth ratios come out calibrated; a shifted
QA field or a shifted forget set comes out miscalibrated; and ``fiubench audit``'s check
(``eval.audit.calibration``) on the same records gives the same verdict and figures."""

from __future__ import annotations

import math

import numpy as np
import pytest

from fiubench.eval import audit as ea
from fiubench.eval.compute import calibration_metrics, compute_metrics
from fiubench.metrics.calibration import CALIBRATION_METRICS, NO_HOLDOUT, person_calibration
from fiubench.metrics.info import metric_info
from fiubench.metrics.truth_ratio import truth_ratio

FIELDS = ("blood_type", "address", "hospital", "income", "name")
PARA_NLL = 2.0


def _records(seed: int = 0, *, forget_shift: float = 0.0, field_shift: float = 0.0, n: int = 12,
             per_field: int = 4) -> list[dict]:
    """A retain model's QA records: ``n`` forget and ``n`` holdout identities, ``per_field`` QA
    per field; ln R = identity effect + answer noise (exchangeable answers: centred on 0).
    ``forget_shift``: added to every forget ln R (the forget people are not "never seen");
    ``field_shift``: added to blood type's ln R on both splits (implausible perturbed values)."""
    rng = np.random.default_rng(seed)
    recs = []
    for split, prefix in (("forget", "f"), ("holdout", "h")):
        for p in range(n):
            person = rng.normal(0.0, 0.15)
            q = 0
            for fld in FIELDS:
                for _ in range(per_field):
                    lnr = (rng.normal(person, 0.4) + (forget_shift if split == "forget" else 0.0)
                           + (field_shift if fld == "blood_type" else 0.0))
                    pert = [PARA_NLL - lnr + 0.3, PARA_NLL - lnr, PARA_NLL - lnr - 0.3]  # geometric mean: ln R
                    lp = list(rng.normal(-1.0, 0.3, size=4))
                    recs.append({
                        "kind": "qa", "split": split, "unique_id": f"{prefix}{p:02d}", "qa_index": q, "field": fld,
                        "answer": "a b c d", "answer_logprobs": lp, "answer_mu": [-1.0] * 4, "answer_sigma": [1.0] * 4,
                        "answer_nll": -float(np.mean(lp)), "rouge_l": 0.5, "exact_match": 0.0,
                        "paraphrased_nll": PARA_NLL, "perturbed_nll": pert,
                        "truth_ratio": truth_ratio(PARA_NLL, pert, "geometric"),
                    })
                    q += 1
    return recs


def _evaluate(recs: list[dict]) -> dict[str, float | None]:
    """The retain model's evaluation: its own reference, with the calibration check."""
    return compute_metrics(recs, self_reference=True, calibration=True, metrics_version=6)


def test_records_carry_the_intended_log_r() -> None:
    recs = _records(field_shift=-1.0)
    r = next(x for x in recs if x["field"] == "blood_type")
    assert ea.log_r(r) == pytest.approx(math.log(r["truth_ratio"]))
    assert np.mean([ea.log_r(x) for x in recs if x["field"] == "blood_type"]) == pytest.approx(-1.0, abs=0.15)


def test_the_retain_models_own_records_are_calibrated() -> None:
    m = _evaluate(_records())
    assert set(CALIBRATION_METRICS) <= set(m)
    assert m["calibration.ok"] == 1.0 and m["calibration.fields_miscalibrated"] == 0.0
    assert m["calibration.perm_p"] >= 0.05
    assert m["calibration.forget_people"] == m["calibration.holdout_people"] == 12.0
    for s in ("forget", "holdout"):
        lo, mean, hi = (m[f"calibration.{s}_mean_log_r{x}"] for x in ("_low", "", "_high"))
        assert lo <= 0.0 <= hi and lo < mean < hi and abs(mean) < 0.1
    assert m["forget.ks_p"] == 1.0  # the KS metrics against itself are untouched


def test_a_shifted_field_is_miscalibrated() -> None:
    """Blood type's perturbed values implausible (ln R -1 on both splits): the splits stay
    alike (permutation p high) but the field fails, so the instrument fails."""
    m = _evaluate(_records(field_shift=-1.0))
    assert m["calibration.ok"] == 0.0 and m["calibration.fields_miscalibrated"] == 1.0
    assert m["calibration.perm_p"] >= 0.05
    cal = ea.calibration(_records(field_shift=-1.0))
    assert [f.name for f in cal.fields if f.verdict == "MISCALIBRATED"] == ["blood_type"]


def test_a_shifted_forget_set_is_miscalibrated() -> None:
    """Forget ln R shifted by -0.6 (the retain model knows the forget people): the
    identity-permutation test separates the splits and the forget mean is off."""
    m = _evaluate(_records(forget_shift=-0.6))
    assert m["calibration.ok"] == 0.0 and m["calibration.perm_p"] < 0.05
    assert m["calibration.forget_mean_log_r_high"] < -0.1
    assert m["calibration.holdout_mean_log_r_low"] <= 0.0 <= m["calibration.holdout_mean_log_r_high"]


@pytest.mark.parametrize("kw", [{}, {"field_shift": -1.0}, {"forget_shift": -0.6}])
def test_the_audit_and_the_evaluation_agree(kw: dict) -> None:
    recs = _records(**kw)
    stored = calibration_metrics(recs)
    cal = ea.calibration(recs, seed=0)  # what fiubench audit computes (its default seed)
    assert stored == pytest.approx(cal.metrics(), nan_ok=True)
    assert stored["calibration.ok"] == float(cal.ok)


def test_cannot_run_without_holdout_and_only_for_the_retain_model() -> None:
    recs = [r for r in _records(n=6) if r["split"] != "holdout"]
    assert calibration_metrics(recs) == dict.fromkeys(CALIBRATION_METRICS)
    assert "holdout" in NO_HOLDOUT
    assert not any(k.startswith("calibration.") for k in compute_metrics(_records(n=6)))


def test_metrics_and_summary_of_person_calibration() -> None:
    """Few identities: no interval (None, not NaN), no verdict on the split, still 'ok'."""
    rng = np.random.default_rng(0)
    cal = person_calibration([rng.normal(0, 0.3, 5) for _ in range(3)], [rng.normal(0, 0.3, 5) for _ in range(3)],
                             n_boot=99, n_permutations=99)
    m = cal.metrics()
    assert set(m) == set(CALIBRATION_METRICS)
    assert m["calibration.forget_mean_log_r"] is not None and m["calibration.forget_mean_log_r_low"] is None
    assert m["calibration.ok"] == 1.0 and m["calibration.forget_people"] == 3.0
    s = cal.summary()
    assert "mean ln R forget" in s and "too few identities" in s and s.endswith("calibrated")


def test_every_stored_calibration_metric_is_registered() -> None:
    for name in CALIBRATION_METRICS:
        assert metric_info(name).name == name
    assert metric_info("calibration.forget_mean_log_r").higher_is_better is None


def test_one_identity_on_a_side_gives_no_p_and_no_crash() -> None:
    """A micro dataset (1 forget person): nothing to permute; the check still runs."""
    from fiubench.metrics.calibration import person_calibration

    rng = np.random.default_rng(0)
    res = person_calibration([rng.normal(0, 0.3, 5)], [rng.normal(0, 0.3, 5) for _ in range(4)], n_boot=99)
    assert np.isnan(res.p_split) and res.d >= 0
    assert res.metrics()["calibration.perm_p"] is None


def test_the_split_test_is_adjusted_with_every_mean_of_the_check() -> None:
    """One family: the split KS p is Holm-adjusted together with the splits' and fields' p."""
    from fiubench.metrics.calibration import person_calibration
    from fiubench.metrics.inference import adjust

    rng = np.random.default_rng(4)
    forget = [rng.normal(0, 0.3, 4) for _ in range(8)]
    holdout = [rng.normal(0, 0.3, 4) for _ in range(12)]
    fields = {f"f{i}": [rng.normal(0, 0.3, 2) for _ in range(20)] for i in range(3)}
    res = person_calibration(forget, holdout, fields=fields, n_boot=199, n_permutations=499)
    assert res.p_split <= res.p_split_adjusted <= min(1.0, 6 * res.p_split) + 1e-12
    # a family of one (no field, means at p = 1) leaves it as it is
    assert adjust([res.p_split, 1.0, 1.0])[0] == pytest.approx(min(1.0, 3 * res.p_split))
