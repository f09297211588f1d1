"""Load and validate FIUBench datasets: ours and the official release.

Both share ``full.json`` (JSON Lines; a JSON array is accepted too) and
``split.json``. Differences handled here:

- ``image_path``: ours is relative to the dataset folder ("images/00000001.png");
  the official release writes "./dataset/SFHQ/SFHQ_pt1_00083018.jpg", relative
  to the folder *above* the dataset folder. A relative path is resolved against
  the dataset folder first, then its parent.
  The release's "./dataset/SFHQ/..." also resolves against the dataset folder
  itself (leading "dataset/" dropped), wherever the folder was downloaded to.
- ``prompt.json`` is ``{"idk": [refusals], "icd": [profile-dump prompts]}`` (the
  release's layout, and ours). An older list-form file is read as ``idk`` with a
  warning (``FIUDataset.warnings``, shown by ``fiubench data validate``).
- The official release has no holdout split, ``visual_qa.jsonl`` or
  ``profiles.jsonl``, and may not ship ``prompt.json`` beside full.json: they
  load as empty (a warning in the validation report).
- The official release has more rows than the 400 the authors' code uses:
  ``max_identities=400`` keeps the first 400 (file order) and drops ids of the
  other rows from the splits. Default: every row.

Every error names the file, the line (1-based) and the field at fault.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fiubench.data.schema import FORGET_SPLITS, QA, FIUDataset, Identity, VisualQA
from fiubench.errors import DataError

IDENTITY_KEYS = ("unique_id", "image_path", "name", "qa_list")  # "caption" is optional
QA_KEYS = ("question", "answer", "paraphrased_question", "paraphrased_answer", "perturbed_answer", "keywords")


def _read_records(path: Path) -> list[tuple[int, dict[str, Any]]]:
    """(line number, object) for every record of a JSON Lines file (or JSON array)."""
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise DataError(f"{path}: cannot read ({e})") from None
    if text.lstrip().startswith("["):
        try:
            arr = json.loads(text)
        except json.JSONDecodeError as e:
            raise DataError(f"{path} line {e.lineno}: bad JSON ({e.msg})") from None
        out = []
        for i, obj in enumerate(arr):
            if not isinstance(obj, dict):
                raise DataError(f"{path} item {i + 1}: expected a JSON object, got {type(obj).__name__}")
            out.append((i + 1, obj))
        return out
    records = []
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            raise DataError(f"{path} line {n}: bad JSON ({e.msg} at column {e.colno})") from None
        if not isinstance(obj, dict):
            raise DataError(f"{path} line {n}: expected a JSON object, got {type(obj).__name__}")
        records.append((n, obj))
    return records


def _str_list(value: Any, where: str) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if not isinstance(value, list) or not all(isinstance(x, str) for x in value):
        raise DataError(f"{where}: expected a list of strings, got {value!r:.80}")
    return tuple(value)


def _parse_qa(obj: Any, where: str) -> QA:
    if not isinstance(obj, dict):
        raise DataError(f"{where}: expected a JSON object")
    for key in QA_KEYS:
        if key not in obj:
            raise DataError(f"{where}: missing key {key!r}")
    for key in ("question", "answer", "paraphrased_answer"):
        if not isinstance(obj[key], str) or not obj[key].strip():
            raise DataError(f"{where}: field {key!r} must be a non-empty string")
    return QA(
        question=obj["question"],
        answer=obj["answer"],
        paraphrased_question=_str_list(obj["paraphrased_question"], f"{where}: field 'paraphrased_question'"),
        paraphrased_answer=obj["paraphrased_answer"],
        perturbed_answer=_str_list(obj["perturbed_answer"], f"{where}: field 'perturbed_answer'"),
        keywords=_str_list(obj["keywords"], f"{where}: field 'keywords'"),
        field=obj.get("field"),
    )


class ImageOutside(DataError):
    """An image path that leaves the dataset folder."""


def resolve_image(root: Path, image_path: str) -> Path | None:
    """The existing file ``image_path`` names: relative to ``root``, then to its parent
    (the official release's "./dataset/SFHQ/x.jpg"). The file itself (symlinks
    followed) must lie inside the dataset folder ``root``: a dataset cannot make us
    read ``/etc/...`` or ``../../secret``. Raises :class:`ImageOutside` otherwise."""
    p = Path(image_path)
    if p.is_absolute() or image_path.startswith("~"):
        raise ImageOutside(f"image path {image_path!r} is absolute; image paths are relative to the dataset folder")
    real_root = root.resolve()
    outside = None
    cands = [root / p, root.parent / p]
    parts = [x for x in p.parts if x != "."]
    if len(parts) > 1 and parts[0] == "dataset":  # the release, downloaded into any folder
        cands.append(root.joinpath(*parts[1:]))
    for c in cands:
        cand = c.resolve()
        if not cand.is_file():
            continue
        if not cand.is_relative_to(real_root):
            outside = cand
            continue
        return cand
    if outside is not None:
        raise ImageOutside(f"image path {image_path!r} leads to {outside}, outside the dataset folder {real_root}")
    return None


def load_dataset(path: str | Path, max_identities: int | None = None) -> FIUDataset:
    """Load a dataset folder (ours or the official release) into a :class:`FIUDataset`.

    Checks structure, keys, duplicate ids, image existence, split ids and forget
    split disjointness; ``validate_dataset`` additionally decodes every image.
    """
    root = Path(path)
    if not root.is_dir():
        raise DataError(f"{root}: dataset folder not found")
    root = root.resolve()
    full = root / "full.json"
    records = _read_records(full)
    if max_identities is not None:
        if max_identities < 1:
            raise DataError(f"max_identities must be >= 1, got {max_identities}")
        records = records[:max_identities]
    identities: dict[str, Identity] = {}
    lines: dict[str, int] = {}
    for n, obj in records:
        where = f"{full} line {n}"
        for key in IDENTITY_KEYS:
            if key not in obj:
                raise DataError(f"{where}: missing key {key!r}")
        uid = str(obj["unique_id"])
        if uid in identities:
            raise DataError(f"{where}: duplicate unique_id {uid!r} (first at line {lines[uid]})")
        if not isinstance(obj["qa_list"], list) or not obj["qa_list"]:
            raise DataError(f"{where}: field 'qa_list' must be a non-empty list")
        if not isinstance(obj["image_path"], str):
            raise DataError(f"{where}: field 'image_path' must be a string")
        try:
            image = resolve_image(root, obj["image_path"])
        except ImageOutside as e:
            raise DataError(f"{where}: field 'image_path': {e}") from None
        if image is None:
            raise DataError(
                f"{where}: field 'image_path': image {obj['image_path']!r} not found "
                f"(looked in {root} and {root.parent})"
            )
        qas = tuple(_parse_qa(q, f"{where}, qa_list[{i}]") for i, q in enumerate(obj["qa_list"]))
        identities[uid] = Identity(
            unique_id=uid, image_path=image, name=str(obj["name"]), caption=str(obj.get("caption", "")),
            qa_list=qas,
        )
        lines[uid] = n
    if not identities:
        raise DataError(f"{full}: no identities")
    _check_qa_counts(root, full, identities, lines)

    splits = _load_splits(root / "split.json", identities, truncated=max_identities is not None)
    refusals, icd, warnings = _load_prompts(root / "prompt.json")
    profiles_path = root / "profiles.jsonl"
    if profiles_path.exists():
        for n, obj in _read_records(profiles_path):
            uid = str(obj.get("unique_id"))
            if uid not in identities:
                if max_identities is not None:
                    continue
                raise DataError(f"{profiles_path} line {n}: field 'unique_id': {uid!r} is not in full.json")
            old = identities[uid]
            identities[uid] = Identity(
                old.unique_id, old.image_path, old.name, old.caption, old.qa_list,
                profile=obj.get("profile"), attributes=obj.get("attributes"),
            )
    visual = _load_visual(root, identities, max_identities is not None)
    return FIUDataset(root=root, identities=identities, splits=splits, refusals=refusals, visual_qa=visual,
                      icd_prompts=icd, warnings=warnings)


def _check_qa_counts(root: Path, full: Path, identities: dict[str, Identity], lines: dict[str, int]) -> None:
    """Every identity has the same number of QA (20 in the release; a dataset we built
    says how many in build.json). A short identity would silently weigh less in every
    per-identity mean and shift the forget/retain balance."""
    from collections import Counter

    expected = None
    build = root / "build.json"
    if build.is_file():
        try:
            expected = int(json.loads(build.read_text(encoding="utf-8"))["config"]["qa_per_identity"])
        except (ValueError, KeyError, TypeError):
            expected = None
    counts = Counter(len(p.qa_list) for p in identities.values())
    if expected is None:
        expected = counts.most_common(1)[0][0]
    for uid, p in identities.items():
        if len(p.qa_list) != expected:
            raise DataError(
                f"{full} line {lines[uid]}: field 'qa_list': identity {uid!r} has {len(p.qa_list)} QA, "
                f"expected {expected} like {'build.json says' if build.is_file() else 'the other identities'}"
            )


def _load_splits(path: Path, identities: dict[str, Identity], truncated: bool) -> dict[str, list[str]]:
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise DataError(f"{path} line {e.lineno}: bad JSON ({e.msg})") from None
    if not isinstance(raw, dict):
        raise DataError(f"{path}: expected a JSON object mapping split names to lists of unique_ids")
    splits: dict[str, list[str]] = {}
    for name, ids in raw.items():
        if not isinstance(ids, list):
            raise DataError(f"{path}: split {name!r} must be a list of unique_ids")
        out = []
        seen: set[str] = set()
        for i in ids:
            uid = str(i)
            if uid in seen:
                raise DataError(f"{path}: split {name!r} lists unique_id {uid!r} twice")
            seen.add(uid)
            if uid not in identities:
                if truncated:
                    continue  # the row was cut by max_identities
                raise DataError(f"{path}: split {name!r}: unique_id {uid!r} is not in full.json")
            out.append(uid)
        splits[name] = out
    forget = [s for s in splits if s in FORGET_SPLITS or s.startswith("forget")]
    for a_i, a in enumerate(forget):
        for b in forget[a_i + 1 :]:
            both = set(splits[a]) & set(splits[b])
            if both:
                raise DataError(
                    f"{path}: forget splits {a!r} and {b!r} overlap ({len(both)} ids, e.g. {sorted(both)[0]!r}); "
                    "they must be pairwise disjoint"
                )
    if "holdout" in splits:
        trained = set().union(*(set(v) for k, v in splits.items() if k != "holdout"))
        both = trained & set(splits["holdout"])
        if both:
            raise DataError(
                f"{path}: holdout ids also appear in trained splits (e.g. {sorted(both)[0]!r}); "
                "holdout identities must never be trained"
            )
    return splits


def _strings(value: Any, where: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(x, str) and x.strip() for x in value):
        raise DataError(f"{where}: expected a list of non-empty strings")
    return list(value)


def _load_prompts(path: Path) -> tuple[list[str], list[str], list[str]]:
    """(idk refusals, icd profile-dump prompts, warnings) from ``prompt.json``.

    Layout of the release (and of our builder): ``{"idk": [...], "icd": [...]}``. A
    plain list is an older fiubench layout: read as ``idk``, with a warning.
    """
    if not path.is_file():
        return [], [], []
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise DataError(f"{path} line {e.lineno}: bad JSON ({e.msg})") from None
    if isinstance(raw, list):
        idk = _strings(raw, f"{path}")
        return idk, [], [
            f"{path}: a JSON list, read as the 'idk' refusal sentences; the release's layout is "
            '{"idk": [...], "icd": [...]} (no profile-dump prompts here)'
        ]
    if not isinstance(raw, dict):
        raise DataError(f'{path}: expected a JSON object {{"idk": [...], "icd": [...]}}, got {type(raw).__name__}')
    if "idk" not in raw:
        raise DataError(f"{path}: missing key 'idk' (the refusal sentences); keys found: {sorted(raw)}")
    idk = _strings(raw["idk"], f"{path}: key 'idk'")
    warnings = []
    icd: list[str] = []
    if "icd" in raw:
        icd = _strings(raw["icd"], f"{path}: key 'icd'")
    else:
        warnings.append(f"{path}: no key 'icd': no profile-dump prompts")
    extra = sorted(set(raw) - {"idk", "icd"})
    if extra:
        warnings.append(f"{path}: unknown key(s) ignored: {', '.join(map(repr, extra))}")
    return idk, icd, warnings


def _load_visual(root: Path, identities: dict[str, Identity], truncated: bool) -> list[VisualQA]:
    path = root / "visual_qa.jsonl"
    if not path.exists():
        return []
    out = []
    for n, obj in _read_records(path):
        where = f"{path} line {n}"
        for key in ("unique_id", "question", "answer", "kind", "attribute"):
            if key not in obj:
                raise DataError(f"{where}: missing key {key!r}")
        uid = str(obj["unique_id"])
        if uid not in identities:
            if truncated:
                continue
            raise DataError(f"{where}: field 'unique_id': {uid!r} is not in full.json")
        if obj["kind"] not in ("open", "yesno"):
            raise DataError(f"{where}: field 'kind' must be 'open' or 'yesno', got {obj['kind']!r}")
        out.append(VisualQA(uid, identities[uid].image_path, obj["question"], obj["answer"], obj["kind"], obj["attribute"]))
    return out


@dataclass
class ValidationReport:
    """What ``fiubench data validate`` prints. Errors raise; this holds the rest."""

    root: Path
    kind: str  # "fiubench" (has build.json) or "official"
    n_identities: int
    n_qa: int
    n_visual_qa: int
    n_refusals: int
    n_icd_prompts: int
    splits: dict[str, int]
    warnings: list[str] = field(default_factory=list)

    def summary(self) -> str:
        lines = [
            f"{self.root}: OK ({self.kind} layout)",
            f"  identities: {self.n_identities}, QA: {self.n_qa}, visual QA: {self.n_visual_qa}, "
            f"refusals (idk): {self.n_refusals}, profile-dump prompts (icd): {self.n_icd_prompts}",
            "  splits: " + ", ".join(f"{k}={v}" for k, v in self.splits.items()),
        ]
        lines += [f"  warning: {w}" for w in self.warnings]
        return "\n".join(lines)


def validate_dataset(path: str | Path, max_identities: int | None = None) -> ValidationReport:
    """Load ``path`` and decode every image; raise DataError at the first problem."""
    from PIL import Image

    ds = load_dataset(path, max_identities=max_identities)
    full = ds.root / "full.json"
    for n, uid in enumerate(ds.identities, start=1):
        img = ds.identities[uid].image_path
        try:
            with Image.open(img) as im:
                im.verify()
            with Image.open(img) as im:
                im.load()
        except Exception as e:  # PIL raises many types for corrupt files
            raise DataError(f"{full} record {n} (unique_id {uid!r}): field 'image_path': unreadable image {img} ({e})") from None
    warnings: list[str] = list(ds.warnings)
    ours = (ds.root / "build.json").exists()
    if not ds.refusals:
        warnings.append("no prompt.json: no refusal sentences (needed by preference optimisation)")
    elif len(ds.refusals) < 50:
        warnings.append(f"prompt.json has {len(ds.refusals)} refusal sentences (the release has 50)")
    if "holdout" not in ds.splits:
        warnings.append(
            "no 'holdout' split: membership inference has no non-member identities, and the calibration "
            "check of the truth ratio (retain model, forget vs never-trained identities) cannot run"
        )
    missing_kw = sum(
        1 for p in ds.identities.values() for qa in p.qa_list
        if any(k.lower() not in qa.answer.lower() for k in qa.keywords)
    )
    if missing_kw:
        warnings.append(f"{missing_kw} QA have a keyword that does not occur in their answer")
    same = sum(
        1 for p in ds.identities.values() for qa in p.qa_list
        if any(x.strip().lower() in (qa.answer.strip().lower(), qa.paraphrased_answer.strip().lower())
               for x in qa.perturbed_answer)
    )
    if same:
        warnings.append(f"{same} QA have a perturbed answer equal to the answer or the paraphrased answer")
    if ours:
        for req in ("prompt.json", "profiles.jsonl", "visual_qa.jsonl", "README.md"):
            if not (ds.root / req).exists():
                raise DataError(f"{ds.root / req}: file not found (every fiubench-built dataset has it)")
    return ValidationReport(
        root=ds.root,
        kind="fiubench" if ours else "official",
        n_identities=len(ds.identities),
        n_qa=sum(len(p.qa_list) for p in ds.identities.values()),
        n_visual_qa=len(ds.visual_qa),
        n_refusals=len(ds.refusals),
        n_icd_prompts=len(ds.icd_prompts),
        splits={k: len(v) for k, v in ds.splits.items()},
        warnings=warnings,
    )
