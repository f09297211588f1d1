"""The report's robustness table and the worst-case / robust-FQ columns, from a store
holding attack metrics beside the evaluations (as `fiubench run` writes them)."""

from __future__ import annotations

from pathlib import Path

import pytest

from fiubench.attacks.runner import summarise_attacks
from fiubench.report.build import write_report
from fiubench.report.entries import load_entries
from fiubench.report.robustness import probe_table, robustness_table, under_attack_table
from fiubench.report.store import ResultsStore
from fiubench.report.tables import main_table

from .report_synthetic import store_attack_summary


def _res(**v):
    return {"variants": v}


# attack -> role -> variants. text_only: the fine-tuned model does not leak -> uninformative.
# prefill: the retain model hits many keywords by chance (0.5), so KL's high raw extraction
# (0.82) recovers less (0.64) than GA's relearning (0.25 of 0.5 -> 0.5)... but GA is below the
# retain model under prefill.
OUTCOMES = {
    "finetuned": {"prefill": _res(prefix=1.0), "relearn": _res(heldout_half=0.5), "text_only": _res(no_image=0.1),
                  "quantization": {**_res(int4=0.9), "under_attack": {"int4": {"model_utility": 0.6},
                                                                      "before": {"model_utility": 0.62}}}},
    "retain": {"prefill": _res(prefix=0.5), "relearn": _res(heldout_half=0.0), "text_only": _res(no_image=0.1),
               "quantization": _res(int4=0.0)},
    "ga": {"prefill": _res(prefix=0.0), "relearn": _res(heldout_half=0.25), "text_only": _res(no_image=0.9),
           "quantization": _res(int4=0.0)},
    "kl": {"prefill": _res(prefix=0.82), "relearn": _res(heldout_half=0.1), "text_only": _res(no_image=0.0),
           "quantization": {**_res(int4=0.3), "under_attack": {"int4": {"model_utility": 0.5}}}},
}


def _add_attacks(db: Path, split: str = "forget5") -> None:
    s = summarise_attacks(OUTCOMES, OUTCOMES["finetuned"], OUTCOMES["retain"], n_boot=50)
    keys = {"finetuned": dict(model="finetuned", role="finetuned"), "retain": dict(model="retain", role="retain"),
            "ga": dict(model=f"ga/{split}", role="unlearned", method="ga", step=18, final=True),
            "kl": dict(model=f"kl/{split}", role="unlearned", method="kl", step=12, final=True)}
    store_attack_summary(db, s["metrics"], keys, split, extra={"forget_quality_robust": 0.123})


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
    assert rows["KL"][strongest] == "prefill"  # (0.82 - 0.5) / 0.5 = 0.64 > quantization's 0.33
    assert rows["GA"][headers.index("worst (k=1)")] == 0.5  # (0.25 - 0) / (0.5 - 0)
    assert rows["GA"][headers.index("its extraction")] == 0.25  # from relearning, like the recovery
    assert rows["KL"][headers.index("its extraction")] == 0.82
    assert rows["KL"][headers.index("prefill (k=1)")] == pytest.approx(0.64)  # recovery cells
    assert rows["Retain"][headers.index("worst (k=1)")] == 0.0
    assert "text_only (uninformative)" in headers  # no recovery interval: no k
    assert any("Uninformative" in n and "text_only" in n for n in t.notes)
    assert robustness_table(entries, "forget10") is None  # no attack ran there
    main = main_table(entries, "forget5", ["ga", "kl"])
    mh = [c.header for c in main.columns]
    assert mh[-2:] == ["Worst case", "robust FQ"] and dict(main.rows)["KL"][-2:] == pytest.approx([0.64, 0.123])
    assert "Worst case" not in [c.header for c in main_table(entries, "forget10").columns]


def test_utility_under_attack_table_shows_the_attacked_models_metrics(db: Path):
    _add_attacks(db)
    with ResultsStore(db, create=False) as st:
        entries = load_entries(st)
    t = under_attack_table(entries, "forget5", ["ga", "kl"])
    rows, headers = dict(t.rows), [c.header for c in t.columns]
    assert rows["KL"][headers.index("MU quantization/int4")] == 0.5
    assert rows["Fine-tuned"][headers.index("MU quantization/before")] == 0.62
    assert under_attack_table(entries, "forget10") is None


def test_report_files_include_the_robustness_table(db: Path, tmp_path: Path):
    _add_attacks(db)
    index = write_report(db, tmp_path / "report", run="r1", methods=["ga", "kl"])
    html = index.read_text()
    assert 'id="robustness_forget5"' in html and "strongest attack" in html
    assert (tmp_path / "report" / "tables" / "robustness_forget5.csv").is_file()
    assert "Robustness to attacks, forget5" in (tmp_path / "report" / "report.md").read_text()


def test_probe_table_shows_accuracy_above_the_retain_control(db: Path):
    probe = {"finetuned": 0.9, "retain": 0.3, "ga": 0.8, "kl": 0.35}
    outcomes = {who: {**o, "hidden_probe": {"variants": {"last": probe[who]}, "in_worst_case": False}}
                for who, o in OUTCOMES.items()}
    s = summarise_attacks(outcomes, outcomes["finetuned"], outcomes["retain"], n_boot=50)
    assert s["worst_attack"]["ga"] != "hidden_probe"  # a reading of the weights is never the worst case
    keys = {"finetuned": dict(model="finetuned", role="finetuned"), "retain": dict(model="retain", role="retain"),
            "ga": dict(model="ga/forget5", role="unlearned", method="ga", step=18, final=True),
            "kl": dict(model="kl/forget5", role="unlearned", method="kl", step=12, final=True)}
    entries = store_attack_summary(db, s["metrics"], keys)
    t = probe_table(entries, "forget5", ["ga", "kl"])
    rows, headers = dict(t.rows), [c.header for c in t.columns]
    assert headers == ["probe last", "above retain"]
    assert rows["GA"] == pytest.approx([0.8, 0.5]) and rows["Retain"] == pytest.approx([0.3, 0.0])
    assert "hidden_probe" not in [c.header for c in robustness_table(entries, "forget5").columns]
