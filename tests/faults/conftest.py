"""The fault suite's tools: a micro benchmark config, a run helper, a fake judge server.

``micro`` is the ``smoke`` preset cut further (10 identities x 2 QA, one method, two
unlearning steps): every step kind of ``fiubench run`` in well under a minute of
CPU. Runs go through the real CLI in a subprocess where a test kills them.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

MICRO = """\
base: smoke
name: micro
data:
  n_identities: 10
  qa_per_identity: 2
  holdout_fraction: 0.2
  image_size: 16
  forget_percents: [10]
  retain_percents: []
learn:
  visual_replay: 0
  train: {epochs: 1, batch_size: 8, save_every: 1}
unlearn:
  train: {max_steps: 2, save_every: 1, batch_size: 2}
eval:
  retain_max_identities: 2
  max_new_tokens: 8
  visual_max_new_tokens: 4
  batch_size: 64
checkpoint_eval: {max_new_tokens: 6}
methods: [ga]
forget_splits: [forget10]
evaluate_base: false
attacks: {names: []}
"""

STEP_LINE = re.compile(r"\] (\S+): (running|resuming|cached) \((\S+)\)")


def micro_config(tmp_path: Path, extra: str | dict = "", name: str = "micro.yaml") -> Path:
    """The micro config written to ``tmp_path``: ``extra`` YAML text is appended at the
    top level, an ``extra`` mapping is merged key by key."""
    import yaml

    from fiubench.models.loading import resolve_path
    from fiubench.presets import deep_merge

    data = yaml.safe_load(MICRO)
    try:
        resolve_path("tiny")
    except Exception:  # noqa: BLE001 - the embedded base is not built: a random tiny VLM instead
        from fiubench.tiny.model import save_random_tiny

        data["model"] = {"name_or_path": str(save_random_tiny(tmp_path / "tinybase"))}
    if isinstance(extra, dict):
        data = deep_merge(data, extra)
        extra = ""
    cfg = tmp_path / name
    cfg.write_text(yaml.safe_dump(data, sort_keys=False) + extra)
    return cfg


def env(**extra: str) -> dict[str, str]:
    e = dict(os.environ, PYTHONUNBUFFERED="1", OMP_NUM_THREADS="1")
    src = str(Path(__file__).resolve().parents[2] / "src")
    e["PYTHONPATH"] = src + os.pathsep + e.get("PYTHONPATH", "")
    e.pop("FIUBENCH_KILL_AT", None)
    e.update(extra)
    return e


def fiubench(*args: str, timeout: float = 900, **env_extra: str) -> subprocess.CompletedProcess:
    """``fiubench ARGS`` in a subprocess (the real CLI, a fresh interpreter)."""
    return subprocess.run([sys.executable, "-m", "fiubench", *args], capture_output=True, text=True,
                          env=env(**env_extra), timeout=timeout)


def steps(log: str) -> list[tuple[str, str]]:
    """(step name, running|resuming|cached) from a run's log."""
    return [(n, what) for n, what, _ in STEP_LINE.findall(log)]


def numbers(db: Path) -> dict[tuple, float | None]:
    """Every stored number of a run, keyed without the run name or config hashes."""
    from fiubench.report.store import ResultsStore

    with ResultsStore(db, create=False) as st:
        return {(r.model, r.forget_split, r.variant, r.step, r.final, r.metric): r.value for r in st.rows()}


# ------------------------------------------------------------- fake judge server
class FakeOpenAI:
    """An OpenAI-compatible /v1/chat/completions server on 127.0.0.1.

    ``mode`` (settable between requests): "ok" (a JSON score from the reply's content),
    "401" (echoes the bearer key, as real servers do), "429", "500", "garbage"
    (200 with a non-JSON body), "slow" (answers after ``delay`` s). A script of modes
    is consumed first. The server stops by itself after ``lifetime`` seconds.
    """

    def __init__(self, mode: str = "ok", script: list[str] | None = None, delay: float = 2.0,
                 lifetime: float = 600.0) -> None:
        self.mode = mode
        self.script = list(script or [])
        self.delay = delay
        self.requests: list[dict] = []
        outer = self

        class H(BaseHTTPRequestHandler):
            def log_message(self, *a: object) -> None:
                pass

            def _send(self, status: int, body: bytes, ctype: str = "application/json") -> None:
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self) -> None:  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])) or b"{}")
                outer.requests.append(body)
                mode = outer.script.pop(0) if outer.script else outer.mode
                if mode == "401":
                    key = (self.headers.get("Authorization") or "").removeprefix("Bearer ")
                    msg = {"error": {"message": f"Incorrect API key provided: {key}.", "type": "invalid_request_error"}}
                    return self._send(401, json.dumps(msg).encode())
                if mode in ("429", "500"):
                    return self._send(int(mode), json.dumps({"error": {"message": mode}}).encode())
                if mode == "garbage":
                    return self._send(200, b"<html>502 Bad Gateway</html>")
                if mode == "slow":
                    time.sleep(outer.delay)
                user = body.get("messages", [{}])[-1].get("content", "")
                score = (sum(map(ord, user)) % 11) / 10  # deterministic per prompt
                payload = {"id": "x", "object": "chat.completion", "created": 0, "model": body.get("model", "m"),
                           "choices": [{"index": 0, "finish_reason": "stop",
                                        "message": {"role": "assistant", "content": json.dumps({"score": score})}}]}
                return self._send(200, json.dumps(payload).encode())

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self._timer = threading.Timer(lifetime, self.close)
        self._timer.daemon = True
        self._timer.start()

    def close(self) -> None:
        self._timer.cancel()
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def fake_openai() -> Iterator[Callable[..., FakeOpenAI]]:
    servers: list[FakeOpenAI] = []

    def make(*a: object, **k: object) -> FakeOpenAI:
        s = FakeOpenAI(*a, **k)  # type: ignore[arg-type]
        servers.append(s)
        return s

    yield make
    for s in servers:
        s.close()


@pytest.fixture(scope="session")
def micro_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A built micro dataset (the micro config's data section), read-only by convention."""
    from fiubench.data.build import DataConfig, build_dataset

    out = tmp_path_factory.mktemp("faults") / "ds"
    build_dataset(DataConfig(n_identities=10, qa_per_identity=2, holdout_fraction=0.2, image_size=16,
                             forget_percents=(10,), retain_percents=(), select="random"), out)
    return out


@pytest.fixture(scope="session")
def random_tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from fiubench.tiny.model import save_random_tiny

    return save_random_tiny(tmp_path_factory.mktemp("faults_tiny") / "model", seed=0)
