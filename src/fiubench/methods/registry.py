"""The unlearning-method registry (names are lower case)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from fiubench.methods.base import UnlearningMethod
from fiubench.utils.config import from_dict
from fiubench.utils.registry import Registry

METHODS: Registry[type[UnlearningMethod]] = Registry("unlearning method")
# Entry-point name -> why that plugin could not be used. Filled by
# :mod:`fiubench.methods.plugins` (plugins import the registry, never the other way).
BROKEN: dict[str, str] = {}

M = TypeVar("M", bound=type[UnlearningMethod])


def register_method(cls: M) -> M:
    """Class decorator: register ``cls`` under ``cls.name``."""
    if not cls.name:
        raise ValueError(f"{cls.__name__} has no name")
    METHODS.register(cls.name)(cls)
    return cls


def parse_option_value(text: str) -> Any:
    """A CLI ``key=value`` value: JSON-ish scalars (numbers, true/false, none) or a string."""
    low = text.strip().lower()
    if low in ("none", "null"):
        return None
    if low in ("true", "false"):
        return low == "true"
    for conv in (int, float):
        try:
            return conv(text)
        except ValueError:
            continue
    return text


def build_method(name: str, options: Mapping[str, Any] | None = None, where: str | None = None) -> UnlearningMethod:
    """Instantiate method ``name`` with ``options`` bound to its Options dataclass.

    Unknown names and unknown option keys raise with a did-you-mean suggestion; a
    plugin that failed to load raises the error that names it.
    """
    from fiubench.errors import FiubenchError

    if name.lower() in BROKEN and name.lower() not in METHODS:
        raise FiubenchError(BROKEN[name.lower()])
    cls = METHODS.get(name.lower())
    where = where or f"method {cls.name} options"
    for key in dict(options or {}):
        if key in cls.renamed_options:
            from fiubench.errors import ConfigError

            raise ConfigError(f"{where}.{key}: {cls.renamed_options[key]}")
    opts = from_dict(cls.Options, dict(options or {}), where=where)
    return cls(opts)


def method_names() -> list[str]:
    return METHODS.names()
