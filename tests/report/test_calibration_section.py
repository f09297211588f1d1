"""The report's "calibration of the instrument" section: calibrated, miscalibrated, cannot run."""

from __future__ import annotations

from pathlib import Path

from fiubench.report.build import write_report
from fiubench.report.calibration import calibration_table
from fiubench.report.entries import load_entries
from fiubench.report.store import ResultsStore

from .report_synthetic import metrics, results_json


def _cal(p: float, mf: float, mh: float) -> dict:
    return {"calibration.ks_p": p, "calibration.ks_log10_p": -1.0, "calibration.forget_median_log_r": mf,
            "calibration.holdout_median_log_r": mh, "calibration.ok": 1.0}


def _db(tmp_path: Path) -> Path:
    db = tmp_path / "r.sqlite"
    with ResultsStore(db) as st:
        retain = {"forget5": _cal(0.6, 0.05, -0.02), "forget10": _cal(0.3, -0.8, -0.75), "forget1": {}}
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
    assert set(rows) == {"forget1", "forget5", "forget10"}
    assert rows["forget5"][:4] == [0.6, 0.05, -0.02, -6.5] and rows["forget5"][4] == "calibrated"
    assert rows["forget10"][4].startswith("MISCALIBRATED INSTRUMENT")
    assert "median log R on forget = -0.80" in rows["forget10"][4]
    assert rows["forget1"][4].startswith("cannot run") and "never-trained" in rows["forget1"][4]
    assert any("official release has none" in n for n in t.notes)


def test_report_has_the_calibration_section(tmp_path: Path) -> None:
    out = write_report(_db(tmp_path), tmp_path / "report")
    html = out.read_text()
    assert 'id="calibration"' in html and "MISCALIBRATED INSTRUMENT" in html
    md = (tmp_path / "report" / "report.md").read_text()
    assert "## Calibration of the instrument" in md and "| forget5 |" in md
    assert (tmp_path / "report" / "tables" / "calibration.csv").read_text().startswith("retain model,")
