"""The report from synthetic results: tables, matched utility, files in every format."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from fiubench.metrics.version import METRICS_VERSION
from fiubench.report.build import Report, write_report
from fiubench.report.entries import load_entries
from fiubench.report.render import to_latex
from fiubench.report.store import ResultsStore
from fiubench.report.tables import learning_table, main_table, matched_table

from .report_synthetic import metrics, results_json


@pytest.fixture
def entries(db: Path) -> list:
    with ResultsStore(db) as st:
        return load_entries(st)


def test_main_table_has_paper_layout_and_final_models_only(entries: list) -> None:
    t = main_table(entries, "forget5", methods=["ga", "kl"])
    headers = [c.header for c in t.columns]
    assert headers == ["ROUGE", "judge (similarity, offline)", "Truth", "ACC", "MU",
                       "KS log p", "KS D", "EM", "MIA AUC", "APE", "FQ"]
    assert [label for label, _ in t.rows] == ["Retain", "Fine-tuned", "GA", "KL"]
    ga = dict(zip(headers, t.rows[2][1], strict=True))
    assert ga["MU"] == pytest.approx(0.2) and ga["FQ"] == pytest.approx(0.8)  # final step 18
    assert t.cell_text(t.columns[4], ga["MU"]) == "20.0"  # x100 like the paper
    ft = dict(zip(headers, t.rows[1][1], strict=True))
    assert t.cell_text(t.columns[5], ft["KS log p"]) == "-8.00"  # KS not scaled


def test_learning_table_shows_base_knows_nobody(entries: list) -> None:
    t = learning_table(entries)
    rows = dict(t.rows)
    assert list(rows) == ["Base (before fine-tuning)", "Fine-tuned", "Retain"]
    assert [c.group for c in t.columns][::3] == ["forget5 identities", "forget10 identities", "retain identities"]
    em = [i for i, c in enumerate(t.columns) if c.header == "EM"]
    assert [rows["Base (before fine-tuning)"][i] for i in em] == pytest.approx([0.01, 0.01, 0.95])
    assert [rows["Fine-tuned"][i] for i in em] == pytest.approx([0.95, 0.95, 0.95])
    assert [rows["Retain"][i] for i in em] == pytest.approx([0.05, 0.05, 0.95])
    assert t.columns[1].header == "judge (similarity, offline)"


def test_matched_table_uses_the_fine_tuned_utility(entries: list) -> None:
    t, found = matched_table(entries, "forget5")
    # GA curve from the fine-tuned model (0, 0.5, 0.1): see test_matched for the numbers.
    assert found["GA"][0.8].forget_quality == pytest.approx(0.4)
    assert found["GA"][0.6].forget_quality == pytest.approx(0.6)
    # KL never drops below 80 %: its best checkpoint.
    assert found["KL"][0.8].forget_quality == pytest.approx(0.2)
    assert dict(t.rows)["GA"][1] == pytest.approx(8.0)


def test_write_report_writes_every_format(db: Path, tmp_path: Path) -> None:
    out = tmp_path / "report"
    index = write_report(db, out, methods=["ga", "kl"])
    assert index == out / "index.html"
    html = index.read_text()
    assert html.count("data:image/png;base64,") == 2  # one curve per forget split, inlined
    assert 'src="plots/' not in html  # self-contained
    md = (out / "report.md").read_text()
    assert "| GA |" in md and "plots/curves_forget5.png" in md
    assert (out / "plots" / "curves_forget10.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with open(out / "tables" / "main_forget10.csv") as f:
        rows = list(csv.reader(f))
    assert rows[0][0] == "model" and rows[3][0] == "GA"
    assert float(rows[3][rows[0].index("FQ")]) == pytest.approx(0.8)  # raw, not x100
    tex = (out / "tables" / "main_forget5.tex").read_text()
    assert r"\toprule" in tex and r"\cmidrule" in tex and "GA & " in tex
    assert (out / "provenance.json").is_file()
    # the definitions behind the numbers and the MIA figures are shown
    assert f"Metrics version {METRICS_VERSION}" in html and "geometric mean" in html and "1 - 2|AUC - 0.5|" in html
    assert 'id="mia_forget5"' in html and "TPR@1%" in html and "leak %" in md
    mia = list(csv.reader((out / "tables" / "mia_forget5.csv").open()))
    ga = dict(zip(mia[0], mia[3], strict=True))
    assert mia[3][0] == "GA" and float(ga["Min-K%++ leak %"]) == pytest.approx(0.4)  # fq / 2, raw
    assert "WARNING" not in html
    # Rewriting replaces the directory atomically.
    write_report(db, out)
    assert (out / "index.html").is_file()


def test_latex_escapes_special_characters(entries: list) -> None:
    t, _ = matched_table(entries, "forget5")
    tex = to_latex(t)
    assert r"80\%" in tex and r"$\geq$" in tex
    assert "%" not in tex.replace(r"\%", "")


def test_empty_database_is_a_clear_error(tmp_path: Path) -> None:
    from fiubench.errors import FiubenchError

    ResultsStore(tmp_path / "empty.sqlite").close()
    with pytest.raises(FiubenchError, match="nothing to report"):
        write_report(tmp_path / "empty.sqlite", tmp_path / "rep")
    assert not (tmp_path / "rep").exists()
    with pytest.raises(FiubenchError):
        Report([])


def test_sweep_variants_find_their_own_fine_tuned_reference(tmp_path: Path) -> None:
    """A learning-stage sweep: each unlearning run is measured against the fine-tuned
    model of its own learning variant (matched utility uses that model's MU)."""
    db = tmp_path / "sweep.sqlite"
    with ResultsStore(db) as st:
        for scope, ft_mu in (("lora", 0.5), ("full", 0.25)):
            v = f"learn_scope={scope}"
            st.add_results_json(results_json(metrics(ft_mu, 0.1, 0.9)), run="s", model="finetuned",
                                role="finetuned", forget_split="forget5", variant=v, config_hash="f")
            for step, mu, fq in ((6, 0.3, 0.5), (12, 0.1, 0.9)):
                st.add_results_json(results_json(metrics(mu, fq, 0.2)), run="s", model="ga", role="unlearned",
                                    method="ga", forget_split="forget5", variant=f"{v},unlearn_lr=0.1",
                                    step=step, final=step == 12, config_hash=f"g{step}")
    with ResultsStore(db) as st:
        entries = load_entries(st)
    _, found = matched_table(entries, "forget5", ratios=(0.8,))
    # lora: t = 0.4, segment (0, 0.5, 0.1) -> (6, 0.3, 0.5) crosses at a = 0.5: FQ 0.3.
    assert found["GA [learn_scope=lora,unlearn_lr=0.1]"][0.8].forget_quality == pytest.approx(0.3)
    # full: t = 0.2, the step-6 checkpoint (MU 0.3) is admissible: FQ 0.5; 6 -> 12 crosses
    # at a = (0.3 - 0.2) / 0.2 = 0.5: FQ 0.7 at step 9.
    p = found["GA [learn_scope=full,unlearn_lr=0.1]"][0.8]
    assert p.forget_quality == pytest.approx(0.7) and p.step == pytest.approx(9.0)
    labels = [label for label, _ in main_table(entries, "forget5").rows]
    assert labels == ["Fine-tuned [learn_scope=full]", "Fine-tuned [learn_scope=lora]",
                      "GA [learn_scope=full,unlearn_lr=0.1]", "GA [learn_scope=lora,unlearn_lr=0.1]"]


def test_report_flags_mixed_metric_versions(db: Path, tmp_path: Path) -> None:
    old = results_json(metrics(0.4, 0.5, 0.5))
    del old["metrics_version"], old["definitions"]
    old["provenance"] = {}
    with ResultsStore(db) as st:
        st.add_results_json(old, run="r1", model="old", role="unlearned", method="ga", forget_split="forget5",
                            variant="old", step=3, final=True, config_hash="o")
    html = write_report(db, tmp_path / "rep").read_text()
    assert f"WARNING: these results mix metric definitions (versions 1, {METRICS_VERSION})" in html


def test_rows_without_a_version_take_their_evaluations(db: Path, tmp_path: Path) -> None:
    """Extra rows of an evaluation stored without a version (attack rows) do not make it 'version 1'."""
    with ResultsStore(db) as st:
        st.add({"attack.worst": 0.1}, run="r1", model="finetuned", role="finetuned", forget_split="forget5",
               config_hash="att")
    html = write_report(db, tmp_path / "rep").read_text()
    assert "WARNING" not in html and f"Metrics version {METRICS_VERSION} " in html
