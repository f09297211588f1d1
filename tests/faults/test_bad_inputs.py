"""Bad inputs a new user makes: a clear error (exit 2, no traceback, the file and field
or the full key path) and nothing left behind in --out."""

from __future__ import annotations

import hashlib
import json
import shutil
import sqlite3
from pathlib import Path

import pytest

from fiubench.cli.main import main
from fiubench.errors import DataError

from .conftest import micro_config


def _copy(ds: Path, tmp_path: Path) -> Path:
    out = tmp_path / "ds"
    shutil.copytree(ds, out)
    return out


def _rows(ds: Path) -> list[dict]:
    return [json.loads(line) for line in (ds / "full.json").read_text().splitlines() if line.strip()]


def _write_rows(ds: Path, rows: list[dict]) -> None:
    (ds / "full.json").write_text("".join(json.dumps(r) + "\n" for r in rows))


def _err(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return err


def test_an_identity_with_one_qa_too_few_is_rejected(micro_dataset, tmp_path, capsys):
    from fiubench.data import load_dataset

    ds = _copy(micro_dataset, tmp_path)
    rows = _rows(ds)
    rows[3]["qa_list"] = rows[3]["qa_list"][:-1]  # 2 -> 1 (the release's 20 -> 19)
    _write_rows(ds, rows)
    with pytest.raises(DataError, match=r"full.json line 4: field 'qa_list'.* has 1 QA, expected 2"):
        load_dataset(ds)
    assert main(["data", "validate", str(ds)]) == 2
    assert "line 4" in _err(capsys)


@pytest.mark.parametrize("kind", ["dotdot", "absolute", "symlink"])
def test_image_paths_that_leave_the_dataset_folder_are_rejected(micro_dataset, tmp_path, kind):
    from fiubench.data import load_dataset

    ds = _copy(micro_dataset, tmp_path)
    secret = tmp_path / "outside.png"
    shutil.copy(ds / _rows(ds)[0]["image_path"], secret)  # a real image, outside the dataset
    rows = _rows(ds)
    if kind == "dotdot":
        rows[0]["image_path"] = "../outside.png"  # resolves (against the dataset's parent) to a real file
    elif kind == "absolute":
        rows[0]["image_path"] = str(secret)
    else:
        link = ds / "images" / "link.png"
        link.symlink_to(secret)
        rows[0]["image_path"] = "images/link.png"
    _write_rows(ds, rows)
    with pytest.raises(DataError, match=r"line 1: field 'image_path'.*(outside the dataset folder|absolute)"):
        load_dataset(ds)


def test_official_layout_image_paths_still_load():
    from fiubench.data import load_dataset

    ds = load_dataset(Path(__file__).parents[1] / "fixtures" / "official" / "dataset")
    assert all(p.image_path.is_file() for p in ds.identities.values())


def test_an_empty_config_file_is_an_error_not_the_full_preset(tmp_path, capsys, monkeypatch):
    import fiubench.pipeline.run as run_mod

    def would_run(*a, **k):  # where the old code went: the whole default preset, silently
        raise AssertionError("an empty config started a run")

    monkeypatch.setattr(run_mod, "run_pipeline", would_run)
    empty = tmp_path / "empty.yaml"
    empty.write_text("# nothing yet\n")
    out = tmp_path / "out"
    assert main(["run", "--config", str(empty), "--out", str(out)]) == 2
    assert "empty" in _err(capsys)
    assert not out.exists()
    assert main(["config", "validate", str(empty)]) == 2


@pytest.mark.parametrize(("yaml_text", "path"), [
    ("unlearn: {train: {lr: .inf}}", "run.unlearn.train.lr"),
    ("learn: {train: {lr: .nan}}", "run.learn.train.lr"),
    ("unlearn: {train: {lr: -1.0}}", "run.unlearn.train.lr"),
    ("unlearn: {method_options: {npo: {beta: .inf}}}", "run.unlearn.method_options.npo.beta"),
    ("unlearn: {method_options: {gd: {retain_weight: -1}}}", "run.unlearn.method_options.gd.retain_weight"),
    ("eval: {batch_size: 0}", "run.eval.batch_size"),
    ("unlearn: {scope: {lora_r: 0}}", "run.unlearn.scope.lora_r"),
])
def test_config_errors_name_the_full_key_path(tmp_path, capsys, yaml_text, path):
    f = tmp_path / "c.yaml"
    f.write_text(yaml_text + "\n")
    assert main(["config", "validate", str(f)]) == 2
    err = _err(capsys)
    assert f"error: {path}: " in err, err


def test_a_config_rejected_at_run_time_leaves_nothing_in_out(micro_dataset, tmp_path, capsys):
    # forget5 is a valid forget split name, but this dataset's split.json has none
    cfg = micro_config(tmp_path, f"dataset: {micro_dataset}\nforget_splits: [forget5]\n", name="bad.yaml")
    out = tmp_path / "out"
    assert main(["run", "--config", str(cfg), "--out", str(out)]) == 2
    err = _err(capsys)
    assert "run.forget_splits[0]" in err and "forget5" in err
    assert not out.exists(), sorted(p.name for p in out.rglob("*"))


def _sha(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


@pytest.mark.parametrize("kind", ["empty", "unrelated"])
def test_results_and_report_refuse_a_file_that_is_not_a_store_and_leave_it_alone(tmp_path, capsys, kind):
    db = tmp_path / "run" / "results.sqlite"
    db.parent.mkdir()
    if kind == "empty":
        db.write_bytes(b"")
    else:
        con = sqlite3.connect(db)
        con.execute("CREATE TABLE photos (id INTEGER, path TEXT)")
        con.execute("INSERT INTO photos VALUES (1, 'a.jpg')")
        con.commit()
        con.close()
    before = _sha(db)
    assert main(["results", "--db", str(db)]) == 2
    assert "not a fiubench results store" in _err(capsys)
    assert main(["report", str(db.parent)]) == 2
    assert "not a fiubench results store" in _err(capsys)
    assert _sha(db) == before
    assert not (db.parent / "report").exists()


def test_results_opens_a_read_only_store(tmp_path, capsys):
    from fiubench.report.store import ResultsStore

    db = tmp_path / "results.sqlite"
    with ResultsStore(db) as st:
        st.add({"forget_quality": 0.5}, run="r", model="finetuned", role="finetuned", config_hash="h",
               forget_split="forget10")
    db.chmod(0o444)
    try:
        before = _sha(db)
        assert main(["results", "--db", str(db), "--metric", "forget_quality"]) == 0
        assert "0.5000" in capsys.readouterr().out
        assert _sha(db) == before
    finally:
        db.chmod(0o644)


def test_overwrite_starts_over_in_place(tmp_path, monkeypatch):
    from fiubench.pipeline import run as run_mod
    from fiubench.presets import load_run_config

    out = tmp_path / "out"
    (out / "steps" / "learn_finetuned-0123").mkdir(parents=True)
    (out / "steps" / "learn_finetuned-0123" / "DONE.json").write_text("{}")
    (out / "results.sqlite").write_text("old")
    seen = {}

    def fake_run(self, report, lock, fresh):  # stop after the setup the flag controls
        seen["left"] = sorted(p.name for p in out.iterdir())
        seen["fresh"] = fresh
        return out

    monkeypatch.setattr(run_mod.Pipeline, "_run", fake_run)
    cfg = load_run_config(None, micro_config(tmp_path))
    run_mod.run_pipeline(cfg, out, overwrite=True, log=lambda m: None)
    assert seen == {"left": [".fiubench.lock"], "fresh": True}  # only the lock this run holds
