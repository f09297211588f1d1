"""The report's robustness table and the worst-case / robust-FQ columns, from a store
holding attack metrics beside the evaluations (as `fiubench run` writes them)."""

from __future__ import annotations

from pathlib import Path

from fiubench.attacks.runner import summarise_attacks
from fiubench.report.build import write_report
from fiubench.report.entries import load_entries
from fiubench.report.robustness import robustness_table
from fiubench.report.store import ResultsStore
from fiubench.report.tables import main_table


def _res(**v):
    return {"variants": v}


# attack -> role -> variants. text_only: the fine-tuned model does not leak -> uninformative.
OUTCOMES = {
    "finetuned": {"prefill": _res(prefix=1.0), "relearn": _res(heldout_half=0.5), "text_only": _res(no_image=0.1)},
    "retain": {"prefill": _res(prefix=0.1), "relearn": _res(heldout_half=0.0), "text_only": _res(no_image=0.1)},
    "ga": {"prefill": _res(prefix=0.0), "relearn": _res(heldout_half=0.25), "text_only": _res(no_image=0.9)},
    "kl": {"prefill": _res(prefix=0.82), "relearn": _res(heldout_half=0.1), "text_only": _res(no_image=0.0)},
}


def _add_attacks(db: Path, split: str = "forget5") -> None:
    s = summarise_attacks(OUTCOMES, OUTCOMES["finetuned"], OUTCOMES["retain"], margin=0.02)
    keys = {"finetuned": dict(model="finetuned", role="finetuned"), "retain": dict(model="retain", role="retain"),
            "ga": dict(model=f"ga/{split}", role="unlearned", method="ga", step=18, final=True),
            "kl": dict(model=f"kl/{split}", role="unlearned", method="kl", step=12, final=True)}
    with ResultsStore(db) as st:
        for who, k in keys.items():
            m = dict(s["metrics"][who])
            m["forget_quality_robust"] = 0.123
            st.add(m, run="r1", config_hash="a", forget_split=split, **k)


def test_robustness_table_names_each_methods_strongest_attack(db: Path):
    _add_attacks(db)
    with ResultsStore(db, create=False) as st:
        entries = load_entries(st)
    t = robustness_table(entries, "forget5", ["ga", "kl"])
    assert t is not None
    rows = dict(t.rows)
    headers = [c.header for c in t.columns]
    strongest = headers.index("strongest attack")
    assert rows["GA"][strongest] == "relearn"  # text_only extracts more, but is uninformative
    assert rows["KL"][strongest] == "prefill"
    assert rows["GA"][headers.index("worst")] == 0.25
    assert rows["GA"][headers.index("relearn recovery")] == 0.5  # (0.25 - 0) / (0.5 - 0)
    assert "text_only (uninformative)" in headers
    assert any("Uninformative" in n and "text_only" in n for n in t.notes)
    assert robustness_table(entries, "forget10") is None  # no attack ran there
    main = main_table(entries, "forget5", ["ga", "kl"])
    mh = [c.header for c in main.columns]
    assert mh[-2:] == ["Worst case", "robust FQ"] and dict(main.rows)["KL"][-2:] == [0.82, 0.123]
    assert "Worst case" not in [c.header for c in main_table(entries, "forget10").columns]


def test_report_files_include_the_robustness_table(db: Path, tmp_path: Path):
    _add_attacks(db)
    index = write_report(db, tmp_path / "report", run="r1", methods=["ga", "kl"])
    html = index.read_text()
    assert 'id="robustness_forget5"' in html and "strongest attack" in html
    assert (tmp_path / "report" / "tables" / "robustness_forget5.csv").is_file()
    assert "Robustness to attacks, forget5" in (tmp_path / "report" / "report.md").read_text()
