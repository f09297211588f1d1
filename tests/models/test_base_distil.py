"""Stage C of the base build: text twins, the hidden-state match, and a run end to end."""

from __future__ import annotations

import pytest
import torch

from fiubench.models.logprobs import IGNORE_INDEX
from fiubench.tiny.build import train_base
from fiubench.tiny.config import BaseBuildConfig
from fiubench.tiny.distil import hidden_match, text_twin

IMG = 3


def _row():
    ids = torch.tensor([4, 205, IMG, IMG, IMG, 205, 50, 51, 6, 5, 466, 6])
    labels = torch.tensor([IGNORE_INDEX] * 10 + [466, 6])
    return {"input_ids": ids, "labels": labels}


def test_text_twin_puts_the_statement_where_the_image_was():
    twin, s, t = text_twin(_row(), torch.tensor([70, 71, 72, 73, 74]), IMG)
    assert twin["input_ids"].tolist() == [4, 205, 70, 71, 72, 73, 74, 205, 50, 51, 6, 5, 466, 6]
    assert twin["labels"].tolist() == [IGNORE_INDEX] * 12 + [466, 6]  # the statement is never a target
    assert (s, t) == (5, 7)
    # the shared suffix is the same tokens in both
    assert torch.equal(_row()["input_ids"][s:], twin["input_ids"][t:])


def test_text_twin_refuses_rows_without_one_image_run():
    row = _row()
    with pytest.raises(ValueError, match="no image tokens"):
        text_twin({"input_ids": torch.tensor([4, 5, 6]), "labels": torch.tensor([6, 6, 6])}, torch.tensor([7]), IMG)
    row["input_ids"][6] = IMG
    with pytest.raises(ValueError, match="contiguous"):
        text_twin(row, torch.tensor([7]), IMG)


def test_hidden_match_by_hand():
    # one layer beyond the embeddings; row 0 compares positions 1-2 with the teacher's 0-1
    emb = torch.zeros(1, 3, 2)
    hs = torch.tensor([[[9.0, 9.0], [1.0, 0.0], [0.0, 2.0]]])
    ht = torch.tensor([[[1.0, 1.0], [0.0, 1.0], [5.0, 5.0]]])
    got = hidden_match((emb, hs), (emb, ht), [(1, 0, 2)])
    # student [1,0],[0,2] vs teacher [1,1],[0,1]: squared error 1 + 1 = 2; teacher norm 1 + 1 + 1 = 3
    assert got.item() == pytest.approx(2 / 3)
    assert hidden_match((emb, ht), (emb, ht), [(0, 0, 3)]).item() == 0
    # the teacher is a target, not trained through the match
    hs.requires_grad_(True)
    ht.requires_grad_(True)
    hidden_match((emb, hs), (emb, ht), [(1, 0, 2)]).backward()
    assert ht.grad is None and hs.grad is not None


def test_stage_c_runs_in_a_build_and_changes_the_model(tmp_path):
    from safetensors.torch import load_file

    small = dict(steps=2, batch_size=8, n_faces=3, evaluate=False, seed=1)
    log: list[str] = []
    without = train_base(BaseBuildConfig(**small), tmp_path / "a", log=lambda s: None)
    with_c = train_base(BaseBuildConfig(distil_steps=3, **small), tmp_path / "b", log=log.append)
    assert "distil_seconds" not in without
    assert set(with_c["distil_final"]) == {"image", "text", "match"}
    assert with_c["distil_final"]["match"] > 0
    assert any("stage C step 3/3" in line for line in log)
    a, b = load_file(str(tmp_path / "a" / "model.safetensors")), load_file(str(tmp_path / "b" / "model.safetensors"))
    assert any(not torch.equal(a[k], b[k]) for k in a)


def test_stage_c_options_are_validated():
    from fiubench.errors import ConfigError

    with pytest.raises(ConfigError, match="distil_steps"):
        BaseBuildConfig(distil_steps=-1).validate()
    with pytest.raises(ConfigError, match="distil_weight"):
        BaseBuildConfig(distil_weight=float("nan")).validate()
    for bad in (1.0, -0.1, float("nan")):
        with pytest.raises(ConfigError, match="distil_open_fraction"):
            BaseBuildConfig(distil_open_fraction=bad).validate()
    BaseBuildConfig(distil_open_fraction=0.0).validate()
    for bad in (-0.1, 0.75, float("nan")):  # 0.75 + the default open 0.25 leaves no yes/no row
        with pytest.raises(ConfigError, match="distil_caption_fraction"):
            BaseBuildConfig(distil_caption_fraction=bad).validate()
    BaseBuildConfig(distil_caption_fraction=0.5).validate()


def test_stage_c_open_fraction_sets_the_batch_mix(tmp_path, monkeypatch):
    """``--distil-open-fraction``: that share of each stage-C batch is open rows (0: none)."""
    import fiubench.tiny.distil as bd

    seen: list[tuple[int, int]] = []
    real = bd.distil_loss

    def spy(model, vlm, data, idx, oidx, weight):  # type: ignore[no-untyped-def]
        seen.append((len(idx), len(oidx)))
        return real(model, vlm, data, idx, oidx, weight)

    monkeypatch.setattr(bd, "distil_loss", spy)
    small = dict(steps=1, batch_size=8, n_faces=3, evaluate=False, seed=1, distil_steps=1)
    for frac, want in ((0.25, (6, 2)), (0.5, (4, 4)), (0.0, (8, 0))):
        seen.clear()
        train_base(BaseBuildConfig(distil_open_fraction=frac, **small), tmp_path / str(frac), log=lambda s: None)
        assert seen == [want]


def test_stage_c_caption_fraction_replays_stage_b_descriptions(tmp_path, monkeypatch):
    """``--distil-caption-fraction``: that share of each stage-C batch is a dense description."""
    import fiubench.tiny.distil as bd
    from fiubench.tiny.pools import DESCRIBE_QUESTION

    seen: list[list[str]] = []
    real = bd.distil_loss

    def spy(model, vlm, data, idx, oidx, weight):  # type: ignore[no-untyped-def]
        text = vlm.tokenizer.batch_decode([data["open_rows"][i]["input_ids"] for i in oidx])
        seen.append([("describe" if DESCRIBE_QUESTION in t else "open") for t in text] + ["yesno"] * len(idx))
        return real(model, vlm, data, idx, oidx, weight)

    monkeypatch.setattr(bd, "distil_loss", spy)
    small = dict(steps=1, batch_size=8, n_faces=3, evaluate=False, seed=1, distil_steps=2)
    log: list[str] = []
    train_base(BaseBuildConfig(distil_caption_fraction=0.25, **small), tmp_path / "c", log=log.append)
    assert [sorted(s) for s in seen] == [["describe"] * 2 + ["open"] * 2 + ["yesno"] * 4] * 2
    assert any("+ 3 descriptions" in line for line in log)


def test_init_continues_a_build_and_records_the_chain(tmp_path, capsys):
    """`--init DIR --steps 0 --distil-steps N`: stage C alone on an earlier build, whose record is kept."""
    import json

    from safetensors.torch import load_file

    from fiubench.cli.main import main

    first, second = tmp_path / "first", tmp_path / "second"
    common = ["--faces", "3", "--batch-size", "8", "--eval-faces", "2", "--identity-people", "5"]
    assert main(["base", "build", "--out", str(first), "--steps", "2", *common]) == 0
    assert main(["base", "build", "--out", str(second), "--init", str(first), "--steps", "0",
                 "--distil-steps", "2", *common]) == 0
    record = json.loads((second / "base_build.json").read_text())
    assert record["provenance"]["config"]["init"] == str(first)
    assert record["init_build"]["provenance"]["config"]["steps"] == 2
    assert "train_seconds" not in record["metrics"] and record["metrics"]["distil_seconds"] > 0
    meta = json.loads((second / "fiubench_model.json").read_text())
    assert meta["base"].startswith("scratch (fiubench base build") and str(first) in meta["base"]
    a, b = load_file(str(first / "model.safetensors")), load_file(str(second / "model.safetensors"))
    tower = [k for k in a if "vision_tower" in k]
    assert tower and all(torch.equal(a[k], b[k]) for k in tower)  # the tower stays as it was
    assert any(not torch.equal(a[k], b[k]) for k in a if k not in tower)
    # --train-vision: stage C trains the continued tower too (post_layernorm, unread, stays)
    third = tmp_path / "third"
    assert main(["base", "build", "--out", str(third), "--init", str(first), "--steps", "0",
                 "--distil-steps", "2", "--train-vision", *common]) == 0
    assert json.loads((third / "base_build.json").read_text())["provenance"]["config"]["train_vision_in_qa"]
    c = load_file(str(third / "model.safetensors"))
    assert any(not torch.equal(a[k], c[k]) for k in tower if "post_layernorm" not in k)
    assert all(torch.equal(a[k], c[k]) for k in tower if "post_layernorm" in k)


def test_init_must_be_a_checkpoint(tmp_path):
    from fiubench.errors import ConfigError

    with pytest.raises(ConfigError, match="base.init"):
        BaseBuildConfig(init=str(tmp_path), steps=0).validate()
    with pytest.raises(ConfigError, match="base.steps"):
        BaseBuildConfig(steps=0).validate()  # without --init, stage B is the build
