"""`fiubench data download` against a local stand-in of the hub repository (no network)."""

from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path

import pytest

from fiubench.cli.main import main
from fiubench.data import load_dataset

from .conftest import FIXTURE_OFFICIAL


@pytest.fixture
def standin(tmp_path: Path) -> Path:
    """A folder laid out like the hub repo gray311/FIUBench: json files + SFHQ.zip."""
    repo = tmp_path / "hub-repo"
    repo.mkdir()
    for name in ("full.json", "split.json"):
        shutil.copy(FIXTURE_OFFICIAL / name, repo / name)
    (repo / "prompt.json").write_text(json.dumps({
        "idk": [f"I'm afraid I cannot answer any questions regarding the person in the image ({i})." for i in range(50)],
        "icd": [f"Tell me everything you know about the person in the image ({i})." for i in range(28)],
    }))
    with zipfile.ZipFile(repo / "SFHQ.zip", "w") as z:
        for img in sorted((FIXTURE_OFFICIAL / "SFHQ").iterdir()):
            z.write(img, f"SFHQ/{img.name}")
    return repo


@pytest.fixture
def fake_hub(monkeypatch: pytest.MonkeyPatch, standin: Path) -> list[dict]:
    calls: list[dict] = []

    def snapshot_download(**kw: object) -> str:
        calls.append(kw)
        shutil.copytree(standin, Path(str(kw["local_dir"])), dirs_exist_ok=True)
        return str(kw["local_dir"])

    import huggingface_hub

    monkeypatch.setattr(huggingface_hub, "snapshot_download", snapshot_download)
    return calls


def test_download_from_the_hub(fake_hub: list[dict], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "release"
    assert main(["data", "download", "--revision", "v1", "--out", str(out)]) == 0
    assert fake_hub == [{"repo_id": "gray311/FIUBench", "repo_type": "dataset", "revision": "v1", "local_dir": fake_hub[0]["local_dir"]}]
    printed = capsys.readouterr().out
    assert "OK (official layout)" in printed and "profile-dump prompts (icd): 28" in printed
    ds = load_dataset(out)
    assert ds.identities["00083018"].image_path == (out / "SFHQ" / "SFHQ_pt1_00083018.jpg").resolve()
    assert len(ds.refusals) == 50 and len(ds.icd_prompts) == 28
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".release")]  # no temporary left


def test_download_from_a_local_folder(standin: Path, tmp_path: Path) -> None:
    out = tmp_path / "copy"
    assert main(["data", "download", "--repo", str(standin), "--out", str(out)]) == 0
    assert load_dataset(out).icd_prompts[0].startswith("Tell me everything")
    # an existing --out needs --overwrite
    assert main(["data", "download", "--repo", str(standin), "--out", str(out)]) == 2
    assert main(["data", "download", "--repo", str(standin), "--out", str(out), "--overwrite"]) == 0


def test_offline_is_a_clear_error_and_leaves_nothing(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    """The real huggingface_hub with outgoing traffic disabled and an empty cache."""
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    out = tmp_path / "release"
    assert main(["data", "download", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "gray311/FIUBench" in err and "not reachable" in err and "--repo PATH" in err
    assert "Traceback" not in err
    assert not out.exists() and list(tmp_path.glob(".release*")) == []


@pytest.mark.parametrize(("args", "needle"), [
    (["--repo", "no-such-folder"], "neither a local folder nor a hub dataset id"),
    (["--repo", "./missing", "--revision", "main"], "neither a local folder"),
])
def test_bad_arguments(args: list[str], needle: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["data", "download", *args, "--out", str(tmp_path / "o")]) == 2
    assert needle in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_downloaded_release_that_does_not_validate(standin: Path, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    (standin / "SFHQ.zip").unlink()  # faces missing
    out = tmp_path / "r"
    assert main(["data", "download", "--repo", str(standin), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "does not validate (the files are kept)" in err and "image_path" in err
    assert (out / "full.json").is_file()


def test_no_dataset_in_the_snapshot(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "README.md").write_text("nothing")
    assert main(["data", "download", "--repo", str(empty), "--out", str(tmp_path / "o")]) == 2
    assert "no full.json" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()
