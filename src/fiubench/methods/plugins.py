"""Third-party unlearning methods, registered through the ``fiubench.methods`` entry-point group.

A package declares, in its ``pyproject.toml``::

    [project.entry-points."fiubench.methods"]
    mymethod = "mypackage.mymethod:MyMethod"

The entry point's name is the method's name; its object is what the built-in
registry holds for a method: an :class:`~fiubench.methods.base.UnlearningMethod`
subclass whose options all have defaults. Plugins load when :mod:`fiubench.methods`
is imported. A plugin that fails to import or is not a valid method is recorded in
:data:`fiubench.methods.registry.BROKEN` with an error naming it; it never stops the built-in methods, and
asking for it by name raises that error.
"""

from __future__ import annotations

import importlib.metadata as md
from typing import Any

from fiubench.methods.base import UnlearningMethod
from fiubench.methods.registry import BROKEN, METHODS

GROUP = "fiubench.methods"
BUILTIN = "built-in"

SOURCES: dict[str, str] = {}  # method name -> "built-in" or "<distribution> <version>"


def _dist_label(ep: Any) -> str:
    dist = getattr(ep, "dist", None)
    if dist is None:
        return "unknown distribution"
    return f"{dist.metadata['Name']} {dist.version}"


def _check(name: str, obj: Any) -> str | None:
    """Why ``obj`` cannot be method ``name`` (None when it can)."""
    if not (isinstance(obj, type) and issubclass(obj, UnlearningMethod)):
        return f"is {obj!r}, not an UnlearningMethod subclass"
    if obj.name and obj.name != name:
        return f"is class {obj.__name__} named {obj.name!r}, but the entry point names it {name!r}"
    if name != name.lower() or not name:
        return "entry-point names must be lower case"
    try:
        obj.Options()
    except TypeError as e:
        return f"its Options need a default for every field ({e})"
    return None


def load_plugins() -> list[str]:
    """Register every not-yet-loaded method of the entry-point group; return their names.

    Safe to call again (new distributions on ``sys.path`` are picked up).
    """
    for name in METHODS.names():
        SOURCES.setdefault(name, BUILTIN)
    loaded: list[str] = []
    for ep in md.entry_points(group=GROUP):
        where = f"plugin method {ep.name!r} (entry point {ep.value!r} of {_dist_label(ep)})"
        if SOURCES.get(ep.name, BUILTIN) != BUILTIN and ep.name in METHODS:
            continue  # loaded by an earlier call
        if SOURCES.get(ep.name) == BUILTIN:
            BROKEN[ep.name] = f"{where}: the name is taken by a built-in method"
            continue
        try:
            obj = ep.load()
        except Exception as e:  # noqa: BLE001 - any import failure of third-party code
            BROKEN[ep.name] = f"{where} failed to load: {type(e).__name__}: {e}"
            continue
        why = _check(ep.name, obj)
        if why is not None:
            BROKEN[ep.name] = f"{where} {why}"
            continue
        if not obj.name:
            obj.name = ep.name
        if ep.name in METHODS:
            if METHODS.get(ep.name) is not obj:  # pragma: no cover - caught by the SOURCES check
                BROKEN[ep.name] = f"{where}: the name is taken"
                continue
        else:
            METHODS.add(ep.name, obj)
        BROKEN.pop(ep.name, None)
        SOURCES[ep.name] = _dist_label(ep)
        loaded.append(ep.name)
    return loaded


def source_of(name: str) -> str:
    """Where method ``name`` comes from: "built-in" or its distribution and version."""
    return SOURCES.get(name, BUILTIN)
