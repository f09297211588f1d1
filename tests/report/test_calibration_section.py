"""The report's "calibration of the instrument" section: calibrated, miscalibrated, cannot run,
and results of an older metrics version (answer-level screen) named as such."""

from __future__ import annotations

from pathlib import Path

from fiubench.report.build import write_report
from fiubench.report.calibration import calibration_table
from fiubench.report.entries import load_entries
from fiubench.report.store import ResultsStore

from .report_synthetic import metrics, results_json


def _cal(p: float, mf: float, mh: float, ok: bool, fields: int = 0, half: float = 0.1) -> dict:
    """Stored person-level calibration metrics (``PersonCalibration.metrics``)."""
    return {"calibration.ks_d": 0.2, "calibration.perm_p": p,
            "calibration.forget_mean_log_r": mf, "calibration.forget_mean_log_r_low": mf - half,
            "calibration.forget_mean_log_r_high": mf + half, "calibration.holdout_mean_log_r": mh,
            "calibration.holdout_mean_log_r_low": mh - half, "calibration.holdout_mean_log_r_high": mh + half,
            "calibration.forget_people": 10.0, "calibration.holdout_people": 10.0,
            "calibration.fields_miscalibrated": float(fields), "calibration.ok": float(ok)}


OLD = {"calibration.ks_p": 0.4, "calibration.ks_log10_p": -0.4, "calibration.forget_median_log_r": 0.0,
       "calibration.holdout_median_log_r": 0.0, "calibration.ok": 1.0}  # metrics version 5


def _db(tmp_path: Path) -> Path:
    db = tmp_path / "r.sqlite"
    with ResultsStore(db) as st:
        retain = {"forget5": _cal(0.6, 0.05, -0.02, True), "forget10": _cal(0.3, -0.8, -0.75, False, fields=2),
                  "forget20": _cal(0.01, 0.0, 0.02, False), "forget1": {}, "forget50": OLD}
        for split, cal in retain.items():
            st.add_results_json(results_json(metrics(0.52, 0.95, 0.05, ks=0.0) | cal), run="r", model="retain",
                                role="retain", forget_split=split, config_hash="r")
            st.add_results_json(results_json(metrics(0.5, 0.1, 0.95, ks=-6.5)), run="r", model="finetuned",
                                role="finetuned", forget_split=split, config_hash="f")
    return db


def test_calibration_table_verdicts(tmp_path: Path) -> None:
    with ResultsStore(_db(tmp_path)) as st:
        t = calibration_table(load_entries(st))
    rows = dict(t.rows)
    assert set(rows) == {"forget1", "forget5", "forget10", "forget20", "forget50"}
    assert rows["forget5"][:7] == [0.2, 0.6, 0.05, -0.02, "10 + 10", 0.0, -6.5] and rows["forget5"][7] == "calibrated"
    v10 = rows["forget10"][7]
    assert v10.startswith("MISCALIBRATED INSTRUMENT") and "mean ln R on forget = -0.80 [-0.90, -0.70]" in v10
    assert "2 QA field(s)" in v10 and "differ" not in v10
    assert "identity-permutation p = 0.01" in rows["forget20"][7] and "mean ln R" not in rows["forget20"][7]
    assert rows["forget1"][7].startswith("cannot run") and "never-trained" in rows["forget1"][7]
    assert rows["forget50"][7].startswith("not checked over identities") and rows["forget50"][1] is None
    assert any("official release has none" in n for n in t.notes)
    i5 = [label for label, _ in t.rows].index("forget5")
    assert t.cell_texts(i5)[2] == "0.050 [-0.050, 0.150]"  # the interval over identities beside the mean


def test_report_has_the_calibration_section(tmp_path: Path) -> None:
    out = write_report(_db(tmp_path), tmp_path / "report")
    html = out.read_text()
    assert 'id="calibration"' in html and "MISCALIBRATED INSTRUMENT" in html
    md = (tmp_path / "report" / "report.md").read_text()
    assert "## Calibration of the instrument" in md and "| forget5 |" in md
    assert (tmp_path / "report" / "tables" / "calibration.csv").read_text().startswith("retain model,")
