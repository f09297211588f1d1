"""`fiubench eval` end to end, and its errors (clear message, exit 2, no output)."""

from __future__ import annotations

import json

from fiubench.cli.main import main


def test_cli_eval_retain_then_model(eval_ckpt, eval_data_dir, tmp_path, capsys):
    ref = tmp_path / "retain_eval"
    common = ["--model", str(eval_ckpt), "--data", str(eval_data_dir), "--forget", "forget5",
              "--max-new-tokens", "4", "--judge", "none", "--batch-size", "16"]
    assert main(["eval", *common, "--skip", "judge", "--retain-eval", "self", "--out", str(ref)]) == 0
    assert json.loads((ref / "results.json").read_text())["metrics"]["forget.ks_p"] == 1.0
    printed = capsys.readouterr().out
    assert "calibration of the instrument" in printed and "mean ln R forget" in printed
    out = tmp_path / "model_eval"
    assert main(["eval", *common, "--skip", "judge", "--retain-eval", str(ref), "--out", str(out)]) == 0
    res = json.loads((out / "results.json").read_text())
    assert res["metrics"]["forget.ks_p"] == 1.0  # same model as its reference
    assert res["aggregates"]["dropped"] == ["retain.judge"]
    assert res["provenance"]["model_checkpoint_sha256"]["model.safetensors"]
    assert res["provenance"]["config"]["skip"] == ["judge"]
    lines = (out / "per_sample.jsonl").read_text().splitlines()
    assert any(json.loads(x)["kind"] == "qa" for x in lines)
    assert "forget quality" in capsys.readouterr().out


def test_cli_missing_reference_is_an_error(eval_ckpt, eval_data_dir, tmp_path, capsys):
    out = tmp_path / "o"
    rc = main(["eval", "--model", str(eval_ckpt), "--data", str(eval_data_dir), "--judge", "none",
               "--skip", "judge", "--out", str(out)])
    assert rc == 2
    err = capsys.readouterr().err
    assert "--retain-eval" in err and "--skip ks" in err
    assert not out.exists()


def test_cli_bad_options(eval_ckpt, eval_data_dir, tmp_path, capsys):
    base = ["eval", "--model", str(eval_ckpt), "--data", str(eval_data_dir), "--out", str(tmp_path / "o")]
    assert main([*base, "--forget", "forget7"]) == 2
    assert "forget5" in capsys.readouterr().err
    assert main([*base, "--skip", "judgee"]) == 2
    assert 'Did you mean "judge"' in capsys.readouterr().err
    assert main([*base, "--retain-eval", str(tmp_path)]) == 2
    assert "no results.json" in capsys.readouterr().err


def test_cli_calibration_cannot_run_without_holdout(eval_ckpt, dataset_writer, tmp_path, capsys):
    data = dataset_writer(tmp_path / "nohold", holdout=[])
    rc = main(["eval", "--model", str(eval_ckpt), "--data", str(data), "--forget", "forget5", "--judge", "none",
               "--skip", "judge", "mia", "--max-new-tokens", "2", "--retain-eval", "self", "--out", str(tmp_path / "o")])
    assert rc == 0
    out = capsys.readouterr().out
    assert "calibration of the instrument" in out and "cannot run: needs never-trained identities" in out
