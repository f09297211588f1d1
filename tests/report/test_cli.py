"""`fiubench results` and `fiubench report` on a synthetic results database."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from fiubench.cli.main import main


def test_results_lists_final_models_and_filters(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["results", "--db", str(db), "--method", "ga", "--split", "forget5", "--metric", "forget_quality"]) == 0
    out = capsys.readouterr().out.splitlines()
    rows = [line for line in out if line.startswith("r1")]
    assert len(rows) == 1 and "18*" in rows[0] and "0.8000" in rows[0]  # final model only
    assert main(["results", "--db", str(db), "--method", "ga", "--split", "forget5",
                 "--metric", "forget_quality", "--all-steps"]) == 0
    assert len([line for line in capsys.readouterr().out.splitlines() if line.startswith("r1")]) == 3


def test_results_compare_and_csv(db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["results", "--db", str(db), "--split", "forget5", "--compare", "finetuned", "ga/forget5"]) == 0
    line = next(x for x in capsys.readouterr().out.splitlines() if "model_utility" in x)
    assert line.split()[-1] == "-0.3000"  # 0.2 - 0.5
    out = tmp_path / "sel.csv"
    assert main(["results", "--db", str(db), "--role", "retain", "--csv", str(out)]) == 0
    rows = list(csv.DictReader(out.open()))
    assert rows and {r["role"] for r in rows} == {"retain"}
    assert len({r["metric"] for r in rows}) > 6  # --csv exports every metric by default


def test_results_refuses_to_compare_metric_versions(
    db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An evaluation of an older metrics version is never compared silently with a new one."""
    from fiubench.metrics.version import METRICS_VERSION
    from fiubench.report.store import ResultsStore

    from .report_synthetic import metrics, results_json

    old = results_json(metrics(0.4, 0.5, 0.5))
    del old["metrics_version"], old["definitions"]  # a results.json written before versioning
    with ResultsStore(db) as st:
        st.add_results_json(old, run="r1", model="old", role="finetuned", forget_split="forget5",
                            variant="old", config_hash="o")
    assert main(["results", "--db", str(db), "--split", "forget5", "--compare", "finetuned", "old [old]"]) == 2
    err = capsys.readouterr().err
    assert f"metrics version {METRICS_VERSION}" in err and "with 1" in err and "not comparable" in err
    assert main(["results", "--db", str(db), "--split", "forget5", "--metric", "model_utility"]) == 0
    assert f"mix metrics versions 1, {METRICS_VERSION}" in capsys.readouterr().out
    out = tmp_path / "all.csv"
    assert main(["results", "--db", str(db), "--csv", str(out)]) == 0
    rows = list(csv.DictReader(out.open()))
    assert {r["metrics_version"] for r in rows} == {"1", str(METRICS_VERSION)}


def test_results_errors(db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["results", "--db", str(db), "--compare", "finetuned", "gaa/forget5"]) == 2
    assert 'Did you mean "ga/forget5"' in capsys.readouterr().err
    assert main(["results", "--db", str(tmp_path / "missing.sqlite")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["results", "--db", str(db), "--metric", "model_utlity"]) == 2
    assert 'Did you mean "model_utility"' in capsys.readouterr().err


def test_report_command(db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run_dir = tmp_path / "myrun"
    run_dir.mkdir()
    (run_dir / "results.sqlite").write_bytes(db.read_bytes())
    assert main(["report", str(run_dir)]) == 0
    assert (run_dir / "report" / "index.html").is_file()
    assert main(["report", str(tmp_path / "nowhere")]) == 2
    assert "no results database" in capsys.readouterr().err


def test_results_into_a_closed_pipe_is_quiet(db: Path) -> None:
    """`fiubench results | head -1`: the reader leaves early; no traceback, exit 0."""
    import subprocess
    import sys

    proc = subprocess.Popen(
        [sys.executable, "-m", "fiubench", "results", "--db", str(db), "--all-steps", "--metric", "all"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.readline()
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 0, err
    assert "Traceback" not in err
