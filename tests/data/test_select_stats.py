"""Face selection from a folder (K-means / random), encoders, statistics and Fréchet distance."""

from __future__ import annotations

import json
import math
import random
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from fiubench.cli.main import main
from fiubench.data import load_dataset
from fiubench.data.build import build_dataset
from fiubench.data.features import get_encoder
from fiubench.data.select import kmeans_pick, select_faces
from fiubench.data.stats import frechet_distance, mean_pairwise_distance

from .conftest import small_config

BASES = {"red": (220, 30, 30), "green": (30, 200, 40), "blue": (30, 40, 220), "yellow": (230, 220, 30)}


def _pool(folder: Path, per: int = 6) -> dict[str, str]:
    """``per`` near-duplicate images of each of 4 very different colours; name -> colour."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(0)
    colour_of = {}
    for c, rgb in BASES.items():
        for i in range(per):
            arr = np.clip(np.array(rgb) + rng.randint(-12, 12), 0, 255).astype(np.uint8)
            im = Image.new("RGB", (40, 48), tuple(int(x) for x in arr))
            name = f"{c}_{i}.{'jpg' if i % 2 else 'png'}"
            im.save(folder / name)
            colour_of[name] = c
    return colour_of


def test_kmeans_pick_one_per_cluster() -> None:
    rng = np.random.default_rng(0)
    centres = np.array([[0, 0], [10, 0], [0, 10], [10, 10]], dtype=float)
    x = np.concatenate([c + rng.normal(0, 0.3, size=(25, 2)) for c in centres])
    picked = kmeans_pick(x, 4, seed=0)
    assert sorted(i // 25 for i in picked) == [0, 1, 2, 3]
    assert len(set(picked)) == 4


def test_select_faces_kmeans_covers_every_colour(tmp_path: Path) -> None:
    colour_of = _pool(tmp_path / "pool")
    chosen = select_faces(tmp_path / "pool", 4, "kmeans", "pixels", seed=0)
    assert sorted(colour_of[p.name] for p in chosen) == sorted(BASES)
    rand = select_faces(tmp_path / "pool", 4, "random", "pixels", seed=0)
    assert len(set(rand)) == 4
    assert select_faces(tmp_path / "pool", 4, "random", "pixels", seed=0) == rand


def test_build_from_faces_folder(tmp_path: Path) -> None:
    _pool(tmp_path / "pool", per=5)
    out = build_dataset(small_config(n_identities=12, faces_dir=tmp_path / "pool", image_size=32), tmp_path / "ds")
    ds = load_dataset(out)
    assert len(ds.identities) == 13
    assert ds.visual_qa == []  # attributes of external faces are unknown
    for p in ds.identities.values():
        assert p.attributes is None
        with Image.open(p.image_path) as im:
            assert im.size == (32, 32)
    rows = [json.loads(x) for x in (out / "profiles.jsonl").read_text().splitlines()]
    assert len({r["face_source"] for r in rows}) == 13


def test_too_few_faces(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _pool(tmp_path / "pool", per=1)
    assert main(["data", "build", "--out", str(tmp_path / "o"), "--n-identities", "12", "--faces",
                 str(tmp_path / "pool")]) == 2
    assert "4 images found, 13 needed" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_frechet_distance_hand_computed() -> None:
    # 1-D: FD = (mu1 - mu2)^2 + v1 + v2 - 2 sqrt(v1 v2); a: mean 1, var 2; b: mean 5, var 8
    a, b = np.array([[0.0], [2.0]]), np.array([[3.0], [7.0]])
    assert frechet_distance(a, b) == pytest.approx(16 + 2 + 8 - 2 * 4)
    x = np.random.default_rng(0).normal(size=(50, 3))
    assert frechet_distance(x, x) == pytest.approx(0.0, abs=1e-6)
    # shifting every feature by 1 adds exactly ||shift||^2 = 3
    assert frechet_distance(x, x + 1.0) == pytest.approx(3.0, abs=1e-6)


def test_mean_pairwise_distance_hand_computed() -> None:
    x = np.array([[0.0, 0.0], [3.0, 4.0], [0.0, 4.0]])
    assert mean_pairwise_distance(x) == pytest.approx((5 + 4 + 3) / 3)


def test_stats_cli_grid_and_compare(small_ds: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    grid = tmp_path / "grid.png"
    js = tmp_path / "stats.json"
    _pool(tmp_path / "pool")
    assert main(["data", "stats", str(small_ds), "--grid", str(grid), "--grid-n", "10",
                 "--compare", str(tmp_path / "pool"), "--json", str(js)]) == 0
    out = capsys.readouterr().out
    assert "identities: 44" in out and "Fréchet distance" in out
    with Image.open(grid) as im:
        cols = math.ceil(math.sqrt(20))
        assert im.size == (cols * 96, math.ceil(10 / cols) * 96)
    s = json.loads(js.read_text())
    assert s["stats"]["compare"]["frechet_distance"] > 0
    assert s["stats"]["field_coverage"] and "provenance" in s
    assert (tmp_path / "grid.png.provenance.json").exists()
    # a dataset compared with itself: distance 0
    assert main(["data", "stats", str(small_ds), "--compare", str(small_ds)]) == 0
    assert "): 0.0000" in capsys.readouterr().out


def test_stats_bad_grid_name(small_ds: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["data", "stats", str(small_ds), "--grid", str(tmp_path / "g.jpg")]) == 2
    assert "--grid" in capsys.readouterr().err
    assert not (tmp_path / "g.jpg").exists()


def test_hf_vision_encoder_from_local_dir(tmp_path: Path) -> None:
    """A tiny random CLIP vision tower saved locally works as the K-means encoder."""
    import torch
    from transformers import CLIPImageProcessorPil, CLIPVisionConfig, CLIPVisionModel

    torch.manual_seed(0)
    cfg = CLIPVisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2,
                           image_size=32, patch_size=16)
    model_dir = tmp_path / "clip"
    CLIPVisionModel(cfg).save_pretrained(model_dir, safe_serialization=True)
    CLIPImageProcessorPil(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}).save_pretrained(model_dir)
    _pool(tmp_path / "pool", per=2)
    paths = sorted((tmp_path / "pool").iterdir())
    feats = get_encoder(str(model_dir))(paths)
    assert feats.shape == (8, 32) and np.isfinite(feats).all()
    assert len(select_faces(tmp_path / "pool", 3, "kmeans", str(model_dir), seed=0)) == 3
