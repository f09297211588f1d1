"""Secrets never reach a file, a log line or an error message.

Two nets, because a secret can leak by its *name* or by its *value*:

* :func:`redact` replaces the value of every mapping key that names a secret
  (``api_key``, any ``*_key`` such as ``hf_key``, anything containing ``token`` or
  ``secret`` or ``password``, ``authorization``) before a config or provenance
  record is written. Numbers and booleans are left alone (``max_new_tokens: 64`` is
  not a secret), and so are the keys in :data:`NOT_SECRET`, names that only *name*
  where a secret lives (``api_key_env: OPENAI_API_KEY``).
* :func:`scrub` removes every secret *value* this process has seen
  (:func:`register_secret`, called wherever a key is read) from free text: error
  messages, tracebacks, log lines. An OpenAI-compatible server answering 401 echoes
  the key it was sent; the CLI scrubs what it prints.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

REDACTED = "<redacted>"
NOT_SECRET = frozenset({"api_key_env"})
_SECRET_NAME = re.compile(
    r"(^|_)api_?key$|_key$|token(?!izer)|secret|password|passwd|authorization|credential", re.I
)
# Bearer headers and OpenAI-style keys are scrubbed even when never registered.
_PATTERNS = (
    re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]{8,}"),
    re.compile(r"\bsk-[A-Za-z0-9_-]{8,}"),
)
_known: set[str] = set()


def is_secret_name(name: str) -> bool:
    """Whether a mapping key names a secret value (``api_key``, ``hf_token``...)."""
    return name not in NOT_SECRET and bool(_SECRET_NAME.search(name))


def register_secret(value: str | None) -> None:
    """Remember a secret value so that :func:`scrub` removes it from any text."""
    if value and len(value) >= 4 and value.lower() not in ("none", "null", "empty"):
        _known.add(value)


def redact(obj: Any) -> Any:
    """A copy of ``obj`` (mappings and lists, recursively) with secret values replaced."""
    if isinstance(obj, Mapping):
        out = {}
        for k, v in obj.items():
            if is_secret_name(str(k)) and isinstance(v, str) and v:
                out[k] = REDACTED
            else:
                out[k] = redact(v)
        return out
    if isinstance(obj, (list, tuple)):
        return [redact(v) for v in obj]
    if isinstance(obj, str):
        return scrub(obj)
    return obj


def scrub(text: str) -> str:
    """``text`` with every registered secret value and key-shaped token removed."""
    for s in sorted(_known, key=len, reverse=True):
        if s in text:
            text = text.replace(s, REDACTED)
    for pat in _PATTERNS:
        text = pat.sub(lambda m: (m.group(1) if m.groups() else "") + REDACTED, text)
    return text
