"""studies/base_chain.py: a chain of base-build links, each measured, resumable."""

from __future__ import annotations

import json

import pytest

from .study import load_study

pytestmark = pytest.mark.slow

SMALL = ["--steps", "2", "--faces", "4", "--eval-faces", "2", "--gap-faces", "2", "--vision-steps", "2",
         "--stage-b-steps", "2", "--batch-size", "8"]


def _chain():
    return load_study("base_chain").main


def test_chain_links_continue_each_other_and_resume(tmp_path, capsys):
    main = _chain()
    rows = main(["--out", str(tmp_path), "--scratch", "--links", "2", *SMALL])
    assert [r["link"] for r in rows] == ["c1", "c2"] and [r["stage_c_steps"] for r in rows] == [2, 4]
    assert json.loads((tmp_path / "chain.json").read_text()) == rows
    for r in rows:  # every link measured on unseen and on training faces
        assert all(0 <= r[k][m] <= 1 for k in ("unseen", "training") for m in ("open", "yesno"))
    first = json.loads((tmp_path / "c1" / "base_build.json").read_text())["provenance"]["config"]
    second = json.loads((tmp_path / "c2" / "base_build.json").read_text())["provenance"]["config"]
    assert first["init"] is None and first["vision_steps"] == 2 and first["distil_caption_fraction"] == 0.25
    assert second["init"] == str(tmp_path / "c1") and second["steps"] == 0 and second["vision_steps"] == 0
    # a rerun skips finished links (same weights file) and stops where --until is met
    stamp = (tmp_path / "c1" / "model.safetensors").stat().st_mtime_ns
    again = main(["--out", str(tmp_path), "--scratch", "--links", "3", "--until", "0", "0", *SMALL])
    assert [r["link"] for r in again] == ["c1"]
    assert "install it" in capsys.readouterr().out
    assert (tmp_path / "c1" / "model.safetensors").stat().st_mtime_ns == stamp
    assert not (tmp_path / "c3").exists()


def test_a_failing_link_names_its_log(tmp_path):
    with pytest.raises(SystemExit, match=r"link c1 failed .*c1\.log"):
        _chain()(["--out", str(tmp_path), "--init", str(tmp_path / "missing"), "--links", "1", *SMALL])
