"""The data layer: build, load and validate FIUBench datasets.

Heavy imports stay lazy: ``from fiubench.data import load_dataset`` does not import Faker or sklearn.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fiubench.data.build import DataConfig, build_dataset
    from fiubench.data.load import load_dataset, validate_dataset

__all__ = ["DataConfig", "build_dataset", "load_dataset", "validate_dataset"]

_WHERE = {
    "DataConfig": "fiubench.data.build",
    "build_dataset": "fiubench.data.build",
    "load_dataset": "fiubench.data.load",
    "validate_dataset": "fiubench.data.load",
}


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        import importlib

        return getattr(importlib.import_module(_WHERE[name]), name)
    raise AttributeError(f"module 'fiubench.data' has no attribute {name!r}")
