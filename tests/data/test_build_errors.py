"""Bad build options and failed builds: clear error, exit 2, nothing half-written."""

from __future__ import annotations

from pathlib import Path

import pytest

from fiubench.cli.main import main
from fiubench.data import build as build_mod
from fiubench.data.build import build_dataset

from .conftest import small_config


def _nothing_written(parent: Path, name: str) -> None:
    assert not (parent / name).exists()
    assert not [p for p in parent.iterdir() if p.name.startswith(f".{name}.")]  # no temp leftovers


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--n-identities", "0"], "n_identities"),
        (["--qa-per-identity", "0"], "qa_per_identity"),
        (["--image-size", "4"], "image_size"),
        (["--holdout-fraction", "1.5"], "holdout_fraction"),
        (["--n-identities", "10", "--forget-percents", "40", "50", "60"], "forget_percents"),
        (["--forget-percents", "0"], "forget_percents"),
        (["--faces", "/nonexistent/faces"], "faces_dir"),
        (["--encoder", "/nonexistent/model", "--faces", "."], "encoder"),
    ],
)
def test_bad_options(tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], needle: str) -> None:
    assert main(["data", "build", "--out", str(tmp_path / "out"), "--n-identities", "12", *args]) == 2
    assert needle in capsys.readouterr().err
    _nothing_written(tmp_path, "out")


def test_existing_output_needs_overwrite(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    assert main(["data", "build", "--out", str(out), "--n-identities", "12", "--qa-per-identity", "2"]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert (out / "keep.txt").read_text() == "mine"
    assert main(["data", "build", "--out", str(out), "--n-identities", "12", "--qa-per-identity", "2",
                 "--overwrite"]) == 0
    assert not (out / "keep.txt").exists() and (out / "full.json").exists()


def test_failure_mid_build_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = {"n": 0}
    real = build_mod.render_face

    def flaky(*a: object, **k: object):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        if calls["n"] == 5:
            raise RuntimeError("disk on fire")
        return real(*a, **k)  # type: ignore[arg-type]

    monkeypatch.setattr(build_mod, "render_face", flaky)
    with pytest.raises(RuntimeError):
        build_dataset(small_config(n_identities=12), tmp_path / "out")
    _nothing_written(tmp_path, "out")


def test_cli_build_ok(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "ds"
    assert main(["data", "build", "--out", str(out), "--n-identities", "12", "--qa-per-identity", "3",
                 "--seed", "4", "--image-size", "32"]) == 0
    assert "12 identities + 1 holdout, 39 QA" in capsys.readouterr().out
    assert main(["data", "validate", str(out)]) == 0
