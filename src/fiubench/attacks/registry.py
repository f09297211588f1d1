"""The attack registry (names are lower case), like the unlearning methods'."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from fiubench.attacks.base import Attack
from fiubench.errors import ConfigError
from fiubench.utils.config import from_dict
from fiubench.utils.registry import Registry

ATTACKS: Registry[type[Attack]] = Registry("attack")

A = TypeVar("A", bound=type[Attack])


def register_attack(cls: A) -> A:
    """Class decorator: register ``cls`` under ``cls.name``."""
    if not cls.name:
        raise ValueError(f"{cls.__name__} has no name")
    ATTACKS.register(cls.name)(cls)
    return cls


def build_attack(name: str, options: Mapping[str, Any] | None = None) -> Attack:
    """Instantiate attack ``name`` with ``options`` bound to its Options dataclass.

    Unknown names and option keys raise with a did-you-mean suggestion.
    """
    cls = ATTACKS.get(name.lower())
    opts = from_dict(cls.Options, dict(options or {}), where=f"attack {cls.name} options")
    attack = cls(opts)
    attack.check()
    return attack


def attack_names() -> list[str]:
    return ATTACKS.names()


def parse_attack_list(text: str, option: str = "--attacks") -> list[str]:
    """``"prefill,quantization"`` -> names, each checked (did-you-mean on a typo)."""
    from fiubench.utils.registry import did_you_mean

    names = [n.strip().lower() for n in text.split(",") if n.strip()]
    if not names:
        raise ConfigError(f"{option}: no attack named")
    known = attack_names()
    for n in names:
        if n not in known:
            raise ConfigError(f"{option}: unknown attack {n!r}.{did_you_mean(n, known)} Known: {', '.join(known)}.")
    if len(set(names)) != len(names):
        raise ConfigError(f"{option}: an attack is named twice in {names}")
    return names
