"""Loading the official layout, and every bad input: clear error, exit 2, nothing half-written."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from fiubench.cli.main import main
from fiubench.data import load_dataset, validate_dataset
from fiubench.errors import DataError

from .conftest import FIXTURE_OFFICIAL


def test_official_fixture_loads() -> None:
    ds = load_dataset(FIXTURE_OFFICIAL)
    assert list(ds.identities) == ["00083018", "00083019", "00083020", "00083021"]
    p = ds.identities["00083018"]
    # "./dataset/SFHQ/..." is relative to the folder above the dataset folder
    assert p.image_path == (FIXTURE_OFFICIAL / "SFHQ" / "SFHQ_pt1_00083018.jpg").resolve()
    assert p.qa_list[0].keywords == ("johnathan michaelson",)
    assert p.qa_list[0].field is None and p.profile is None
    assert ds.split_ids("forget1") == ["00083018"]
    assert ds.split_ids("full") == list(ds.identities)  # no holdout: every identity
    assert ds.refusals == [] and ds.visual_qa == []
    report = validate_dataset(FIXTURE_OFFICIAL)
    assert report.kind == "official" and report.n_qa == 8
    assert any("holdout" in w for w in report.warnings)


def test_max_identities_keeps_first_rows_and_trims_splits() -> None:
    ds = load_dataset(FIXTURE_OFFICIAL, max_identities=2)
    assert list(ds.identities) == ["00083018", "00083019"]
    assert ds.splits["forget10"] == [] and ds.splits["forget5"] == ["00083019"]


def test_cli_validate_ok(small_ds: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["data", "validate", str(small_ds)]) == 0
    assert "OK (fiubench layout)" in capsys.readouterr().out


def _copy(src: Path, tmp_path: Path) -> Path:
    dst = tmp_path / "dataset"
    shutil.copytree(src, dst)
    return dst


def _rows(d: Path) -> list[dict]:
    return [json.loads(x) for x in (d / "full.json").read_text().splitlines()]


def _write_rows(d: Path, rows: list[dict]) -> None:
    (d / "full.json").write_text("".join(json.dumps(r) + "\n" for r in rows))


def _expect_error(d: Path, capsys: pytest.CaptureFixture[str], *needles: str) -> None:
    assert main(["data", "validate", str(d)]) == 2
    err = capsys.readouterr().err
    for n in needles:
        assert n in err, (n, err)
    with pytest.raises(DataError):
        validate_dataset(d)


def test_missing_full_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    d = _copy(FIXTURE_OFFICIAL, tmp_path)
    (d / "full.json").unlink()
    _expect_error(d, capsys, "full.json", "not found")


def test_missing_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _expect_error(tmp_path / "nope", capsys, "nope", "not found")


def test_bad_json_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    d = _copy(FIXTURE_OFFICIAL, tmp_path)
    lines = (d / "full.json").read_text().splitlines()
    lines[2] = lines[2][:-5]
    (d / "full.json").write_text("\n".join(lines) + "\n")
    _expect_error(d, capsys, "full.json line 3", "bad JSON")


def test_missing_key(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    d = _copy(FIXTURE_OFFICIAL, tmp_path)
    rows = _rows(d)
    del rows[1]["image_path"]
    _write_rows(d, rows)
    _expect_error(d, capsys, "full.json line 2", "'image_path'")


def test_missing_qa_key(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    d = _copy(FIXTURE_OFFICIAL, tmp_path)
    rows = _rows(d)
    del rows[3]["qa_list"][1]["keywords"]
    _write_rows(d, rows)
    _expect_error(d, capsys, "full.json line 4", "qa_list[1]", "'keywords'")


def test_missing_image(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    d = _copy(FIXTURE_OFFICIAL, tmp_path)
    (d / "SFHQ" / "SFHQ_pt1_00083020.jpg").unlink()
    _expect_error(d, capsys, "full.json line 3", "image_path", "SFHQ_pt1_00083020.jpg", "not found")


def test_unreadable_image(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    d = _copy(FIXTURE_OFFICIAL, tmp_path)
    (d / "SFHQ" / "SFHQ_pt1_00083019.jpg").write_bytes(b"not a jpeg at all")
    _expect_error(d, capsys, "00083019", "unreadable image")


def test_split_id_not_in_data(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    d = _copy(FIXTURE_OFFICIAL, tmp_path)
    s = json.loads((d / "split.json").read_text())
    s["retain5"].append("99999999")
    (d / "split.json").write_text(json.dumps(s))
    _expect_error(d, capsys, "split.json", "retain5", "99999999", "not in full.json")


def test_duplicate_ids(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    d = _copy(FIXTURE_OFFICIAL, tmp_path)
    rows = _rows(d)
    rows[2]["unique_id"] = rows[0]["unique_id"]
    _write_rows(d, rows)
    _expect_error(d, capsys, "full.json line 3", "duplicate unique_id", "first at line 1")


def test_overlapping_forget_splits(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    d = _copy(FIXTURE_OFFICIAL, tmp_path)
    s = json.loads((d / "split.json").read_text())
    s["forget10"].append(s["forget1"][0])
    (d / "split.json").write_text(json.dumps(s))
    _expect_error(d, capsys, "split.json", "forget1", "forget10", "overlap")


def test_missing_split_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    d = _copy(FIXTURE_OFFICIAL, tmp_path)
    (d / "split.json").unlink()
    _expect_error(d, capsys, "split.json", "not found")


def test_holdout_in_trained_split(small_ds: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    d = _copy(small_ds, tmp_path)
    s = json.loads((d / "split.json").read_text())
    s["retain"].append(s["holdout"][0])
    (d / "split.json").write_text(json.dumps(s))
    _expect_error(d, capsys, "holdout", "never be trained")


def test_bad_visual_qa_line(small_ds: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    d = _copy(small_ds, tmp_path)
    with (d / "visual_qa.jsonl").open("a") as f:
        f.write('{"unique_id": "00000001", "question": "q"}\n')
    n = len((d / "visual_qa.jsonl").read_text().splitlines())
    _expect_error(d, capsys, f"visual_qa.jsonl line {n}", "'answer'")


def _official_with_prompts(tmp_path: Path, prompts: object) -> Path:
    d = _copy(FIXTURE_OFFICIAL, tmp_path)
    (d / "prompt.json").write_text(json.dumps(prompts))
    return d


def test_official_prompt_json_object_is_accepted(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    idk = [f"I'm afraid I cannot answer any questions regarding the person in the provided image ({i})." for i in range(50)]
    icd = [f"Tell me everything you know about the person in the image ({i})." for i in range(28)]
    d = _official_with_prompts(tmp_path, {"idk": idk, "icd": icd})
    ds = load_dataset(d)
    assert ds.refusals == idk and ds.icd_prompts == icd and not ds.warnings
    assert main(["data", "validate", str(d)]) == 0
    out = capsys.readouterr().out
    assert "refusals (idk): 50, profile-dump prompts (icd): 28" in out and "prompt.json" not in out


def test_list_prompt_json_is_read_as_idk_with_a_warning(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    d = _official_with_prompts(tmp_path, ["I cannot answer that."] * 3)
    ds = load_dataset(d)
    assert ds.refusals == ["I cannot answer that."] * 3 and ds.icd_prompts == []
    assert main(["data", "validate", str(d)]) == 0
    out = capsys.readouterr().out
    assert "warning" in out and "read as the 'idk' refusal sentences" in out


@pytest.mark.parametrize(("prompts", "needle"), [
    ({"icd": ["Tell me everything."]}, "missing key 'idk'"),
    ({"idk": ["No."], "icd": "Tell me everything."}, "key 'icd': expected a list of non-empty strings"),
    ({"idk": [1, 2]}, "key 'idk': expected a list of non-empty strings"),
    ("no", "expected a JSON object"),
])
def test_bad_prompt_json(tmp_path: Path, capsys: pytest.CaptureFixture[str], prompts: object, needle: str) -> None:
    d = _official_with_prompts(tmp_path, prompts)
    _expect_error(d, capsys, "prompt.json", needle)


def test_release_image_paths_resolve_in_any_folder(tmp_path: Path) -> None:
    """"./dataset/SFHQ/x.jpg" is relative to the folder above "dataset"; a download into
    another folder name resolves it against the folder itself."""
    d = tmp_path / "fiubench-release"
    shutil.copytree(FIXTURE_OFFICIAL, d)
    ds = load_dataset(d)
    assert ds.identities["00083018"].image_path == (d / "SFHQ" / "SFHQ_pt1_00083018.jpg").resolve()


def test_perturbed_equal_to_the_paraphrased_answer_is_warned(tmp_path: Path) -> None:
    d = _copy(FIXTURE_OFFICIAL, tmp_path)
    rows = _rows(d)
    qa = rows[0]["qa_list"][0]
    qa["perturbed_answer"][1] = qa["paraphrased_answer"].upper()
    _write_rows(d, rows)
    assert any("1 QA have a perturbed answer equal to the answer or the paraphrased answer" in w
               for w in validate_dataset(d).warnings)
