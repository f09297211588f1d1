"""The tiny base's package boundary: who may import ``fiubench.tiny`` and what.

train/, eval/, methods/ and models/ import nothing of it (train gets the keep term and
the replay injected, ``fiubench.train.terms``); attacks/ only the interface
(``fiubench.tiny``), never a construction module; tiny imports no layer above it.
"""

from __future__ import annotations

import ast
from pathlib import Path

import fiubench

SRC = Path(fiubench.__file__).resolve().parent


def _imports(path: Path) -> set[str]:
    """Every module a file imports, at top level or inside functions."""
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            out.add(node.module)
            out.update(f"{node.module}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
    return out


def _importers(package: str, wanted: str) -> dict[str, set[str]]:
    return {str(p.relative_to(SRC)): hits for p in sorted((SRC / package).rglob("*.py"))
            if (hits := {m for m in _imports(p) if m == wanted or m.startswith(wanted + ".")})}


def test_training_eval_methods_and_models_import_no_tiny_code():
    for package in ("train", "eval", "methods", "models"):
        assert _importers(package, "fiubench.tiny") == {}, package


def test_attacks_use_only_the_interface():
    hits = _importers("attacks", "fiubench.tiny")
    assert all(m in ("fiubench.tiny", "fiubench.tiny.procedural_pool") for ms in hits.values() for m in ms), hits


def test_tiny_imports_no_layer_above_it():
    for above in ("train", "eval", "methods", "attacks", "pipeline", "cli"):
        assert _importers("tiny", f"fiubench.{above}") == {}, above


def test_the_checker_sees_imports_inside_functions(tmp_path):
    """Control: an import inside a function body is found (so the tests above can fail)."""
    f = tmp_path / "m.py"
    f.write_text("def f():\n    from fiubench.tiny.build import train_base\n    return train_base\n")
    assert "fiubench.tiny.build" in _imports(f)
