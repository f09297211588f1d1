"""Judge on any OpenAI-compatible chat endpoint (OpenAI, vLLM, Ollama, llama.cpp).

What a real server does to us, and what we do:

* 429, 5xx, timeouts, refused connections: retried with exponential backoff, then a
  clear error naming the endpoint;
* 401/403 (bad key), 404 (unknown model), 400: a clear error at once, with the key
  scrubbed (servers echo it: "Incorrect API key provided: sk-...");
* a 200 whose body is not JSON, or JSON without ``choices``: a *malformed* verdict,
  counted and excluded from means (never scored 0, never a crash).

The key is read from the environment variable ``judge.api_key_env`` (default
OPENAI_API_KEY) and registered with ``fiubench.utils.secrets`` so it is scrubbed from
every message.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence

from fiubench.errors import ConfigError
from fiubench.metrics.judge.base import (
    JUDGES,
    SYSTEM_PROMPT,
    Judge,
    JudgeConfig,
    JudgeVerdict,
    parse_score,
    user_prompt,
)
from fiubench.utils.secrets import register_secret, scrub


@JUDGES.register("openai")
class OpenAIJudge(Judge):
    backend = "openai"
    label = "judge (LLM, OpenAI-compatible)"

    def __init__(self, cfg: JudgeConfig) -> None:
        super().__init__(cfg)
        import openai

        self._openai = openai
        base_url = cfg.base_url or os.environ.get("OPENAI_BASE_URL")
        from fiubench.utils.secrets import REDACTED

        # a run_config.yaml fed back as a config holds "<redacted>": the environment decides
        key = (cfg.api_key if cfg.api_key != REDACTED else None) or os.environ.get(cfg.api_key_env)
        register_secret(key)
        if not cfg.model:
            raise ConfigError("judge.model: the openai backend needs a model name (--judge-model)")
        if not key:
            if base_url is None:
                raise ConfigError(
                    f"judge: the openai backend needs an API key: set the environment variable "
                    f"{cfg.api_key_env} (judge.api_key_env names another one)"
                )
            key = "none"  # local servers (vLLM, Ollama) ignore the key but the client needs one
        self.label = f"judge (LLM {cfg.model})"
        # max_retries=0: we own the retry policy (backoff, what counts as retryable).
        self.client = openai.OpenAI(base_url=base_url, api_key=key, timeout=cfg.timeout_s, max_retries=0)

    def _retryable(self, e: Exception) -> bool:
        o = self._openai
        if isinstance(e, (o.RateLimitError, o.APITimeoutError, o.APIConnectionError, o.InternalServerError)):
            return True
        return isinstance(e, o.APIStatusError) and e.status_code >= 500

    def _one(self, question: str, reference: str, prediction: str) -> JudgeVerdict:
        delay = self.cfg.backoff_s
        for attempt in range(self.cfg.max_retries + 1):
            try:
                resp = self.client.chat.completions.create(
                    model=str(self.cfg.model),
                    messages=[
                        {"role": "system", "content": SYSTEM_PROMPT},
                        {"role": "user", "content": user_prompt(question, reference, prediction)},
                    ],
                    temperature=0.0,
                    max_tokens=32,
                )
                return _verdict(resp)
            except Exception as e:  # noqa: BLE001 - classified below
                if _unreadable(e):
                    return JudgeVerdict(None, scrub(f"unreadable reply: {type(e).__name__}: {e}")[:300], False)
                if not self._retryable(e) or attempt == self.cfg.max_retries:
                    where = f"judge: endpoint {self.client.base_url}"
                    if self._retryable(e):
                        msg = f"{where} still failing after {self.cfg.max_retries} retries: {e}"
                    elif isinstance(e, self._openai.APIStatusError):
                        msg = f"{where} answered HTTP {e.status_code}{_hint(e.status_code, self.cfg)}: {e}"
                    else:
                        raise
                    raise ConfigError(scrub(msg)) from None  # no chained traceback echoing the key
                time.sleep(delay)
                delay *= 2
        raise AssertionError("unreachable")

    def _score_batch(self, items: Sequence[tuple[str, str, str]]) -> list[JudgeVerdict]:
        return [self._one(*it) for it in items]


def _verdict(resp: object) -> JudgeVerdict:
    """A verdict from a chat completion; anything that is not one is malformed."""
    choices = getattr(resp, "choices", None)
    if not isinstance(choices, list) or not choices:
        return JudgeVerdict(None, scrub(str(resp))[:300], False)
    message = getattr(choices[0], "message", None)
    raw = getattr(message, "content", None)
    if not isinstance(raw, str):
        return JudgeVerdict(None, scrub(str(choices[0]))[:300], False)
    s = parse_score(raw)
    return JudgeVerdict(s, raw, s is not None)


def _unreadable(e: Exception) -> bool:
    """A 200 reply whose body is not the JSON of a chat completion."""
    import json

    import openai

    return isinstance(e, (json.JSONDecodeError, openai.APIResponseValidationError, UnicodeDecodeError))


def _hint(status: int, cfg: JudgeConfig) -> str:
    return {
        401: f" (the API key was refused: check the environment variable {cfg.api_key_env})",
        403: f" (the API key may not use this model: check {cfg.api_key_env} and judge.model)",
        404: " (unknown model or endpoint: check judge.model and judge.base_url)",
        400: " (the server rejected the request: check judge.model)",
    }.get(status, "")
