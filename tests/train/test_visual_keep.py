"""Visual keep: stage C's loss replayed during stage 1 (fiubench.tiny.keep)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from fiubench.errors import ConfigError
from fiubench.models import ModelConfig, load_vlm
from fiubench.train import LearnConfig, learn
from fiubench.train.config import train_preset


@pytest.fixture(scope="module")
def keep_parts(tiny_base):
    import fiubench.tiny.keep as vk

    vk_faces, vk.KEEP_FACES = vk.KEEP_FACES, 4  # a small pool: the maths is the same
    try:
        vlm = load_vlm(ModelConfig(name_or_path=str(tiny_base), device="cpu"))
        yield (vlm, vk.VisualKeep(vlm, pairs=3, weight=1.0, seed=0), vk.VisualKeep(vlm, pairs=3, weight=2.5, seed=0),
               vk.VisualKeep(vlm, pairs=3, weight=1.0, seed=0, captions=2),
               vk.VisualKeep(vlm, pairs=3, weight=1.0, seed=0, open_questions=4))
    finally:
        vk.KEEP_FACES = vk_faces


def test_keep_loss_is_stage_c_loss_weighted_and_deterministic(keep_parts):
    from fiubench.tiny.distil import distil_loss

    vlm, keep, heavier, _, _ = keep_parts
    torch.manual_seed(0)
    a, logs = keep.loss(vlm.model, step=7)
    b, _ = keep.loss(vlm.model, step=7)
    c, _ = keep.loss(vlm.model, step=8)
    h, _ = heavier.loss(vlm.model, step=7)
    assert torch.isfinite(a) and a.item() > 0
    assert a.item() == pytest.approx(b.item()) and a.item() != pytest.approx(c.item())
    assert h.item() == pytest.approx(2.5 * a.item(), rel=1e-5)  # lambda scales the whole term
    assert set(logs) == {"keep_image", "keep_text", "keep_match"}
    # it is stage C's loss, w = 3, on the rows drawn for that step
    gen = torch.Generator().manual_seed(7)
    idx = torch.randint(0, len(keep.data["rows"]), (3,), generator=gen).tolist()
    oidx = torch.randint(0, len(keep.data["open_rows"]), (1,), generator=gen).tolist()
    want, parts = distil_loss(vlm.model, vlm, keep.data, idx, oidx, 3.0)
    assert a.item() == pytest.approx(want.item(), rel=1e-5)
    assert logs["keep_match"] == pytest.approx(parts["match"].item(), rel=1e-5)


def test_stage_c_loss_scores_answers_only_with_the_full_logits_values(keep_parts):
    """distil_loss projects to the vocabulary only where answers are scored: its CE terms
    and gradients equal those computed from every position's logits."""
    from fiubench.models.logprobs import mean_nll
    from fiubench.tiny.distil import distil_loss, hidden_match
    from fiubench.tiny.pools import collate_rows

    vlm, keep, _, _, _ = keep_parts
    data, idx, oidx = keep.data, [0, 1, 2], [0]
    model = vlm.model
    model.zero_grad()
    loss, parts = distil_loss(model, vlm, data, idx, oidx, 3.0)
    loss.backward()
    fast = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    model.zero_grad()
    sb = vlm.to_device(collate_rows([data["rows"][i] for i in idx] + [data["open_rows"][i] for i in oidx],
                                vlm.pad_token_id))
    tb = vlm.to_device(collate_rows([data["twins"][i] for i in idx], vlm.pad_token_id))
    so = model(**{k: v for k, v in sb.items() if k != "labels"}, output_hidden_states=True)
    to = model(input_ids=tb["input_ids"], attention_mask=tb["attention_mask"], output_hidden_states=True)
    assert so.logits.shape[1] == sb["input_ids"].shape[1]  # the reference scores every position
    image, text = mean_nll(so.logits, sb["labels"]).mean(), mean_nll(to.logits, tb["labels"]).mean()
    match = hidden_match(so.hidden_states, to.hidden_states, [data["spans"][i] for i in idx])
    (image + text + 3.0 * match).backward()
    assert parts["image"].item() == pytest.approx(image.item(), rel=1e-5)
    assert parts["text"].item() == pytest.approx(text.item(), rel=1e-5)
    assert parts["match"].item() == pytest.approx(match.item(), rel=1e-5)
    assert fast
    for n, p in model.named_parameters():
        if n in fast:
            torch.testing.assert_close(fast[n], p.grad, rtol=1e-4, atol=1e-6)
    model.zero_grad()


def test_keep_descriptions_ride_on_the_same_draws(keep_parts, monkeypatch):
    """With ``captions`` each step also scores that many dense descriptions of the keep
    faces; the yes/no and open draws stay those of the keep without them."""
    import fiubench.tiny.distil as bd
    from fiubench.tiny.pools import DESCRIBE_QUESTION

    vlm, keep, _, described, _ = keep_parts
    n_faces = len({r["pixel_values"].numpy().tobytes() for r in keep.data["rows"]})
    assert len(described.data["open_rows"]) == len(keep.data["open_rows"]) + n_faces
    seen = []
    real = bd.distil_loss
    monkeypatch.setattr(bd, "distil_loss", lambda m, v, data, idx, oidx, w: seen.append((idx, oidx)) or
                        real(m, v, data, idx, oidx, w))
    keep.loss(vlm.model, step=5)
    described.loss(vlm.model, step=5)
    (idx, oidx), (idx_c, oidx_c) = seen
    assert idx_c == idx and oidx_c[:len(oidx)] == oidx and len(oidx_c) == len(oidx) + 2
    ask = vlm.tokenizer(DESCRIBE_QUESTION, add_special_tokens=False)["input_ids"]
    for i in oidx_c[len(oidx):]:  # the extra rows are descriptions, asked with stage B's question
        ids = described.data["open_rows"][i]["input_ids"].tolist()
        assert any(ids[j:j + len(ask)] == ask for j in range(len(ids)))
    for i in oidx:
        ids = described.data["open_rows"][i]["input_ids"].tolist()
        assert not any(ids[j:j + len(ask)] == ask for j in range(len(ids)))


def test_keep_open_questions_per_step(keep_parts, monkeypatch):
    """``open_questions`` sets how many open rows a step scores (default: a third of the
    pairs, at least 1); the yes/no draws stay those of the default."""
    import fiubench.tiny.distil as bd

    vlm, keep, _, _, more_open = keep_parts
    assert keep.open_questions == 1 and more_open.open_questions == 4
    seen = []
    real = bd.distil_loss
    monkeypatch.setattr(bd, "distil_loss", lambda m, v, data, idx, oidx, w: seen.append((idx, oidx)) or
                        real(m, v, data, idx, oidx, w))
    a, _ = keep.loss(vlm.model, step=3)
    b, _ = more_open.loss(vlm.model, step=3)
    (idx, oidx), (idx_o, oidx_o) = seen
    assert idx_o == idx and len(oidx) == 1 and len(oidx_o) == 4 and oidx_o[0] == oidx[0]
    assert all(0 <= i < more_open.n_open for i in oidx_o)
    assert a.item() != pytest.approx(b.item())


def test_keep_pool_size(tiny_base):
    """``faces`` sizes the keep pool; the smaller pool is the larger one's first faces."""
    import fiubench.tiny.keep as vk

    vlm = load_vlm(ModelConfig(name_or_path=str(tiny_base), device="cpu"))
    small, big = vk.VisualKeep(vlm, 3, 1.0, 0, faces=2), vk.VisualKeep(vlm, 3, 1.0, 0, faces=5)

    def faces(k):
        return list(dict.fromkeys(r["pixel_values"].numpy().tobytes() for r in k.data["rows"]))

    assert len(faces(small)) == 2 and len(faces(big)) == 5 and faces(big)[:2] == faces(small)


def test_keep_faces_are_the_bases_own(keep_parts):
    """The keep pool is procedural (the base's seed space), never the replay or training pool."""
    from fiubench.tiny.pools import procedural_pool

    _, keep, _, _, _ = keep_parts
    keep_px = {r["pixel_values"].numpy().tobytes() for r in keep.data["rows"]}
    vlm = keep_parts[0]
    for split in ("train", "replay"):
        imgs = [img for img, _, _ in procedural_pool(0, split, 4)]
        px = vlm.processor.image_processor(imgs, return_tensors="pt")["pixel_values"]
        assert not keep_px & {p.numpy().tobytes() for p in px}


def _learn(tiny_data: Path, tiny_base: Path, out: Path, keep: int) -> Path:
    from fiubench.tiny import training_terms

    t = train_preset("tiny", progress=False, max_steps=2, batch_size=8)
    cfg = LearnConfig(data=tiny_data, out=out, split="full", model=ModelConfig(name_or_path=str(tiny_base)),
                      train=t, visual_keep=keep)
    return learn(cfg, terms=training_terms(cfg))


def test_keep_is_refused_when_no_caller_supplies_its_term(tiny_data, tiny_base, tmp_path):
    """train/ never builds the keep term itself: asked for but not supplied, the run stops
    before any weights load and writes nothing; ``training_terms`` supplies it only when on."""
    from fiubench.tiny import training_terms

    cfg = LearnConfig(data=tiny_data, out=tmp_path / "k", split="full",
                      model=ModelConfig(name_or_path=str(tiny_base)), visual_keep=4)
    with pytest.raises(ConfigError, match="learn.visual_keep: 4 asks for the training term 'visual_keep'"):
        learn(cfg)
    assert not (tmp_path / "k").exists()
    assert list(training_terms(cfg)) == ["visual_keep"]
    assert training_terms(LearnConfig(data=tiny_data, out=tmp_path)) == {}


def test_learn_with_keep_trains_the_keep_term(tiny_data, tiny_base, tmp_path):
    plain = _learn(tiny_data, tiny_base, tmp_path / "plain", 0)
    kept = _learn(tiny_data, tiny_base, tmp_path / "kept", 4)
    rows = [json.loads(line) for line in (kept / "log.jsonl").read_text().splitlines() if '"step"' in line]
    assert rows and all(r["keep_match"] > 0 and r["keep_image"] > 0 for r in rows)
    assert not any("keep_match" in line for line in (plain / "log.jsonl").read_text().splitlines())
    a, b = load_file(str(plain / "model" / "model.safetensors")), load_file(str(kept / "model" / "model.safetensors"))
    assert any(not torch.equal(a[k], b[k]) for k in a)  # the keep term changed the update


def test_keep_options_are_checked(tiny_data, tmp_path):
    with pytest.raises(ConfigError, match="learn.visual_keep:"):
        LearnConfig(data=tiny_data, out=tmp_path, visual_keep=-1).validate()
    with pytest.raises(ConfigError, match="learn.visual_keep_weight"):
        LearnConfig(data=tiny_data, out=tmp_path, visual_keep=4, visual_keep_weight=0).validate()
    with pytest.raises(ConfigError, match="learn.visual_keep_captions: must be >= 0"):
        LearnConfig(data=tiny_data, out=tmp_path, visual_keep=4, visual_keep_captions=-1).validate()
    with pytest.raises(ConfigError, match="learn.visual_keep_captions: needs visual_keep > 0"):
        LearnConfig(data=tiny_data, out=tmp_path, visual_keep_captions=2).validate()
    with pytest.raises(ConfigError, match="learn.visual_keep_open: must be >= 0"):
        LearnConfig(data=tiny_data, out=tmp_path, visual_keep=4, visual_keep_open=-1).validate()
    with pytest.raises(ConfigError, match="learn.visual_keep_open: needs visual_keep > 0"):
        LearnConfig(data=tiny_data, out=tmp_path, visual_keep_open=2).validate()
    with pytest.raises(ConfigError, match="learn.visual_keep_faces: must be >= 1"):
        LearnConfig(data=tiny_data, out=tmp_path, visual_keep=4, visual_keep_faces=0).validate()
    with pytest.raises(ConfigError, match="learn.visual_keep_faces: needs visual_keep > 0"):
        LearnConfig(data=tiny_data, out=tmp_path, visual_keep_faces=50).validate()


def test_run_config_passes_keep_to_stage_1_and_its_cache_key(tmp_path):
    from fiubench.pipeline.run import Pipeline
    from fiubench.presets import load_run_config

    def learn_steps(extra: str):
        cfg_file = tmp_path / "run.yaml"
        cfg_file.write_text("base: smoke\nmethods: [ga]\n" + extra)
        cfg = load_run_config(None, cfg_file)
        p = Pipeline(cfg, tmp_path / "out", log=lambda m: None)
        v = cfg.variants()[0]
        return [p.learn_step(tmp_path / "data", "k", s, v) for s in (cfg.learn.full_split, cfg.learn.retain_split)]

    off = learn_steps("")
    on = learn_steps("learn:\n  visual_keep: 8\n  visual_keep_weight: 2.0\n")
    assert all("visual_keep" not in s.config for s in off)  # runs without it keep their cache
    assert all(s.config["visual_keep"] == 8 and s.config["visual_keep_weight"] == 2.0 for s in on)
    assert all(a.key != b.key for a, b in zip(off, on, strict=True))
    assert all(s.fn.keywords["visual_keep"] == 8 for s in on)
    assert all("visual_keep_captions" not in s.config for s in on)  # keep runs without it keep their cache
    described = learn_steps("learn:\n  visual_keep: 8\n  visual_keep_weight: 2.0\n  visual_keep_captions: 3\n")
    assert all(s.config["visual_keep_captions"] == 3 and s.fn.keywords["visual_keep_captions"] == 3 for s in described)
    assert all(a.key != b.key for a, b in zip(on, described, strict=True))
    with pytest.raises(ConfigError, match="run.learn.visual_keep_captions: needs visual_keep > 0"):
        learn_steps("learn:\n  visual_keep_captions: 3\n")
    assert all("visual_keep_open" not in s.config for s in on)  # likewise for the open questions
    opened = learn_steps("learn:\n  visual_keep: 8\n  visual_keep_weight: 2.0\n  visual_keep_open: 6\n")
    assert all(s.config["visual_keep_open"] == 6 and s.fn.keywords["visual_keep_open"] == 6 for s in opened)
    assert all(a.key != b.key for a, b in zip(on, opened, strict=True))
    pooled = learn_steps("learn:\n  visual_keep: 8\n  visual_keep_faces: 2000\n")
    assert all(s.config["visual_keep_faces"] == 2000 and s.fn.keywords["visual_keep_faces"] == 2000 for s in pooled)
    assert all("visual_keep_faces" not in s.config for s in on + opened)
    with pytest.raises(ConfigError, match="run.learn.visual_keep_open: must be >= 0"):
        learn_steps("learn:\n  visual_keep: 8\n  visual_keep_open: -2\n")
