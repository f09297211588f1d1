"""Run-config validation: precise did-you-mean errors before anything heavy; shipped presets validate."""

from __future__ import annotations

from pathlib import Path

import pytest

from fiubench.cli.main import main
from fiubench.errors import ConfigError
from fiubench.pipeline.config import RunConfig
from fiubench.presets import list_presets, load_run_config, raw_config


def _write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "run.yaml"
    p.write_text(text)
    return p


@pytest.mark.parametrize("name", list_presets())
def test_every_shipped_preset_validates(name: str) -> None:
    cfg = load_run_config(name)
    assert isinstance(cfg, RunConfig) and cfg.methods and cfg.forget_splits
    for split in cfg.forget_splits:
        assert cfg.eval_config(split).forget == split
        assert cfg.checkpoint_eval_config(split).forget == split


def test_presets_expected() -> None:
    assert {"tiny", "smoke", "paper", "paper_main", "forget_ratio", "tuning_ablation"} <= set(list_presets())
    tiny = load_run_config("tiny")
    assert tiny.data.n_identities >= 40 and tiny.data.qa_per_identity >= 20
    assert {"ga", "gd", "kl", "po", "npo"} <= set(tiny.methods)
    # issue 11: verdicts on enough people: a forget split and a holdout of >= 10 identities each
    sizes = {s: tiny.data.split_size(int(s.removeprefix("forget"))) for s in tiny.forget_splits}
    assert max(sizes.values()) >= 10 and max(sizes.values()) * tiny.data.qa_per_identity >= 200, sizes
    assert tiny.data.n_holdout() >= 10
    assert load_run_config().name == "tiny"  # the default


@pytest.mark.parametrize(
    ("text", "pattern"),
    [
        ("methods: [ga, gd]\nunlern: {}\n", r"run: unknown key 'unlern'\. Did you mean \"unlearn\"\?"),
        ("learn:\n  train:\n    epoch: 3\n", r"run\.learn\.train: unknown key 'epoch'\. Did you mean \"epochs\"\?"),
        ("learn:\n  train:\n    epochs: many\n", r"run\.learn\.train\.epochs: expected an integer"),
        ("methods: ga\n", r"run\.methods: expected a list"),
        ("methods: [ga, nop]\n", r"run\.methods\[1\]: unknown unlearning method 'nop'\. Did you mean \"npo\"\?"),
        ("model:\n  family: tinyy\n", r"model\.family: unknown model family \"tinyy\"\. Did you mean \"tiny\"\?"),
        ("forget_splits: [forget26]\n", r"run\.forget_splits\[0\].*Did you mean \"forget25\"\?"),
        ("unlearn:\n  method_options:\n    npo: {bta: 0.1}\n", r"run\.unlearn\.method_options\.npo.*Did you mean \"beta\"\?"),
        ("eval:\n  judge:\n    backend: gpt\n", r"run\.eval\.judge\.backend"),
        ("checkpoint_eval:\n  batch_sise: 4\n", r"run\.checkpoint_eval: unknown key 'batch_sise'"),
        ("sweep:\n  unlearn_lrs: [0.1]\n", r"run\.sweep: unknown key 'unlearn_lrs'\. Did you mean \"unlearn_lr\"\?"),
        ("base: tinny\n", r"unknown preset 'tinny'\. Did you mean \"tiny\"\?"),
        ("- just\n- a list\n", r"expected a mapping"),
    ],
)
def test_bad_config_is_a_precise_error(tmp_path: Path, text: str, pattern: str) -> None:
    with pytest.raises(ConfigError, match=pattern):
        load_run_config(None, _write(tmp_path, text))


def test_file_overrides_its_base_and_lists_replace(tmp_path: Path) -> None:
    cfg = load_run_config(None, _write(tmp_path, "base: smoke\nmethods: [kl]\nlearn:\n  train:\n    lr: 0.5\n"))
    smoke = load_run_config("smoke")
    assert cfg.methods == ["kl"]
    assert cfg.learn.train.lr == 0.5
    assert cfg.learn.train.epochs == smoke.learn.train.epochs  # deep merge keeps siblings
    assert raw_config(None, _write(tmp_path, "name: x\n"))["data"]["n_identities"] == load_run_config("tiny").data.n_identities


def test_sweep_variants_are_labelled_by_what_varies() -> None:
    cfg = load_run_config("tuning_ablation")
    labels = [v.label for v in cfg.variants()]
    assert len(labels) == 5 and len(set(labels)) == 5
    assert "learn_scope=projector+language" in labels
    assert all(v.learn_label == v.label for v in cfg.variants())  # a stage-1 sweep
    lr = load_run_config("tiny_lr_sweep")
    assert [v.label for v in lr.variants()] == ["unlearn_lr=0.0001", "unlearn_lr=0.0002", "unlearn_lr=0.0004"]
    assert {v.learn_label for v in lr.variants()} == {""}  # one fine-tuned model serves all three
    assert [v.label for v in load_run_config("tiny").variants()] == [""]


def test_config_show_round_trips_through_validate(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["config", "show", "--preset", "smoke"]) == 0
    shown = capsys.readouterr().out
    f = tmp_path / "resolved.yaml"
    f.write_text(shown)
    assert main(["config", "validate", str(f)]) == 0
    assert "ok" in capsys.readouterr().out
    assert load_run_config(None, f) == load_run_config("smoke")


def test_cli_validate_reports_error_and_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = _write(tmp_path, "methods: [gaa]\n")
    assert main(["config", "validate", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "run.methods[0]" in err and 'Did you mean "ga"' in err
    assert main(["run", "--preset", "smok"]) == 2
    assert 'Did you mean "smoke"' in capsys.readouterr().err


def test_api_key_is_never_printed(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    f = _write(tmp_path, "eval:\n  judge:\n    backend: openai\n    api_key: sk-secret123\n")
    assert main(["config", "show", "--config", str(f)]) == 0
    out = capsys.readouterr().out
    assert "sk-secret123" not in out and "<redacted>" in out


def test_jobs_come_from_the_config_unless_the_flag_says_otherwise(tmp_path: Path, monkeypatch) -> None:
    """`jobs` in a config is the local executor's width when --jobs is not given (the tiny
    preset runs two steps at once); --jobs wins; a bad value names the key before any work."""
    import fiubench.pipeline.run as pipeline_run
    from fiubench.pipeline.graph import InlineExecutor, ProcessExecutor

    seen: list = []

    def fake_pipeline(cfg, out, *, executor, **kw):  # type: ignore[no-untyped-def]
        seen.append(executor)
        raise SystemExit(0)

    monkeypatch.setattr(pipeline_run, "run_pipeline", fake_pipeline)
    assert load_run_config("tiny").jobs == 2 and load_run_config("smoke").jobs == 1
    for argv, kind, width in ((["--preset", "tiny"], ProcessExecutor, 2), (["--preset", "smoke"], InlineExecutor, 1),
                              (["--preset", "tiny", "--jobs", "1"], InlineExecutor, 1),
                              (["--preset", "smoke", "--jobs", "3"], ProcessExecutor, 3)):
        with pytest.raises(SystemExit):
            main(["run", *argv, "--out", str(tmp_path / "r")])
        assert isinstance(seen[-1], kind) and getattr(seen[-1], "jobs", 1) == width, argv
    with pytest.raises(ConfigError, match="run.jobs"):
        load_run_config(None, _write(tmp_path, "base: smoke\njobs: 0\n"))
