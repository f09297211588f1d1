"""Local copies of general visual benchmarks in their published formats.

POPE (Li et al. 2023): JSON lines with ``question`` (or ``text``), ``label`` (yes/no)
and ``image`` (file name). Images resolved against ``images`` if given, else the
file's directory (and its ``images/`` subfolder).

MME (Fu et al. 2023): a directory with one ``<task>.txt`` per task, each line
``image<TAB>question<TAB>answer`` (answer Yes/No), the layout of MME's evaluation
tool. Images resolved against ``images/<task>/``, ``<dir>/<task>/images/``,
``<dir>/<task>/`` or ``<dir>/``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from fiubench.errors import DataError


@dataclass(frozen=True)
class YesNoItem:
    source: str  # "pope" or "mme"
    task: str
    image: str
    image_path: Path
    question: str
    label: str  # "yes" / "no"


def _resolve(name: str, candidates: list[Path], where: str) -> Path:
    for c in candidates:
        if (c / name).is_file():
            return c / name
    raise DataError(f"{where}: image {name!r} not found under {', '.join(str(c) for c in candidates)}")


def _label(v: object, where: str) -> str:
    s = str(v).strip().lower()
    if s not in ("yes", "no"):
        raise DataError(f"{where}: label/answer must be yes or no, got {v!r}")
    return s


def load_pope(path: Path, images: Path | None = None, limit: int | None = None) -> list[YesNoItem]:
    path = Path(path)
    if not path.is_file():
        raise DataError(f"--pope {path}: not a file")
    roots = [images] if images else [path.parent, path.parent / "images"]
    out: list[YesNoItem] = []
    for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        where = f"{path}:{i}"
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as e:
            raise DataError(f"{where}: invalid JSON ({e.msg})") from None
        q = rec.get("question", rec.get("text"))
        if not isinstance(q, str) or "image" not in rec or "label" not in rec:
            raise DataError(f"{where}: needs fields question (or text), label and image")
        img = str(rec["image"])
        out.append(YesNoItem("pope", "pope", img, _resolve(img, [r for r in roots if r], where), q, _label(rec["label"], where)))
        if limit and len(out) >= limit:
            break
    if not out:
        raise DataError(f"--pope {path}: no questions")
    return out


def load_mme(root: Path, images: Path | None = None, limit: int | None = None) -> list[YesNoItem]:
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"--mme {root}: not a directory of <task>.txt files")
    files = sorted(root.glob("*.txt"))
    if not files:
        raise DataError(f"--mme {root}: no <task>.txt files")
    out: list[YesNoItem] = []
    for f in files:
        task = f.stem
        roots = ([images / task, images] if images else []) + [root / task / "images", root / task, root]
        for i, line in enumerate(f.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            parts = line.split("\t")
            where = f"{f}:{i}"
            if len(parts) < 3:
                raise DataError(f"{where}: expected image<TAB>question<TAB>answer")
            img, q, a = parts[0].strip(), parts[1].strip(), parts[2]
            out.append(YesNoItem("mme", task, img, _resolve(img, roots, where), q, _label(a, where)))
            if limit and len(out) >= limit:
                return out
    return out
