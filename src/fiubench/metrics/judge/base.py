"""Judge interface, verdict cache and backend registry.

A judge rates how well a model's answer matches the reference answer to *its own*
question (upstream always sent the first question of the batch), on 0..1. Malformed
judge output gives ``JudgeVerdict(score=None, ok=False)``: counted and excluded from
means, never scored as 0.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from fiubench.errors import ConfigError
from fiubench.utils.registry import Registry

PROMPT_VERSION = "fiubench-judge-v1"

SYSTEM_PROMPT = (
    "You grade answers about a fictitious person for factual agreement with a reference. "
    "Reply with JSON only: {\"score\": S} where S is a number from 0 to 1; 1 means the model "
    "answer states the same facts as the reference answer, 0 means it states none of them, "
    "contradicts them, or refuses."
)


def user_prompt(question: str, reference: str, prediction: str) -> str:
    return f"Question: {question}\nReference answer: {reference}\nModel answer: {prediction}\nJSON:"


_NUM = re.compile(r"^\s*(-?\d+(?:\.\d+)?)\s*$")
_JSON = re.compile(r"\{[^{}]*\}")


def parse_score(raw: str) -> float | None:
    """A score in [0, 1] from a JSON object {"score": x} or a bare number; else None."""
    m = _JSON.search(raw)
    value: object = None
    if m:
        try:
            value = json.loads(m.group(0)).get("score")
        except (json.JSONDecodeError, AttributeError):
            value = None
    else:
        n = _NUM.match(raw)
        value = float(n.group(1)) if n else None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    v = float(value)
    return v if 0.0 <= v <= 1.0 else None


@dataclass(frozen=True)
class JudgeVerdict:
    score: float | None
    raw: str
    ok: bool


@dataclass
class JudgeConfig:
    """Judge options.

    The API key is read from the environment variable named by ``api_key_env``
    (default ``OPENAI_API_KEY``); ``api_key`` in a config works but is discouraged.
    Either way the key is never written to any file, log or error message
    (``fiubench.utils.secrets``) and is not part of any cache key."""

    backend: Literal["similarity", "openai", "hf", "none"] = "similarity"
    model: str | None = None  # openai: model name; hf: local path; similarity: default shipped model
    base_url: str | None = None  # openai: else env OPENAI_BASE_URL
    api_key: str | None = None
    api_key_env: str = "OPENAI_API_KEY"  # the environment variable holding the key
    cache: Path | None = None  # JSON-lines verdict cache; None = no disk cache
    max_retries: int = 5
    backoff_s: float = 1.0  # first retry delay; doubles each retry
    timeout_s: float = 60.0
    max_new_tokens: int = 32  # hf backend
    trust_remote_code: bool = False  # hf backend
    allow_pickle: bool = False  # hf/similarity backends: also load .bin/.pt weights (safetensors only by default)

    def validate(self, where: str = "judge") -> None:
        import math

        from fiubench.utils.secrets import register_secret

        register_secret(self.api_key)  # scrubbed from every message from now on
        if self.max_retries < 0 or not math.isfinite(self.backoff_s) or self.backoff_s < 0:
            raise ConfigError(f"{where}: max_retries/backoff_s must be finite and >= 0")
        if not math.isfinite(self.timeout_s) or self.timeout_s <= 0:
            raise ConfigError(f"{where}.timeout_s: must be a finite number > 0, got {self.timeout_s}")
        if not self.api_key_env or not self.api_key_env.replace("_", "").isalnum():
            raise ConfigError(f"{where}.api_key_env: expected an environment variable name, got {self.api_key_env!r}")


class VerdictCache:
    """Verdicts keyed by sha256(backend, model, prompt version, question, reference, prediction).

    Append-only JSON lines; a torn last line (crash mid-write) is ignored on load.
    Only well-formed verdicts are cached, so malformed ones are retried next run.
    """

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._mem: dict[str, dict] = {}
        if path is not None and path.exists():
            for line in path.read_text(encoding="utf-8").splitlines():
                try:
                    rec = json.loads(line)
                    self._mem[rec["key"]] = rec
                except (json.JSONDecodeError, KeyError, TypeError):
                    continue

    @staticmethod
    def key(
        backend: str, model: str, question: str, reference: str, prediction: str,
        keywords: Sequence[str] | None = None, config: str = "",
    ) -> str:
        """``config``: the judge settings that change a verdict (never the API key)."""
        parts: list[object] = [backend, model, PROMPT_VERSION, question, reference, prediction]
        if keywords is not None:  # only backends that read keywords (the key of the others is unchanged)
            parts.append(list(keywords))
        if config:
            parts.append(config)
        return hashlib.sha256(json.dumps(parts).encode()).hexdigest()

    def get(self, key: str) -> JudgeVerdict | None:
        rec = self._mem.get(key)
        return None if rec is None else JudgeVerdict(rec["score"], rec["raw"], True)

    def put(self, key: str, verdict: JudgeVerdict) -> None:
        self.put_many([(key, verdict)])

    def put_many(self, items: Sequence[tuple[str, JudgeVerdict]]) -> None:
        """Append well-formed verdicts in one write (one fsync per batch, not per verdict)."""
        recs = [{"key": k, "score": v.score, "raw": v.raw} for k, v in items if v.ok]
        for rec in recs:
            self._mem[rec["key"]] = rec
        if self.path is None or not recs:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        data = "".join(json.dumps(r) + "\n" for r in recs).encode("utf-8")
        # One O_APPEND write: concurrent writers (parallel evaluations) interleave whole
        # batches, and a crash leaves at most a torn last line, which load() skips.
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)

    def __len__(self) -> int:
        return len(self._mem)


class Judge:
    """Base judge: cache lookup around a backend's ``_score_batch``."""

    backend: str = "?"
    label: str = "judge"
    uses_keywords = False  # True: the verdict also depends on the sample's keywords

    def __init__(self, cfg: JudgeConfig) -> None:
        self.cfg = cfg
        self.cache = VerdictCache(cfg.cache)
        self.malformed = 0
        self.calls = 0
        self.cache_hits = 0

    @property
    def model_name(self) -> str:
        return self.cfg.model or "?"

    @property
    def fingerprint(self) -> str:
        """The settings that change a verdict (endpoint, token budget), never the key."""
        return json.dumps({"base_url": self.cfg.base_url, "max_new_tokens": self.cfg.max_new_tokens},
                          sort_keys=True)

    def _score_batch(self, items: Sequence[tuple[str, str, str]]) -> list[JudgeVerdict]:
        raise NotImplementedError

    def _score_with_keywords(
        self, items: Sequence[tuple[str, str, str]], keywords: Sequence[Sequence[str] | None]
    ) -> list[JudgeVerdict]:
        """Backends with ``uses_keywords`` override this; the others ignore keywords."""
        return self._score_batch(items)

    def score(
        self, question: str, reference: str, prediction: str, keywords: Sequence[str] | None = None
    ) -> JudgeVerdict:
        return self.score_batch([(question, reference, prediction)], None if keywords is None else [keywords])[0]

    def score_batch(
        self, items: Sequence[tuple[str, str, str]], keywords: Sequence[Sequence[str] | None] | None = None
    ) -> list[JudgeVerdict]:
        """Score (question, reference, prediction) triples, each with its own question.

        ``keywords``: per item, the private strings of the reference answer (the dataset's
        ``keywords``) or None; read only by backends with ``uses_keywords``.
        """
        kws: list[Sequence[str] | None] = list(keywords) if keywords is not None else [None] * len(items)
        if len(kws) != len(items):
            raise ValueError(f"judge: {len(items)} items but {len(kws)} keyword lists")
        keys = [
            VerdictCache.key(self.backend, self.model_name, *it, keywords=kw if self.uses_keywords else None,
                             config=self.fingerprint)
            for it, kw in zip(items, kws, strict=True)
        ]
        out: list[JudgeVerdict | None] = [self.cache.get(k) for k in keys]
        self.cache_hits += sum(v is not None for v in out)
        todo = [i for i, v in enumerate(out) if v is None]
        if todo:
            fresh = self._score_with_keywords([items[i] for i in todo], [kws[i] for i in todo])
            self.calls += len(todo)
            for i, v in zip(todo, fresh, strict=True):
                out[i] = v
                self.malformed += not v.ok
            self.cache.put_many([(keys[i], v) for i, v in zip(todo, fresh, strict=True)])
        return [v for v in out if v is not None]

    def info(self) -> dict[str, object]:
        return {
            "backend": self.backend,
            "model": self.model_name,
            "label": self.label,
            "prompt_version": PROMPT_VERSION,
            "malformed": self.malformed,
            "calls": self.calls,
            "replies": self.calls + self.cache_hits,
            "cache_hits": self.cache_hits,
        }


JUDGES: Registry[type[Judge]] = Registry("judge backend")

