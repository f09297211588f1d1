"""`fiubench attack` and the `attacks:` section of run configs: listing, bad input, output."""

from __future__ import annotations

import json

import pytest

from fiubench.attacks import attack_names
from fiubench.cli.main import main

from .conftest import FORGET


def test_help_lists_every_attack(capsys):
    with pytest.raises(SystemExit):
        main(["attack", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    for name in attack_names():
        assert f"{name}:" in out


@pytest.mark.parametrize("args,msg", [
    (["--attacks", "prefil"], 'unknown attack \'prefil\'. Did you mean "prefill"'),
    (["--attacks", "prefill", "--attack-opt", "prefill.shots=0"], "options.shots: must be >= 1"),
    (["--attacks", "prefill", "--attack-opt", "relearn.steps=2"], "not among --attacks"),
    (["--attacks", "prefill", "--forget", "forget99"], "--forget:"),
])
def test_bad_input_exits_2_naming_the_option(args, msg, attack_data, tiny_vlm_dir, tmp_path, capsys):
    code = main(["attack", "--model", str(tiny_vlm_dir), "--data", str(attack_data), "--forget", FORGET,
                 "--out", str(tmp_path / "o"), *args])
    err = capsys.readouterr().err
    assert code == 2 and msg in err and "Traceback" not in err
    assert not (tmp_path / "o").exists()  # nothing half-written


def test_attack_writes_results_for_the_model_and_both_baselines(attack_data, tiny_vlm_dir, tmp_path, capsys):
    out = tmp_path / "o"
    m = str(tiny_vlm_dir)
    code = main(["attack", "--model", m, "--finetuned", m, "--retain", m, "--data", str(attack_data),
                 "--forget", FORGET, "--attacks", "profile_dump", "--attack-opt", "profile_dump.max_prompts=1",
                 "--max-new-tokens", "4", "--out", str(out)])
    assert code == 0
    res = json.loads((out / "results.json").read_text())
    assert set(res["results"]) == {"model", "finetuned", "retain"}
    # one model three times: the fine-tuned model cannot beat the retain model -> uninformative
    assert res["summary"]["uninformative"] == ["profile_dump"]
    assert res["summary"]["metrics"]["model"]["attack.worst"] is None
    assert (out / "model" / "profile_dump" / "per_sample.jsonl").is_file()
    assert "uninformative" in capsys.readouterr().out
    assert main(["attack", "--model", m, "--data", str(attack_data), "--attacks", "prefill",
                 "--out", str(out)]) == 2  # no silent overwrite


def test_run_config_attacks_section_is_validated():
    from fiubench.errors import ConfigError
    from fiubench.presets import load_run_config

    def load(attacks: dict):  # noqa: ANN202
        return load_run_config(preset="smoke", overrides={"attacks": attacks}).validate()

    with pytest.raises(ConfigError, match=r"run\.attacks\.names\[1\]: unknown attack 'relarn'.*\"relearn\""):
        load({"names": ["prefill", "relarn"]})
    with pytest.raises(ConfigError, match=r"run\.attacks\.options\.quantization:.*bits"):
        load({"names": ["quantization"], "options": {"quantization": {"bits": [2]}}})
    cfg = load_run_config(preset="robust")
    assert set(cfg.attacks.names) == set(attack_names())
