"""Judge on any OpenAI-compatible chat endpoint (OpenAI, vLLM, Ollama, llama.cpp)."""

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


@JUDGES.register("openai")
class OpenAIJudge(Judge):
    backend = "openai"
    label = "judge (LLM, OpenAI-compatible)"

    def __init__(self, cfg: JudgeConfig) -> None:
        super().__init__(cfg)
        import openai

        self._openai = openai
        base_url = cfg.base_url or os.environ.get("OPENAI_BASE_URL")
        key = cfg.api_key or os.environ.get("OPENAI_API_KEY")
        if not cfg.model:
            raise ConfigError("judge.model: the openai backend needs a model name (--judge-model)")
        if not key:
            if base_url is None:
                raise ConfigError("judge: the openai backend needs an API key (judge.api_key or env OPENAI_API_KEY)")
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
                raw = (resp.choices[0].message.content or "") if resp.choices else ""
                s = parse_score(raw)
                return JudgeVerdict(s, raw, s is not None)
            except Exception as e:  # noqa: BLE001 - classified below
                if not self._retryable(e) or attempt == self.cfg.max_retries:
                    if self._retryable(e):
                        raise ConfigError(
                            f"judge: endpoint {self.client.base_url} still failing after "
                            f"{self.cfg.max_retries} retries: {e}"
                        ) from e
                    raise
                time.sleep(delay)
                delay *= 2
        raise AssertionError("unreachable")

    def _score_batch(self, items: Sequence[tuple[str, str, str]]) -> list[JudgeVerdict]:
        return [self._one(*it) for it in items]
