"""Bring your own stage 1: a run starts from existing fine-tuned and retain models.

``learn.finetuned_from`` / ``learn.retain_from`` (a local checkpoint directory -- a
Hugging Face checkpoint or one written by fiubench -- or a Hub id ``org/name``, with
an optional ``@revision``) replace the corresponding learning step by an *import*
step: the checkpoint is copied (or downloaded) into the step's ``run/model``, where
every later step looks for a stage-1 model, and its provenance is recorded in the
step (``imported.json``: the source, and each file's size and SHA-256). The step key
hashes the source and, for a local directory, its files' names and sizes: a changed
checkpoint is imported again, an unchanged one is cached.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

from fiubench.errors import ConfigError
from fiubench.pipeline.graph import Resources, Step

IMPORT_FILE = "imported.json"


def parse_source(source: str, where: str) -> tuple[str, str | None, bool]:
    """``(path or repo id, revision, is_local)``; a clear error for anything else."""
    path = Path(source).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise ConfigError(f"{where}: {path} has no config.json (not a model checkpoint)")
        return str(path.resolve()), None, True
    repo, _, rev = source.partition("@")
    parts = repo.split("/")
    if source.startswith(("/", ".", "~")) or len(parts) != 2 or not all(parts):
        raise ConfigError(f"{where}: {source!r} is neither a checkpoint directory nor a Hub id (org/name[@revision])")
    return repo, rev or None, False


def import_key(source: str, where: str) -> dict[str, Any]:
    """What the import step's key hashes: the source and, when local, its files."""
    ref, rev, local = parse_source(source, where)
    if not local:
        return {"hub": ref, "revision": rev or "main"}
    root = Path(ref)
    files = sorted((p.relative_to(root).as_posix(), p.stat().st_size) for p in root.rglob("*") if p.is_file())
    return {"local": ref, "files": files}


def import_model(d: Path, *, source: str, where: str) -> dict[str, Any]:
    """The import step: the checkpoint into ``d/run/model``, its provenance beside it."""
    ref, rev, local = parse_source(source, where)
    dest = d / "run" / "model"
    tmp = d / "run" / "model.partial"
    shutil.rmtree(tmp, ignore_errors=True)
    if local:
        shutil.copytree(ref, tmp)
    else:
        from huggingface_hub import snapshot_download

        snapshot_download(repo_id=ref, revision=rev, local_dir=str(tmp))
    if dest.exists():
        shutil.rmtree(dest)
    tmp.rename(dest)
    record = {"source": source, "kind": "local" if local else "hub", "revision": rev,
              "files": {p.relative_to(dest).as_posix(): {"bytes": p.stat().st_size, "sha256": _sha256(p)}
                        for p in sorted(dest.rglob("*")) if p.is_file()}}
    (d / IMPORT_FILE).write_text(json.dumps(record, indent=1), encoding="utf-8")
    return {"model": "run/model", "imported_from": source}


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def import_step(name: str, source: str, where: str, deps: Any = ()) -> Step:
    """The step that stands for a learning step whose model is imported (I/O only: no GPU)."""
    import functools

    return Step(name, {"import": import_key(source, where)},
                functools.partial(import_model, source=source, where=where), deps=deps, resources=Resources())


def check_imports(cfg: Any) -> None:
    """Imported stage-1 models cannot be swept or re-learnt per seed."""
    ln = cfg.learn
    for field_name in ("finetuned_from", "retain_from"):
        src = getattr(ln, field_name)
        if src is None:
            continue
        where = f"run.learn.{field_name}"
        parse_source(src, where)
        swept = [n for n in ("learn_lr", "learn_scope") if getattr(cfg.sweep, n)]
        if swept or cfg.sweep.seed or cfg.seeds_learn:
            what = ", ".join([f"sweep.{n}" for n in swept] + (["sweep.seed"] if cfg.sweep.seed else [])
                             + (["seeds_learn"] if cfg.seeds_learn else []))
            raise ConfigError(f"{where}: an imported stage-1 model cannot be re-learnt per variant ({what})")


__all__ = ["IMPORT_FILE", "check_imports", "import_key", "import_model", "import_step", "parse_source"]
