"""A misbehaving OpenAI-compatible judge server (401, 429, 500, garbage, slow): retried,
stopped with a clear error, or counted as malformed; never a crash, never a silent 0,
never "the judge was not run"."""

from __future__ import annotations

import pytest

from fiubench.cli.main import main
from fiubench.errors import ConfigError
from fiubench.metrics.judge import JudgeConfig, build_judge


def _judge(srv, **kw):
    return build_judge(JudgeConfig(backend="openai", model="judge-m", base_url=srv.url, backoff_s=0.01, **kw))


def test_429_and_500_are_retried(fake_openai, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-000000000000")
    srv = fake_openai("ok", script=["429", "500", "500"])
    v = _judge(srv, max_retries=3).score("q?", "ref", "pred")
    assert v.ok and len(srv.requests) == 4


def test_garbage_replies_are_counted_as_malformed(fake_openai):
    srv = fake_openai("ok", script=["garbage", "garbage"])
    judge = _judge(srv)
    v = judge.score_batch([("q1?", "r", "p"), ("q2?", "r", "p"), ("q3?", "r", "p")])
    assert [x.ok for x in v] == [False, False, True]
    assert [x.score for x in v][:2] == [None, None]  # never scored 0
    assert judge.info()["malformed"] == 2 and judge.info()["replies"] == 3


def test_a_401_stops_with_a_clear_scrubbed_error(fake_openai, monkeypatch):
    key = "sk-live-abcdef0123456789"
    monkeypatch.setenv("OPENAI_API_KEY", key)
    srv = fake_openai("401")
    with pytest.raises(ConfigError) as e:
        _judge(srv).score("q?", "r", "p")
    assert "HTTP 401" in str(e.value) and "OPENAI_API_KEY" in str(e.value) and key not in str(e.value)
    assert len(srv.requests) == 1  # not retried


def test_a_slow_server_times_out_retries_then_stops(fake_openai):
    srv = fake_openai("slow", delay=3.0)
    with pytest.raises(ConfigError, match="still failing after 1 retries"):
        _judge(srv, timeout_s=0.3, max_retries=1).score("q?", "r", "p")
    assert len(srv.requests) == 2


def test_when_every_reply_is_malformed_evaluation_says_so(fake_openai, micro_dataset, random_tiny, tmp_path,
                                                          capsys):
    srv = fake_openai("garbage")
    cfg = tmp_path / "eval.yaml"
    cfg.write_text(f"judge: {{backend: openai, model: m, base_url: '{srv.url}'}}\nretain_max_identities: 2\n")
    out = tmp_path / "ev"
    rc = main(["eval", "--model", str(random_tiny), "--data", str(micro_dataset), "--forget", "forget10",
               "--retain-eval", "self", "--config", str(cfg), "--out", str(out), "--device", "cpu"])
    err = capsys.readouterr().err
    assert rc == 2, err
    # (other tests' server threads may print to stderr too: read our error line)
    line = next(x for x in err.splitlines() if x.startswith("fiubench eval: error:"))
    n = len(srv.requests)
    assert n > 0 and f"{n} of {n} judge replies were malformed" in line, line
    assert "not run" not in line
    assert not out.exists()


def test_the_report_counts_malformed_replies_per_model(tmp_path):
    from fiubench.report.build import write_report
    from fiubench.report.store import ResultsStore

    db = tmp_path / "results.sqlite"
    with ResultsStore(db) as st:
        for model, role, method, bad in (("finetuned", "finetuned", None, 0), ("ga/forget10", "unlearned", "ga", 3)):
            st.add_results_json(
                {"metrics": {"model_utility": 0.5, "forget_quality": 0.4, "retain.judge": 0.6},
                 "judge": {"backend": "openai", "label": "judge (LLM m)", "malformed": bad, "calls": 40,
                           "cache_hits": 0, "replies": 40}},
                run="r", model=model, role=role, config_hash="h", method=method, forget_split="forget10",
                final=True, step=2 if method else 0)
    index = write_report(db, tmp_path / "report")
    html = index.read_text()
    assert "3 of 80 judge replies malformed (GA: 3 of 40)" in html
