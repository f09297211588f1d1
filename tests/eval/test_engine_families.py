"""The encode-each-image-once path gives the slow path's numbers on every family.

Each family's tiny random model scores answer variants and generates greedy answers
with cached image features (``reuse_image_features=True``) and with the processor +
vision model per row (``False``); log-probs must agree to float tolerance and the
generations exactly, while the fast path encodes each distinct image once.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from PIL import Image

from fiubench.eval.engine import Engine, ScoreRow
from fiubench.models import ModelConfig
from fiubench.models.families import list_families
from fiubench.models.loading import load_vlm

FAMILIES = [f.name for f in list_families() if f.name != "tiny"]  # tiny is a LLaVA (tests/eval)


@pytest.fixture(scope="module")
def faces(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    d = tmp_path_factory.mktemp("faces")
    g = torch.Generator().manual_seed(1)
    out = []
    for i in range(2):
        p = d / f"face{i}.png"
        Image.fromarray((torch.rand(64, 64, 3, generator=g) * 255).to(torch.uint8).numpy()).save(p)
        out.append(p)
    return out


@pytest.mark.parametrize("family", FAMILIES)
def test_fast_path_matches_slow_path(family, tiny_family_dir, faces):
    vlm = load_vlm(ModelConfig(name_or_path=str(tiny_family_dir(family)), device="cpu"))
    a, b = faces
    rows = [ScoreRow(a, "What is the blood type?", "AB negative", with_dist=True),
            ScoreRow(b, "Where does this person live?", "12 Elm Street"),
            ScoreRow(a, "Where does this person live?", "4 Oak Lane, Springfield"),
            ScoreRow(b, "What is the blood type?", "O positive", with_dist=True)]
    pairs = [(a, "Who is this?"), (b, "What is the blood type?"), (a, "Where does this person live?")]
    fast = Engine(vlm, batch_size=4, reuse_image_features=True)
    slow = Engine(vlm, batch_size=4, reuse_image_features=False)
    f_scores, s_scores = fast.score(rows), slow.score(rows)
    for f, s in zip(f_scores, s_scores, strict=True):
        assert len(f.logprobs) == len(s.logprobs) > 0
        assert torch.allclose(torch.tensor(f.logprobs), torch.tensor(s.logprobs), atol=1e-4)
        if s.mu is not None:
            assert torch.allclose(torch.tensor(f.mu), torch.tensor(s.mu), atol=1e-4)
            assert torch.allclose(torch.tensor(f.sigma), torch.tensor(s.sigma), atol=1e-4)
    assert fast.generate(pairs, 6) == slow.generate(pairs, 6)
    assert fast.stats["fast_path"] is True
    assert fast.stats["image_encodes"] == 2  # each distinct image once, scoring and generation
    assert slow.stats["image_encodes"] == len(rows) + len(pairs)
