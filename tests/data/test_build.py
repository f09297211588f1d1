from __future__ import annotations

import datetime as dt
import hashlib
import json
from pathlib import Path

import pytest

from fiubench.data import load_dataset
from fiubench.data.build import build_dataset, profile_dump_prompts, refusal_sentences
from fiubench.data.load import QA_KEYS
from fiubench.data.profiles import AGE_RANGES, REFERENCE_DATE

from .conftest import small_config

OFFICIAL_IDENTITY_KEYS = {"unique_id", "image_path", "name", "caption", "qa_list"}


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_same_seed_byte_identical(tmp_path: Path) -> None:
    a = build_dataset(small_config(seed=11), tmp_path / "a")
    b = build_dataset(small_config(seed=11), tmp_path / "b")
    fa, fb = _files(a), _files(b)
    assert set(fa) == set(fb)
    assert any(k.endswith(".png") for k in fa)
    for k in fa:
        if k != "build.json":  # holds the provenance timestamp: documented exception
            assert fa[k] == fb[k], k
    # build.json records the sha256 of every other file
    sums = json.loads(fa["build.json"])["sha256"]
    assert set(sums) == set(fa) - {"build.json"}
    from fiubench.data.faces import RENDER_VERSION

    assert json.loads(fa["build.json"])["faces_render_version"] == RENDER_VERSION
    assert all(hashlib.sha256(fa[k]).hexdigest() == v for k, v in sums.items())
    c = build_dataset(small_config(seed=12), tmp_path / "c")
    assert _files(c)["full.json"] != fa["full.json"]
    assert _files(c)["images/00000001.png"] != fa["images/00000001.png"]


def test_official_layout_and_schema(small_ds: Path) -> None:
    for name in ("full.json", "split.json", "prompt.json", "profiles.jsonl", "visual_qa.jsonl", "README.md", "build.json"):
        assert (small_ds / name).is_file(), name
    rows = [json.loads(line) for line in (small_ds / "full.json").read_text().splitlines()]
    assert len(rows) == 44  # 40 trained + 10 % holdout
    for r in rows:
        assert set(r) == OFFICIAL_IDENTITY_KEYS
        assert len(r["unique_id"]) == 8 and r["unique_id"].isdigit()
        assert r["image_path"] == f"images/{r['unique_id']}.png"
        assert len(r["qa_list"]) == 5
        for qa in r["qa_list"]:
            assert set(qa) == set(QA_KEYS) | {"field"}
            assert len(qa["paraphrased_question"]) == 3 and len(qa["perturbed_answer"]) == 3
            assert qa["answer"][0].isupper() and qa["answer"].endswith(".")
    ds = load_dataset(small_ds)
    assert len(ds.identities) == 44
    assert all(p.image_path.is_file() and p.attributes and p.profile for p in ds.identities.values())
    assert len(ds.examples("forget5")) == 5 * len(ds.split_ids("forget5"))
    card = (small_ds / "README.md").read_text()
    assert "fictitious" in card and "Seed: 3" in card


def test_splits(small_ds: Path) -> None:
    s = json.loads((small_ds / "split.json").read_text())
    assert [len(s[k]) for k in ("forget1", "forget5", "forget10", "retain5", "retain15", "holdout")] == [1, 2, 4, 2, 6, 4]
    f = [set(s[k]) for k in ("forget1", "forget5", "forget10")]
    assert not (f[0] & f[1] or f[0] & f[2] or f[1] & f[2])
    full, hold = set(s["full"]), set(s["holdout"])
    assert len(full) == 40 and not full & hold and len(full | hold) == 44
    assert set(s["retain"]) == full - f[0] - f[1] - f[2]
    assert set(s["retain5"]) <= set(s["retain15"]) <= set(s["retain"])


def test_keywords_in_answer_and_name_never_in_question(small_ds: Path) -> None:
    ds = load_dataset(small_ds)
    for p in ds.identities.values():
        first, last = p.name.split(" ", 1)
        for qa in p.qa_list:
            assert qa.keywords
            assert all(k in qa.answer for k in qa.keywords)
            for q in (qa.question, *qa.paraphrased_question):
                assert "the person" in q or "the individual" in q
                assert first not in q and last not in q


def test_profiles_consistent(small_ds: Path) -> None:
    ds = load_dataset(small_ds)
    names = [p.name for p in ds.identities.values()]
    assert len(set(names)) == len(names)

    def parse(s: str) -> dt.date:
        return dt.datetime.strptime(s, "%B %d, %Y").date()

    for p in ds.identities.values():
        v, a = p.profile, p.attributes
        assert v is not None and a is not None
        dob, adm, dis = parse(v["date_of_birth"]), parse(v["admission_date"]), parse(v["discharge_date"])
        age = REFERENCE_DATE.year - dob.year - ((REFERENCE_DATE.month, REFERENCE_DATE.day) < (dob.month, dob.day))
        assert age == int(v["age"])
        lo, hi = AGE_RANGES[a["age_group"]]
        assert lo <= age <= hi
        assert dob < adm < dis <= REFERENCE_DATE
        assert (adm - dob).days >= 18 * 365
        assert v["name"] == p.name


def test_prompt_json_official_layout_and_visual_qa(small_ds: Path) -> None:
    prompts = json.loads((small_ds / "prompt.json").read_text())
    assert set(prompts) == {"idk", "icd"}  # the release's layout: upstream reads prompt['idk'], prompt['icd']
    assert prompts["idk"] == refusal_sentences() and len(set(prompts["idk"])) >= 50
    assert prompts["icd"] == profile_dump_prompts() and 20 <= len(set(prompts["icd"])) <= 30
    ds = load_dataset(small_ds)
    assert ds.refusals == prompts["idk"] and ds.icd_prompts == prompts["icd"] and not ds.warnings
    assert {v.unique_id for v in ds.visual_qa} == set(ds.identities)
    assert {v.kind for v in ds.visual_qa} == {"open", "yesno"}
    # every attribute asked both ways (fiubench.data.visual.VISUAL_QA_VERSION 2)
    for uid in ds.identities:
        for attr in {v.attribute for v in ds.visual_qa if v.unique_id == uid}:
            yn = sorted(v.answer for v in ds.visual_qa if v.unique_id == uid and v.attribute == attr and v.kind == "yesno")
            assert yn == ["No.", "Yes."], (uid, attr)


def test_qa_per_identity_above_field_count(tmp_path: Path) -> None:
    ds = load_dataset(build_dataset(small_config(n_identities=12, qa_per_identity=25), tmp_path / "d"))
    p = next(iter(ds.identities.values()))
    assert len(p.qa_list) == 25
    assert len({qa.field for qa in p.qa_list}) == 20


@pytest.mark.parametrize("size", [32, 128])
def test_image_size(tmp_path: Path, size: int) -> None:
    from PIL import Image

    out = build_dataset(small_config(n_identities=12, image_size=size), tmp_path / "d")
    with Image.open(out / "images" / "00000001.png") as im:
        assert im.size == (size, size) and im.mode == "RGB"
