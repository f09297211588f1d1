"""`fiubench audit` on a hand-made finished run: simulations, calibration over identities
(a biased field is named and fails the run, exit 3: not 1, a crash, nor 2, bad input),
power table, report section."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from fiubench.cli.audit import EXIT_MISCALIBRATED
from fiubench.cli.main import main
from fiubench.eval import audit as ea
from fiubench.eval.result import EvalResult
from fiubench.report.audit import audit_tables
from fiubench.report.render import to_markdown

FIELDS = ("blood_type", "address", "hospital", "income")


def _records(seed: int, em: float, bias: float = 0.0) -> list[dict]:
    """10 forget and 10 holdout people, one QA per field; ``bias``: ln R shift of blood type."""
    rng = np.random.default_rng(seed)
    recs = []
    for split, prefix in (("forget", "f"), ("holdout", "h")):
        for p in range(10):
            person = rng.normal(0, 0.2)
            for q, fld in enumerate(FIELDS):
                lnr = rng.normal(person, 0.3) + (bias if fld == "blood_type" else 0.0)
                recs.append({"kind": "qa", "split": split, "unique_id": f"{prefix}{p}", "qa_index": q,
                             "field": fld, "paraphrased_nll": 2.0, "perturbed_nll": [2.0 + lnr],
                             "exact_match": float(rng.random() < em)})
    return recs


def _run(tmp: Path, bias: float) -> Path:
    run = tmp / "run"
    steps = run / "steps"
    for name, recs in (("eval_retain-a", _records(1, 0.1, bias)), ("eval_ft-b", _records(2, 0.7))):
        EvalResult({}, {}, {}, {}, {}, records=recs).save(steps / name / "eval")
    u = steps / "uncertainty_forget10-c"
    u.mkdir(parents=True)
    (u / "DONE.json").write_text(json.dumps({
        "step": "uncertainty/forget10", "inputs": {"retain#0": "eval_retain-a", "ft#0": "eval_ft-b"},
        "provenance": {"config": {"groups": [["retain", "retain", None, ""], ["ft", "finetuned", None, ""]]}}}))
    comps = [{"metric": m, "family": "pairs", "low": -0.1, "high": 0.1} for m in ea.POWER_METRICS]
    (u / "uncertainty.json").write_text(json.dumps({"level": 0.95, "comparisons": comps}))
    (run / "results.sqlite").write_bytes(b"")
    return run


@pytest.mark.parametrize("bias", [0.0, -1.0])
def test_audit_exit_status_follows_calibration(tmp_path: Path, bias: float, capsys) -> None:
    run = _run(tmp_path, bias)
    rc = main(["audit", str(run), "--sims", "10", "--n-boot", "99"])
    out = capsys.readouterr().out
    res = json.loads((run / "audit.json").read_text())
    split = res["splits"][0]
    assert split["k"] == 10 and {c["k"] for c in split["coverage"]} == {4, 10, 20, 40}
    fields = {f["name"]: f["verdict"] for f in split["calibration"]["fields"]}
    if bias:
        assert rc == EXIT_MISCALIBRATED == 3 and fields["blood_type"] == "MISCALIBRATED" and "blood_type" in out
        assert "calibration: FAILED (exit 3)" in out
        assert all(fields[f] != "MISCALIBRATED" for f in FIELDS[1:])
    else:
        assert rc == 0 and "MISCALIBRATED" not in fields.values()
    # power: SE = 0.2 / 3.92 at k = 10 -> smallest difference 2.80 SE, a quarter of the people: x2
    p = {r["metric"]: r for r in split["power"]}["forget_quality"]
    assert p["mde"] == pytest.approx(2.8016 * 0.2 / 3.92, rel=1e-3)
    assert p["mde_k40"] == pytest.approx(p["mde"] / 2)
    md = "\n".join(to_markdown(t) for t in audit_tables(res))
    assert "Calibration over identities" in md and "Power" in md and "field blood_type" in md


def test_audit_rejects_what_is_not_a_finished_run(tmp_path: Path) -> None:
    assert main(["audit", str(tmp_path)]) == 2
    assert main(["audit", str(tmp_path / "missing")]) == 2


def test_audit_help_documents_its_exit_status(capsys) -> None:
    with pytest.raises(SystemExit):
        main(["audit", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "3 the calibration check failed" in out and "2 bad input" in out and "1 a crash" in out
