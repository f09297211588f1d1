"""No secret on disk or on screen: an API key given in a config, or read from the
environment, appears in no file, log line, error message or traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from fiubench.cli.main import main

from .conftest import micro_config

KEY = "sk-fiubench-test-4f9a2c81d7e3b605"


def _files_with(root: Path, needle: str) -> list[str]:
    return [str(p) for p in root.rglob("*") if p.is_file() and needle.encode() in p.read_bytes()]


def test_an_api_key_in_a_config_is_written_nowhere(tmp_path, capsys):
    # the judge key in the config; the run stops at the first model load (a missing
    # fine-tuning base), after the run directory's config and provenance were written
    cfg = micro_config(tmp_path, {
        "model": {"name_or_path": str(tmp_path / "nowhere")},
        "eval": {"judge": {"backend": "openai", "model": "m", "base_url": "http://127.0.0.1:9/v1", "api_key": KEY},
                 "skip": ["judge"]},
    })
    out = tmp_path / "out"
    rc = main(["run", "--config", str(cfg), "--out", str(out)])
    captured = capsys.readouterr()
    assert rc == 2, captured.err
    assert KEY not in captured.err + captured.out
    assert (out / "provenance.json").is_file() and (out / "run_config.yaml").is_file()
    assert "<redacted>" in (out / "run_config.yaml").read_text()
    assert _files_with(out, KEY) == []
    assert main(["config", "show", "--config", str(cfg)]) == 0
    assert KEY not in capsys.readouterr().out


def test_report_provenance_redacts_the_run_config(tmp_path):
    from fiubench.pipeline.config import RunConfig
    from fiubench.report.build import write_report
    from fiubench.report.store import ResultsStore
    from fiubench.utils.config import from_dict

    cfg = from_dict(RunConfig, {"eval": {"judge": {"backend": "openai", "model": "m", "api_key": KEY,
                                                   "base_url": "http://x/v1"}}}, "run")
    db = tmp_path / "results.sqlite"
    with ResultsStore(db) as st:
        st.add({"forget_quality": 0.5, "model_utility": 0.4}, run="r", model="finetuned", role="finetuned",
               config_hash="h", forget_split="forget10")
    write_report(db, tmp_path / "report", config=cfg)
    assert _files_with(tmp_path / "report", KEY) == []
    assert "<redacted>" in (tmp_path / "report" / "provenance.json").read_text()


def test_a_401_that_echoes_the_key_never_shows_it(fake_openai, micro_dataset, random_tiny, tmp_path,
                                                 capsys, monkeypatch):
    srv = fake_openai("401")
    monkeypatch.setenv("MY_JUDGE_KEY", KEY)
    cfg = tmp_path / "eval.yaml"
    cfg.write_text(f"judge: {{backend: openai, model: m, base_url: '{srv.url}', api_key_env: MY_JUDGE_KEY, "
                   "max_retries: 0}\n")
    out = tmp_path / "ev"
    rc = main(["eval", "--model", str(random_tiny), "--data", str(micro_dataset), "--forget", "forget10",
               "--retain-eval", "self", "--config", str(cfg), "--out", str(out), "--device", "cpu"])
    err = capsys.readouterr().err
    assert rc == 2, err
    assert srv.requests, "the judge was asked"
    assert "HTTP 401" in err and "MY_JUDGE_KEY" in err and "Traceback" not in err
    assert KEY not in err
    assert not out.exists() or _files_with(out, KEY) == []


def test_an_unexpected_error_traceback_is_scrubbed(monkeypatch, capsys):
    import fiubench.cli.models as models_cli
    from fiubench.utils.secrets import register_secret

    register_secret(KEY)

    def boom(args):  # a library error that quotes the key
        raise RuntimeError(f"upstream said: bad key {KEY}")

    monkeypatch.setattr(models_cli, "run", boom)
    assert main(["models"]) == 1
    err = capsys.readouterr().err
    assert "Traceback" in err and "RuntimeError" in err and KEY not in err


@pytest.mark.parametrize(("name", "value", "secret"), [
    ("api_key", "v4lue", True), ("hf_token", "v4lue", True), ("Authorization", "Bearer v4lue", True),
    ("max_new_tokens", 64, False), ("api_key_env", "OPENAI_API_KEY", False), ("tokenizer", "/models/t", False),
])
def test_secret_names(name, value, secret):
    from fiubench.utils.secrets import redact

    assert (redact({name: value})[name] == "<redacted>") is secret
