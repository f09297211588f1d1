"""Typed name -> object registries with "did you mean ...?" errors."""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from fiubench.errors import FiubenchError

T = TypeVar("T")


def did_you_mean(name: str, choices: list[str] | tuple[str, ...]) -> str:
    """Return ' Did you mean "x"?' for the closest choice, or '' when none is close."""
    close = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.5)
    return f' Did you mean "{close[0]}"?' if close else ""


def unknown_name_error(kind: str, name: str, choices: list[str] | tuple[str, ...]) -> FiubenchError:
    """The error for an unknown name: lists the known ones and suggests the closest."""
    return FiubenchError(
        f'unknown {kind} "{name}".{did_you_mean(name, choices)} '
        f"Known: {', '.join(sorted(choices))}."
    )


class Registry(Generic[T]):
    """A registry of one kind of component (methods, families, metrics, judges...)."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        def deco(obj: T) -> T:
            if name in self._items:
                raise ValueError(f"{self.kind} {name!r} registered twice")
            self._items[name] = obj
            return obj

        return deco

    def add(self, name: str, obj: T) -> None:
        self.register(name)(obj)

    def get(self, name: str) -> T:
        if name not in self._items:
            raise unknown_name_error(self.kind, name, tuple(self._items))
        return self._items[name]

    def names(self) -> list[str]:
        return list(self._items)

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def items(self) -> list[tuple[str, T]]:
        return list(self._items.items())
