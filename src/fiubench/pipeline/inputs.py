"""Content keys of a step's input files: an edited dataset reruns exactly what read it.

A step's cache key covers the *content* of every dataset file it reads, not their
paths or names: ``full.json``, ``split.json``, ``prompt.json``, ``profiles.jsonl``,
``visual_qa.jsonl`` and the image of every identity the step touches. Editing one
image in place reruns the steps that read that identity (the learning run of the
split that holds it, the evaluations and unlearning runs of forget splits that
include it), nothing else; editing ``prompt.json`` reruns only unlearning.

Hashing every image on every ``fiubench run`` would cost seconds on the official
release, so :class:`HashCache` remembers each file's sha256 by (size, mtime_ns,
inode) in ``<run>/cache/hashes.json`` and rehashes only files that changed. No path
enters a key, so a run directory (or a dataset) moved elsewhere resumes.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from fiubench.utils.provenance import config_hash, file_sha256

# Files of a dataset folder and the step kinds that read them ("*": every step,
# because loading the dataset validates them).
DATASET_FILES = ("full.json", "split.json", "prompt.json", "profiles.jsonl", "visual_qa.jsonl")


class HashCache:
    """sha256 of files, recomputed only when a file's size, mtime or inode changed."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._mem: dict[str, list[Any]] = {}
        self._dirty = False
        if path is not None and path.is_file():
            with contextlib.suppress(OSError, ValueError):
                data = json.loads(path.read_text(encoding="utf-8"))
                if isinstance(data, dict):
                    self._mem = data

    def sha256(self, file: Path) -> str | None:
        """The file's sha256, or None when it does not exist."""
        try:
            st = file.stat()
        except FileNotFoundError:
            return None
        name = str(file.resolve())
        stamp = [st.st_size, st.st_mtime_ns, st.st_ino]
        rec = self._mem.get(name)
        if rec is not None and rec[:3] == stamp:
            return str(rec[3])
        digest = file_sha256(file)
        self._mem[name] = [*stamp, digest]
        self._dirty = True
        return digest

    def save(self) -> None:
        if self.path is None or not self._dirty:
            return
        from fiubench.utils.io import atomic_write_json

        atomic_write_json(self.path, self._mem, indent=None)
        self._dirty = False


class DatasetInputs:
    """Content keys over the parts of one dataset folder that a step reads."""

    def __init__(self, root: Path, dataset: Any, hashes: HashCache) -> None:
        self.root = root
        self.ds = dataset
        self.hashes = hashes
        self._files = {n: self.hashes.sha256(root / n) for n in DATASET_FILES}

    def _images(self, uids: Iterable[str]) -> dict[str, str | None]:
        out = {}
        for uid in sorted(set(uids)):
            ident = self.ds.identities.get(uid)
            if ident is not None:
                out[uid] = self.hashes.sha256(Path(ident.image_path))
        return out

    def _split_ids(self, splits: Iterable[str]) -> list[str]:
        ids: list[str] = []
        for s in splits:
            with contextlib.suppress(Exception):  # a missing split is reported by check_dataset
                ids += list(self.ds.split_ids(s))
        return ids

    def key(self, splits: Iterable[str], files: Iterable[str] = DATASET_FILES) -> str:
        """Key of the given dataset files plus the images of the identities in ``splits``."""
        files = list(files)
        splits = sorted(set(splits))
        return config_hash({
            "files": {n: self._files[n] for n in files},
            "splits": splits,
            "images": self._images(self._split_ids(splits)),
        })

    def learn(self, split: str) -> str:
        # prompt.json (refusals) and visual_qa.jsonl are not read by supervised learning.
        return self.key([split], ("full.json", "split.json", "profiles.jsonl"))

    def unlearn(self, forget: str, retain: str) -> str:
        return self.key([forget, retain], ("full.json", "split.json", "prompt.json", "profiles.jsonl"))

    def evaluate(self, splits: Iterable[str]) -> str:
        return self.key(splits, ("full.json", "split.json", "profiles.jsonl", "visual_qa.jsonl"))


def default_hash_cache(run_dir: Path) -> HashCache:
    return HashCache(run_dir / "cache" / "hashes.json")

