"""Train the embedded tiny base VLM from scratch: it can see, and knows nobody.

The FIUBench protocol starts from a *pretrained* VLM that cannot know the fictitious
people (its judge score before stage 1 is ~0). The tiny base reproduces that: it is
trained only on visual-attribute questions (open and POPE-style yes/no) about a
separate pool of procedural faces, drawn from a seed space the benchmark never uses
(``random.Random("fiubench-base:<seed>")`` vs the dataset's ``"faces:<seed>"``), and
learns to end every answer with the end-of-turn token.

Loss: answer-only next-token cross-entropy (``batch_nll``); AdamW (betas 0.9/0.98,
wd 0.01), linear warm-up (5 %) then cosine decay, gradient clipping at 1.0
(the settings measured to work for ~1 M-parameter models, measured.md).

Reported: exact-match accuracy of greedy answers on *unseen* procedural faces (open
questions and yes/no, with chance levels), and, on benchmark faces, multiple-choice
accuracy on identity questions (true answer vs its 3 perturbed answers, by mean
answer log-prob; chance 0.25) plus keyword exact match of greedy answers.
"""

from __future__ import annotations

import hashlib
import math
import random
import re
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from fiubench.errors import ConfigError
from fiubench.models.logprobs import IGNORE_INDEX, batch_nll, mean_nll

BASE_SEED_SPACE = "fiubench-base"


@dataclass
class BaseBuildConfig:
    """Options of ``fiubench base build``."""

    seed: int = 0
    steps: int = 700
    batch_size: int = 32
    lr: float = 1e-3
    warmup_fraction: float = 0.05
    n_faces: int = 800  # training pool of procedural faces
    n_eval_faces: int = 50  # unseen faces for the visual accuracy
    n_identity_people: int = 20  # benchmark identities for the identity check
    lm_hidden: int = 128
    lm_layers: int = 2
    vision_hidden: int = 64
    vision_layers: int = 2
    eval_batch_size: int = 64
    caption_fraction: float = 0.5  # share of each batch that is dense descriptions
    threads: int = 1  # torch CPU threads while building: 1 is reproducible and, on a busy
    # 2-core machine, ~20x faster than 2 (measured: 3.8 vs 0.17 steps/s under load)
    evaluate: bool = True

    def validate(self) -> None:
        for name in ("steps", "batch_size", "n_faces", "n_eval_faces", "eval_batch_size", "threads"):
            if getattr(self, name) < 1:
                raise ConfigError(f"base.{name}: must be >= 1, got {getattr(self, name)}")
        if not 0 < self.lr < 1:
            raise ConfigError(f"base.lr: must be in (0, 1), got {self.lr}")
        if not 0 <= self.caption_fraction < 1:
            raise ConfigError(f"base.caption_fraction: must be in [0, 1), got {self.caption_fraction}")
        if self.evaluate and self.n_identity_people < 5:
            raise ConfigError(f"base.n_identity_people: need >= 5 (forget/retain splits), got {self.n_identity_people}")


def _face_seed(seed: int, split: str, i: int) -> int:
    h = hashlib.sha256(f"{BASE_SEED_SPACE}:{seed}:{split}:{i}".encode()).digest()
    return int.from_bytes(h[:8], "big")


def procedural_pool(seed: int, split: str, n: int) -> list[tuple[Any, list[Any], Any]]:
    """``n`` (face image, visual QA items, attributes) from the base's own seed space."""
    from fiubench.data.faces import render_face, sample_attributes
    from fiubench.data.visual import visual_questions

    rng = random.Random(f"{BASE_SEED_SPACE}:{seed}:{split}")
    out = []
    for i in range(n):
        attrs = sample_attributes(rng)
        img = render_face(attrs, size=64, seed=_face_seed(seed, split, i))
        out.append((img, visual_questions(attrs, rng), attrs))
    return out


DESCRIBE_QUESTION = "Describe the person in the image."


def describe(attrs: Any) -> str:
    """A dense description of every visible attribute (the alignment-caption target).

    Like LLaVA's feature-alignment stage (image -> caption), it puts one visual fact in
    every few answer tokens, so the vision tower gets far more signal per example than
    from a one-fact QA answer.
    """
    hair = "bald" if attrs.hair_style == "bald" else f"{attrs.hair_style} {attrs.hair_color} hair"
    return (
        f"A {attrs.age_group} person with {attrs.skin_tone} skin, a {attrs.face_shape} face, {hair}, "
        f"{attrs.eye_color} eyes, {attrs.mouth} mouth, facial hair: {attrs.facial_hair}, "
        f"glasses: {attrs.glasses}, headwear: {attrs.headwear}, a {attrs.clothing} shirt, "
        f"on a {attrs.background} background."
    )


def _encode(vlm: Any, examples: list[tuple[Any, str, str]], chunk: int = 256) -> list[dict[str, torch.Tensor]]:
    """Pre-encode (image, q, a) once: per-example unpadded ids/labels + pixel values."""
    rows: list[dict[str, torch.Tensor]] = []
    for start in range(0, len(examples), chunk):
        b = vlm.train_batch(examples[start:start + chunk])
        for i in range(b["input_ids"].shape[0]):
            n = int(b["attention_mask"][i].sum())
            rows.append({"input_ids": b["input_ids"][i, :n], "labels": b["labels"][i, :n],
                         "pixel_values": b["pixel_values"][i]})
    return rows


def _collate(rows: list[dict[str, torch.Tensor]], pad_id: int) -> dict[str, torch.Tensor]:
    n = max(r["input_ids"].numel() for r in rows)
    ids = torch.full((len(rows), n), pad_id, dtype=torch.long)
    labels = torch.full((len(rows), n), IGNORE_INDEX, dtype=torch.long)
    mask = torch.zeros((len(rows), n), dtype=torch.long)
    for i, r in enumerate(rows):
        k = r["input_ids"].numel()
        ids[i, :k], labels[i, :k], mask[i, :k] = r["input_ids"], r["labels"], 1
    return {"input_ids": ids, "attention_mask": mask, "labels": labels,
            "pixel_values": torch.stack([r["pixel_values"] for r in rows])}


def _norm(s: str) -> str:
    return re.sub(r"[^a-z0-9 ]+", "", s.lower()).strip()


def train_base(cfg: BaseBuildConfig, out_dir: Path, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Train the tiny base into ``out_dir`` (a checkpoint ``load_vlm`` reads); return metrics.

    Uses ``cfg.threads`` torch threads for its duration (restored afterwards).
    """
    previous = torch.get_num_threads()
    torch.set_num_threads(cfg.threads)
    try:
        return _train_base(cfg, Path(out_dir), log)
    finally:
        torch.set_num_threads(previous)


def _train_base(cfg: BaseBuildConfig, out_dir: Path, log: Callable[[str], None]) -> dict[str, Any]:
    from fiubench.models import ModelConfig, load_vlm
    from fiubench.models.tiny import build_processor, build_random_model
    from fiubench.models.vlm import FORMAT, META_FILE
    from fiubench.utils.io import atomic_write_json

    cfg.validate()
    t0 = time.time()
    torch.manual_seed(cfg.seed)
    processor = build_processor()
    model = build_random_model(cfg.seed, processor.tokenizer, lm_hidden=cfg.lm_hidden, lm_layers=cfg.lm_layers,
                               vision_hidden=cfg.vision_hidden, vision_layers=cfg.vision_layers)
    with tempfile.TemporaryDirectory() as tmp:
        model.save_pretrained(tmp)
        processor.save_pretrained(tmp)
        atomic_write_json(Path(tmp) / META_FILE, {"format": FORMAT, "family": "tiny", "kind": "full",
                                                  "base": "scratch"})
        # Vision tower trained too: the base must learn to see. Its post_layernorm is
        # unused with vision_feature_layer=-1 (no gradient): frozen.
        from fiubench.models import TuningScope

        vlm = load_vlm(ModelConfig(name_or_path=tmp, device="cpu",
                                   scope=TuningScope(vision=True, projector=True, language=True)))
    for n, p in vlm.model.named_parameters():
        if "post_layernorm" in n:
            p.requires_grad_(False)

    pool = procedural_pool(cfg.seed, "train", cfg.n_faces)
    examples = [(img, it.question, it.answer) for img, items, _ in pool for it in items]
    rows = _encode(vlm, examples)
    captions = _encode(vlm, [(img, DESCRIBE_QUESTION, describe(attrs)) for img, _, attrs in pool])
    n_cap = round(cfg.caption_fraction * cfg.batch_size)
    log(f"base: {cfg.n_faces} training faces, {len(rows)} visual QA + {len(captions)} descriptions, "
        f"{vlm.trainable_parameters()[1] / 1e6:.2f} M parameters (encoded in {time.time() - t0:.1f} s)")

    model = vlm.model
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=cfg.lr, betas=(0.9, 0.98), weight_decay=0.01)
    warm = max(1, int(cfg.warmup_fraction * cfg.steps))

    def lr_at(step: int) -> float:
        if step < warm:
            return (step + 1) / warm
        return 0.5 * (1 + math.cos(math.pi * (step - warm) / max(1, cfg.steps - warm)))

    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_at)
    gen = torch.Generator().manual_seed(cfg.seed)
    order = torch.randperm(len(rows), generator=gen).tolist()
    cap_order = torch.randperm(len(captions), generator=gen).tolist()
    pos = cap_pos = 0
    model.train()
    t_train = time.time()
    pad = vlm.pad_token_id
    loss_ema = None
    for step in range(cfg.steps):
        n_qa = cfg.batch_size - n_cap
        if pos + n_qa > len(order):
            order, pos = torch.randperm(len(rows), generator=gen).tolist(), 0
        if cap_pos + n_cap > len(cap_order):
            cap_order, cap_pos = torch.randperm(len(captions), generator=gen).tolist(), 0
        picked = [rows[i] for i in order[pos:pos + n_qa]] + [captions[i] for i in cap_order[cap_pos:cap_pos + n_cap]]
        pos += n_qa
        cap_pos += n_cap
        batch = _collate(picked, pad)
        loss = batch_nll(vlm.forward(batch), batch["labels"])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        sched.step()
        loss_ema = loss.item() if loss_ema is None else 0.95 * loss_ema + 0.05 * loss.item()
        if (step + 1) % max(1, cfg.steps // 10) == 0 or step + 1 == cfg.steps:
            log(f"base: step {step + 1}/{cfg.steps} loss {loss_ema:.3f} ({time.time() - t_train:.0f} s)")
    train_s = time.time() - t_train
    model.eval()

    metrics: dict[str, Any] = {"train_seconds": round(train_s, 1), "train_examples": len(rows),
                               "final_loss": round(float(loss_ema or 0.0), 4)}
    if cfg.evaluate:
        metrics.update(evaluate_visual(vlm, cfg))
        metrics.update(evaluate_identity(vlm, cfg))

    vlm.config.scope = TuningScope()  # what a user of the base trains by default
    vlm.base = "scratch"
    vlm.save(out_dir)
    meta_path = Path(out_dir) / META_FILE
    import json

    meta = json.loads(meta_path.read_text())
    meta["base"] = f"scratch (fiubench base build, seed {cfg.seed})"
    atomic_write_json(meta_path, meta)
    return metrics


@torch.no_grad()
def evaluate_visual(vlm: Any, cfg: BaseBuildConfig) -> dict[str, Any]:
    """Greedy exact match on unseen procedural faces, open and yes/no, with chance."""
    from fiubench.data.faces import ATTRIBUTE_VALUES

    pool = procedural_pool(cfg.seed, "eval", cfg.n_eval_faces)
    items = [(img, it) for img, its, _ in pool for it in its]
    correct = {"open": 0, "yesno": 0}
    total = {"open": 0, "yesno": 0}
    chance_open = 0.0
    stops = 0
    for s in range(0, len(items), cfg.eval_batch_size):
        chunk = items[s:s + cfg.eval_batch_size]
        outs = vlm.generate([c[0] for c in chunk], [c[1].question for c in chunk], max_new_tokens=24)
        for (_, it), out in zip(chunk, outs, strict=True):
            total[it.kind] += 1
            correct[it.kind] += _norm(out) == _norm(it.answer)
            stops += len(vlm.tokenizer(out)["input_ids"]) < 24
            if it.kind == "open":
                vals = [v for v in ATTRIBUTE_VALUES[it.attribute] if v != "none" or it.attribute != "hair_color"]
                chance_open += 1 / len(vals)
    return {
        "visual_open_accuracy": round(correct["open"] / max(1, total["open"]), 4),
        "visual_open_chance": round(chance_open / max(1, total["open"]), 4),
        "visual_yesno_accuracy": round(correct["yesno"] / max(1, total["yesno"]), 4),
        "visual_yesno_chance": 0.5,
        "visual_questions": total["open"] + total["yesno"],
        "stopped_before_limit": round(stops / max(1, len(items)), 4),
    }


@torch.no_grad()
def evaluate_identity(vlm: Any, cfg: BaseBuildConfig) -> dict[str, Any]:
    """On benchmark faces: does the base know anyone? (It must not.)"""
    from fiubench.data.build import DataConfig, build_dataset
    from fiubench.models.images import load_image

    with tempfile.TemporaryDirectory() as tmp:
        root = build_dataset(DataConfig(n_identities=cfg.n_identity_people, qa_per_identity=5, seed=0,
                                        holdout_fraction=0.0),
                             Path(tmp) / "bench")
        import json

        people = [json.loads(line) for line in (root / "full.json").read_text().splitlines() if line.strip()]
        mc_correct = mc_total = 0
        kw_scores: list[float] = []
        for person in people:
            img = load_image(root / person["image_path"])
            qas = person["qa_list"]
            for qa in qas:
                options = [qa["answer"], *qa["perturbed_answer"]]
                batch = vlm.train_batch([(img, qa["question"], o) for o in options])
                nll = mean_nll(vlm.forward(batch), batch["labels"])
                mc_correct += int(nll.argmin().item() == 0)
                mc_total += 1
            outs = vlm.generate([img] * len(qas), [qa["question"] for qa in qas], max_new_tokens=32)
            for qa, out in zip(qas, outs, strict=True):
                kws = qa["keywords"] or [qa["answer"]]
                kw_scores.append(sum(k.lower() in out.lower() for k in kws) / len(kws))
    return {
        "identity_mc_accuracy": round(mc_correct / max(1, mc_total), 4),
        "identity_mc_chance": 0.25,
        "identity_keyword_em": round(sum(kw_scores) / max(1, len(kw_scores)), 4),
        "identity_questions": mc_total,
    }
