"""Typed dataclass configs built from dicts (YAML, CLI) with precise errors.

Every option of every stage is a field of a documented dataclass. ``from_dict``
binds a mapping to a dataclass *before* anything heavy loads: unknown keys get a
did-you-mean error, wrong types name the field, and nested dataclasses recurse.
A dataclass may define ``validate(self) -> None`` raising ConfigError for
cross-field rules; ``from_dict`` calls it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import inspect
import math
import re
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar, Union, get_args, get_origin, get_type_hints

from fiubench.errors import ConfigError
from fiubench.utils.registry import did_you_mean

T = TypeVar("T")


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _coerce(value: Any, tp: Any, where: str) -> Any:
    origin = get_origin(tp)
    if tp is Any:
        return value
    if origin in (Union, types.UnionType):
        args = get_args(tp)
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(value, arg, where)
            except ConfigError as e:
                errors.append(str(e))
        raise ConfigError(f"{where}: expected {_type_name(tp)}, got {value!r}")
    if origin is typing.Literal:
        if value not in get_args(tp):
            choices = [str(a) for a in get_args(tp)]
            raise ConfigError(
                f"{where}: {value!r} is not one of {', '.join(choices)}.{did_you_mean(str(value), choices)}"
            )
        return value
    if dataclasses.is_dataclass(tp):
        if isinstance(value, tp):
            return value
        if not isinstance(value, Mapping):
            raise ConfigError(f"{where}: expected a mapping for {tp.__name__}, got {value!r}")
        return from_dict(tp, value, where)
    if origin in (list, tuple) or tp in (list, tuple):
        if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        args = get_args(tp)
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(args) != len(value):
                raise ConfigError(f"{where}: expected {len(args)} items, got {len(value)}")
            return tuple(_coerce(v, a, f"{where}[{i}]") for i, (v, a) in enumerate(zip(value, args, strict=True)))
        item = args[0] if args else Any
        out = [_coerce(v, item, f"{where}[{i}]") for i, v in enumerate(value)]
        return tuple(out) if (origin is tuple or tp is tuple) else out
    if origin is dict or tp is dict:
        if not isinstance(value, Mapping):
            raise ConfigError(f"{where}: expected a mapping, got {value!r}")
        args = get_args(tp)
        vt = args[1] if len(args) == 2 else Any
        return {str(k): _coerce(v, vt, f"{where}.{k}") for k, v in value.items()}
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{where}: expected true/false, got {value!r}")
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise ConfigError(f"{where}: expected an integer, got {value!r}")
    if tp is float:
        out: float | None = None
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            out = float(value)
        elif isinstance(value, str):
            with contextlib.suppress(ValueError):
                out = float(value)  # YAML reads "1e-4" as a string
        if out is None:
            raise ConfigError(f"{where}: expected a number, got {value!r}")
        if not math.isfinite(out):  # .inf / .nan poison training and every mean downstream
            raise ConfigError(f"{where}: must be a finite number, got {value!r}")
        return out
    if tp is str:
        if isinstance(value, str):
            return value
        raise ConfigError(f"{where}: expected a string, got {value!r}")
    if tp is Path:
        if isinstance(value, (str, Path)):
            return Path(value)
        raise ConfigError(f"{where}: expected a path, got {value!r}")
    return value


def from_dict(cls: type[T], data: Mapping[str, Any], where: str = "config") -> T:
    """Build dataclass ``cls`` from ``data``; raise ConfigError naming the bad key."""
    if not isinstance(data, Mapping):
        raise ConfigError(f"{where}: expected a mapping, got {data!r}")
    hints = get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}  # type: ignore[arg-type]
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        if key not in fields:
            raise ConfigError(
                f"{where}: unknown key {key!r}.{did_you_mean(str(key), list(fields))} "
                f"Valid keys: {', '.join(fields)}."
            )
        kwargs[key] = _coerce(value, hints[key], f"{where}.{key}")
    missing = [
        n for n, f in fields.items()
        if n not in kwargs and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    ]
    if missing:
        raise ConfigError(f"{where}: missing required key(s): {', '.join(missing)}")
    obj = cls(**kwargs)
    validate = getattr(obj, "validate", None)
    if callable(validate):
        if inspect.signature(validate).parameters:
            validate(where)  # the validator writes the full key path itself
        else:
            try:
                validate()
            except ConfigError as e:
                raise ConfigError(full_key_path(str(e), where)) from None
    return obj


_KEY = re.compile(r"^[A-Za-z_][\w.\[\]]*$")


def full_key_path(message: str, where: str) -> str:
    """Rewrite a validator's short key (``eval.batch_size: ...``) to the full path
    (``run.eval.batch_size: ...``): users need to know *which* stage's ``train.lr``."""
    key, sep, rest = message.partition(":")
    if not sep or not _KEY.match(key) or key == where or key.startswith(where + "."):
        return message
    parts = key.split(".")
    last = re.sub(r"\[\d+\]$", "", where.rsplit(".", 1)[-1])
    if last in parts:
        tail = parts[parts.index(last) + 1:]
    else:  # "eval.batch_size" from EvalConfig bound at run.checkpoint_eval: drop its own name
        tail = parts[1:] if len(parts) > 1 else parts
    return ".".join([where, *tail]) + sep + rest


def to_dict(obj: Any) -> Any:
    """Dataclass -> plain dict (paths as strings, tuples as lists) for YAML/JSON."""
    from fiubench.utils.provenance import to_jsonable

    return to_jsonable(obj)
