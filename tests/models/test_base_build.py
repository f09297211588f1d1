"""`fiubench base build`: runs, is deterministic, writes a loadable tiny checkpoint."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file

from fiubench.models import ModelConfig, load_vlm
from fiubench.models.loading import tiny_base_dir
from fiubench.tiny.build import train_base
from fiubench.tiny.config import BaseBuildConfig
from fiubench.tiny.pools import procedural_pool

SMALL = dict(steps=2, batch_size=4, n_faces=3, evaluate=False, vision_steps=2, vision_faces=4, vision_batch_size=4)


def _weights(d):
    return load_file(str(d / "model.safetensors"))


def test_same_seed_same_weights(tmp_path):
    train_base(BaseBuildConfig(seed=3, **SMALL), tmp_path / "a", log=lambda s: None)
    train_base(BaseBuildConfig(seed=3, **SMALL), tmp_path / "b", log=lambda s: None)
    train_base(BaseBuildConfig(seed=4, **SMALL), tmp_path / "c", log=lambda s: None)
    a, b, c = _weights(tmp_path / "a"), _weights(tmp_path / "b"), _weights(tmp_path / "c")
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert any(not torch.equal(a[k], c[k]) for k in a)
    vlm = load_vlm(ModelConfig(name_or_path=str(tmp_path / "a")))
    assert vlm.family.name == "tiny"
    meta = json.loads((tmp_path / "a" / "fiubench_model.json").read_text())
    assert meta["kind"] == "full" and "scratch" in meta["base"]


def test_pool_is_not_the_benchmark_faces():
    """The base's faces come from their own seed space: none equals a benchmark face."""
    import random

    from fiubench.data.build import hash_seed
    from fiubench.data.faces import render_face, sample_attributes

    rng = random.Random("faces:0")  # the dataset builder's stream (seed 0)
    bench = [render_face(sample_attributes(rng), 64, hash_seed(0, f"{i + 1:08d}")).tobytes() for i in range(5)]
    pool = [img.tobytes() for img, _, _ in procedural_pool(0, "train", 5)]
    assert not set(bench) & set(pool)
    # and the training and evaluation pools differ
    assert not set(pool) & {img.tobytes() for img, _, _ in procedural_pool(0, "eval", 5)}


@pytest.mark.slow
def test_cli_runs_and_reports(tmp_path, capsys):
    from fiubench.cli.main import main

    out = tmp_path / "base"
    rc = main(["base", "build", "--out", str(out), "--steps", "2", "--faces", "3", "--eval-faces", "2",
               "--identity-people", "5", "--batch-size", "4", "--vision-steps", "2", "--vision-faces", "4"])
    assert rc == 0
    text = capsys.readouterr().out
    assert "chance" in text and "multiple choice" in text
    record = json.loads((out / "base_build.json").read_text())
    assert 0 <= record["metrics"]["identity_mc_accuracy"] <= 1
    assert record["provenance"]["seed"] == 0
    assert main(["base", "build", "--out", str(out)]) == 2  # exists: refused, not overwritten


@pytest.mark.skipif(not (tiny_base_dir() / "config.json").is_file(), reason="tiny base not installed")
def test_shipped_base_loads_and_stops():
    """The shipped base answers visual questions and ends its answers itself."""
    vlm = load_vlm(ModelConfig())  # "tiny"
    items = [(img, it) for img, its, _ in procedural_pool(99, "eval", 3) for it in its if it.kind == "yesno"]
    outs = vlm.generate([i for i, _ in items], [it.question for _, it in items], max_new_tokens=8)
    assert all(o in ("Yes.", "No.") for o in outs), outs


def test_contrastive_curriculum_is_balanced():
    """Per attribute: as many "Yes." as "No." questions, the negatives name another value
    of the same attribute, and every choice question names the true value."""
    import random

    from fiubench.data.faces import ATTRIBUTE_VALUES, sample_attributes
    from fiubench.data.visual import contrastive_questions, visible_attributes

    rng = random.Random(0)
    for _ in range(30):
        attrs = sample_attributes(rng)
        items = contrastive_questions(attrs, rng, pairs=2)
        for a in visible_attributes(attrs):
            yn = [it for it in items if it.attribute == a and it.kind == "yesno"]
            assert sum(it.answer == "Yes." for it in yn) == sum(it.answer == "No." for it in yn) == 2
            true = getattr(attrs, a)
            choice = [it for it in items if it.attribute == a and it.kind == "choice"]
            assert len(choice) == 1
            named = [v for v in ATTRIBUTE_VALUES[a] if v != "none" and v in choice[0].question]
            assert true == "none" or true in named


def test_one_word_answers_put_the_value_at_the_first_answer_token():
    """short=True: one-word open and choice answers whose first answer token is the value's
    own whole-word token (never the token of "Yes."/"No."), for every attribute and value."""
    import random

    from PIL import Image

    from fiubench.data.faces import sample_attributes
    from fiubench.data.visual import ONE_WORD, contrastive_questions, visible_attributes
    from fiubench.models.logprobs import IGNORE_INDEX

    vlm = load_vlm(ModelConfig())
    tok = vlm.tokenizer
    decision = {tok.tokenize("Yes.")[0], tok.tokenize("No.")[0]}
    rng = random.Random(0)
    img = Image.new("RGB", (64, 64))
    short: list = []
    for _ in range(40):
        attrs = sample_attributes(rng)
        items = contrastive_questions(attrs, rng, short=True)
        plain = contrastive_questions(attrs, random.Random(1), short=False)
        one = [it for it in items if it.question.endswith(ONE_WORD)]
        assert len(one) == 2 * len(visible_attributes(attrs))  # one open + one choice per attribute
        assert not any(it.question.endswith(ONE_WORD) for it in plain)
        short += one
    batch = vlm.train_batch([(img, it.question, it.answer) for it in short])
    for it, labels in zip(short, batch["labels"], strict=True):
        first = tok.convert_ids_to_tokens(labels[labels != IGNORE_INDEX].tolist())[0]
        assert first not in decision, it
        word = first.removeprefix("Ġ")  # a word-initial token, not a piece of one
        assert first.startswith("Ġ") and word and it.answer.strip(" .").startswith(word), (it, first)


def test_stated_pairs_state_the_true_value_then_ask_the_balanced_pair():
    """stated=True: each yes/no pair again behind the statement of the true value, so the
    answer is the same/different of two words in the text (and still true of the face)."""
    import random

    from fiubench.data.faces import sample_attributes
    from fiubench.data.visual import _statement, contrastive_questions

    rng = random.Random(3)
    for _ in range(30):
        attrs = sample_attributes(rng)
        items = contrastive_questions(attrs, rng, pairs=2, stated=True)
        yesno = [it for it in items if it.kind == "yesno"]
        stated = [it for it in items if it.kind == "stated"]
        assert len(stated) == len(yesno)
        for plain, it in zip(yesno, stated, strict=True):
            said = _statement(it.attribute, getattr(attrs, it.attribute))
            assert it.question == f"{said} {plain.question}" and it.answer == plain.answer
        assert not any(it.kind == "stated" for it in contrastive_questions(attrs, rng, pairs=2))


def test_schedule_is_warmup_then_cosine_for_any_length():
    """Every stage's schedule, by hand; short stages (< 20 steps) used to divide by zero."""
    import math

    from fiubench.tiny.stages import warmup_cosine

    def lrs(steps, warm):
        opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
        sched = warmup_cosine(opt, steps, warm)
        out = []
        for _ in range(steps):
            out.append(opt.param_groups[0]["lr"])
            opt.step()
            sched.step()
        return out

    assert lrs(1, 0.05) == [1.0]
    got = lrs(5, 0.05)  # one warm-up step, then cosine over the 4 left
    want = [1.0] + [0.5 * (1 + math.cos(math.pi * k / 4)) for k in range(4)]
    assert got == pytest.approx(want)
    got = lrs(10, 0.2)  # two warm-up steps: 1/2, 1
    assert got[:3] == pytest.approx([0.5, 1.0, 1.0])


def test_stage_a_alone_and_the_build_options(tmp_path):
    """--steps 0 with vision steps trains only the tower (a checkpoint to --init from);
    with neither, or a GPU that is not there, the build refuses before any work."""
    from fiubench.errors import ConfigError

    cfg = BaseBuildConfig(steps=0, vision_steps=3, vision_faces=4, vision_batch_size=4, n_faces=3,
                          evaluate=False)
    train_base(cfg, tmp_path / "a", log=lambda s: None)
    fresh = BaseBuildConfig(seed=0, steps=0, vision_steps=0, init=str(tmp_path / "a"), evaluate=False)
    fresh.validate()
    a = _weights(tmp_path / "a")
    # the tower moved from its random initialisation, nothing else did
    train_base(BaseBuildConfig(steps=0, vision_steps=0, init=str(tmp_path / "a"), evaluate=False, distil_steps=0),
               tmp_path / "b", log=lambda s: None)
    b = _weights(tmp_path / "b")
    assert all(torch.equal(a[k], b[k]) for k in a)
    with pytest.raises(ConfigError, match="base.steps"):
        BaseBuildConfig(steps=0).validate()
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="base.device"):
            BaseBuildConfig(device="cuda").validate()
    with pytest.raises(ConfigError, match="base.device"):
        BaseBuildConfig(device="tpu").validate()
    with pytest.raises(ConfigError, match="base.vision_hidden"):
        BaseBuildConfig(vision_hidden=0).validate()


def test_visual_accuracy_is_broken_down_per_attribute(tmp_path):
    """The per-attribute cells add up to the overall open and yes/no accuracy."""
    from fiubench.tiny.evaluate import evaluate_visual

    cfg = BaseBuildConfig(n_eval_faces=3, eval_batch_size=16)
    m = evaluate_visual(load_vlm(ModelConfig(name_or_path=str(tiny_base_dir()))), cfg)
    cells = m["visual_accuracy_by_attribute"]
    pool = procedural_pool(cfg.seed, "eval", cfg.n_eval_faces)
    for kind in ("open", "yesno"):
        counts = {}
        for _, items, _ in pool:
            for it in items:
                if it.kind == kind:
                    counts[it.attribute] = counts.get(it.attribute, 0) + 1
        total = sum(counts.values())
        assert set(k.split(":")[1] for k in cells if k.startswith(kind)) == set(counts)
        overall = sum(cells[f"{kind}:{a}"] * n for a, n in counts.items()) / total
        assert overall == pytest.approx(m[f"visual_{kind}_accuracy"], abs=2e-4 * len(counts))


def test_visual_accuracy_asks_the_given_faces():
    """``pool=``: the questions of those faces are asked, not the evaluation faces'."""
    from fiubench.data.visual import VisualItem
    from fiubench.tiny.evaluate import evaluate_visual

    vlm = load_vlm(ModelConfig(name_or_path=str(tiny_base_dir())))
    img, _, attrs = procedural_pool(0, "train", 1)[0]
    said = vlm.generate([img], ["What color is the background of the image?"], max_new_tokens=24)[0]
    right = VisualItem("What color is the background of the image?", said, "open", "background")
    wrong = VisualItem("What color is the background of the image?", said + " not", "open", "background")
    m = evaluate_visual(vlm, BaseBuildConfig(n_eval_faces=50), pool=[(img, [right, wrong], attrs)])
    assert m["visual_questions"] == 2 and m["visual_open_accuracy"] == 0.5
    assert m["visual_accuracy_by_attribute"] == {"open:background": 0.5}


def test_full_vision_features_hand_cls_to_the_language_model(tmp_path):
    """--vision-features full: the checkpoint's LLaVA reads CLS + 16 patches (17 image
    tokens in the prompt and as many features), stage A trains and reports heads on CLS
    alone, and the build answers and stops like any other."""
    from fiubench.errors import ConfigError
    from fiubench.tiny.stages import pretrain_vision

    cfg = BaseBuildConfig(**{**SMALL, "vision_features": "full"})
    train_base(cfg, tmp_path / "f", log=lambda s: None)
    vlm = load_vlm(ModelConfig(name_or_path=str(tmp_path / "f")))
    assert vlm.model.config.vision_feature_select_strategy == "full"
    img = procedural_pool(0, "eval", 1)[0][0]
    enc = vlm.processor(images=[img], text=["<image>\nWhat colour is the background?"], return_tensors="pt")
    image_id = vlm.model.config.image_token_id
    assert int((enc["input_ids"] == image_id).sum()) == 17
    # LLaVA refuses a prompt whose image tokens are not as many as the image's features
    assert len(vlm.generate([img], ["What colour is the background of the image?"], max_new_tokens=4)) == 1
    m = pretrain_vision(vlm, BaseBuildConfig(**{**SMALL, "vision_features": "full"}), log=lambda s: None)
    assert set(m["vision_cls_attribute_accuracy"]) == set(m["vision_attribute_accuracy"])
    # the default build has no CLS heads and 16 image tokens
    train_base(BaseBuildConfig(**SMALL), tmp_path / "d", log=lambda s: None)
    d = load_vlm(ModelConfig(name_or_path=str(tmp_path / "d")))
    assert "vision_cls_attribute_accuracy" not in pretrain_vision(d, BaseBuildConfig(**SMALL), log=lambda s: None)
    enc = d.processor(images=[img], text=["<image>\nWhat colour is the background?"], return_tensors="pt")
    assert int((enc["input_ids"] == image_id).sum()) == 16
    with pytest.raises(ConfigError, match="base.vision_features"):
        BaseBuildConfig(vision_features="cls").validate()


def test_a_failing_evaluation_keeps_the_trained_checkpoint(tmp_path, monkeypatch):
    """The checkpoint is written before the build evaluates it: an evaluation that
    raises (a build lost this way: 67 min of training) leaves a loadable base."""
    import fiubench.tiny.build as bb

    def boom(vlm, cfg):
        raise RuntimeError("evaluation failed")

    monkeypatch.setattr(bb, "evaluate_visual", boom)
    with pytest.raises(RuntimeError, match="evaluation failed"):
        train_base(BaseBuildConfig(**{**SMALL, "evaluate": True}), tmp_path / "b", log=lambda s: None)
    assert load_vlm(ModelConfig(name_or_path=str(tmp_path / "b"))).generate(
        [procedural_pool(0, "eval", 1)[0][0]], ["What colour is the background of the image?"], max_new_tokens=2)


def test_vision_patch_and_lm_heads_reach_the_saved_checkpoint(tmp_path):
    """--vision-patch 8: the saved checkpoint's tower and processor agree on 64 patch
    tokens (+ CLS with "full"), so a prompt's image tokens match the features and the
    build answers; --lm-heads 8 gives the language model 8 heads. A patch size that does
    not divide the 64 px image, or heads that do not divide the width, are refused."""
    from fiubench.errors import ConfigError

    train_base(BaseBuildConfig(**{**SMALL, "vision_patch": 8, "vision_features": "full", "lm_heads": 8}),
               tmp_path / "p8", log=lambda s: None)
    vlm = load_vlm(ModelConfig(name_or_path=str(tmp_path / "p8")))
    assert vlm.model.config.vision_config.patch_size == 8
    assert vlm.model.config.text_config.num_attention_heads == 8
    img = procedural_pool(0, "eval", 1)[0][0]
    enc = vlm.processor(images=[img], text=["<image>\nWhat colour is the background?"], return_tensors="pt")
    assert int((enc["input_ids"] == vlm.model.config.image_token_id).sum()) == 65
    assert len(vlm.generate([img], ["What colour is the background of the image?"], max_new_tokens=4)) == 1
    with pytest.raises(ConfigError, match="base.vision_patch"):
        BaseBuildConfig(vision_patch=12).validate()
    with pytest.raises(ConfigError, match="base.lm_heads"):
        BaseBuildConfig(lm_heads=3).validate()


def test_encoded_rows_share_each_images_pixels():
    """``encode_rows`` gives the rows of one image one pixel tensor (stage C's pool memory),
    with the values a row-by-row encoding gives."""
    from fiubench.tiny.pools import encode_rows, procedural_pool

    vlm = load_vlm(ModelConfig(name_or_path=str(tiny_base_dir())))
    (a, _, _), (b, _, _) = procedural_pool(0, "train", 2)
    ex = [(a, "What is the background?", "Blue."), (b, "Is the hair black?", "No."),
          (a, "Is the hair black?", "Yes."), (b, "What colour are the eyes?", "Green.")]
    rows = encode_rows(vlm, ex, chunk=3)  # the shared tensor crosses a chunk boundary too
    assert rows[0]["pixel_values"] is rows[2]["pixel_values"]
    assert rows[1]["pixel_values"] is rows[3]["pixel_values"]
    assert not torch.equal(rows[0]["pixel_values"], rows[1]["pixel_values"])
    for r, e in zip(rows, ex, strict=True):
        one = encode_rows(vlm, [e])[0]
        assert torch.equal(r["pixel_values"], one["pixel_values"])
        assert torch.equal(r["input_ids"], one["input_ids"]) and torch.equal(r["labels"], one["labels"])
