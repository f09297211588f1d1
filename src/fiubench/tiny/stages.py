"""Stages A and B of the tiny base build, and the optimiser every stage shares.

A (``pretrain_vision``): the vision tower learns every face attribute by
classification; B (``stage_b``): visual instruction tuning of projector + language
model. Stage C is ``fiubench.tiny.distil``; the recipe and its measurements are in
``fiubench.tiny.build``.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable
from typing import Any

import torch

from fiubench.models.logprobs import batch_nll, mean_nll
from fiubench.tiny.config import BaseBuildConfig
from fiubench.tiny.pools import collate_rows, description_rows, encode_rows, procedural_pool


def curriculum(cfg: BaseBuildConfig) -> Callable[[Any, random.Random], list[Any]] | None:
    """What stage B asks about each training face (None: the benchmark's own visual QA mix)."""
    if cfg.curriculum == "benchmark":
        return None
    from fiubench.data.visual import contrastive_questions

    return lambda attrs, rng: contrastive_questions(attrs, rng, pairs=cfg.yesno_pairs, short=cfg.short_answers,
                                                     stated=cfg.stated_pairs)


def stage_b(vlm: Any, cfg: BaseBuildConfig, log: Callable[[str], None]) -> dict[str, Any]:
    """Stage B: visual instruction tuning of what is trainable on the curriculum + descriptions."""
    t0 = time.time()
    pool = procedural_pool(cfg.seed, "train", cfg.n_faces, questions=curriculum(cfg))
    examples = [(img, it.question, it.answer) for img, items, _ in pool for it in items]
    rows = encode_rows(vlm, examples)
    captions = description_rows(vlm, pool)
    n_cap = round(cfg.caption_fraction * cfg.batch_size)
    log(f"base: {cfg.n_faces} training faces, {len(rows)} visual QA + {len(captions)} descriptions, "
        f"{vlm.trainable_parameters()[1] / 1e6:.2f} M parameters (encoded in {time.time() - t0:.1f} s)")

    model = vlm.model
    params = [p for p in model.parameters() if p.requires_grad]
    opt, sched = optimizer(params, cfg.lr, cfg.steps, cfg.warmup_fraction)
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
        batch = vlm.to_device(collate_rows(picked, pad))
        logits = vlm.forward(batch)
        loss = batch_nll(logits, batch["labels"]) if cfg.loss == "token" else mean_nll(logits, batch["labels"]).mean()
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
    return {"train_seconds": round(train_s, 1), "train_examples": len(rows),
            "final_loss": round(float(loss_ema or 0.0), 4)}


def optimizer(params: list[torch.nn.Parameter], lr: float, steps: int, warmup_fraction: float) -> tuple[Any, Any]:
    """AdamW (betas 0.9/0.98, wd 0.01) and its ``warmup_cosine`` schedule: every stage's."""
    opt = torch.optim.AdamW(params, lr=lr, betas=(0.9, 0.98), weight_decay=0.01)
    return opt, warmup_cosine(opt, steps, warmup_fraction)


def warmup_cosine(opt: torch.optim.Optimizer, steps: int, warmup_fraction: float) -> Any:
    """Linear warm-up over ``warmup_fraction`` of ``steps`` (at least one step), then
    cosine decay towards 0: the schedule of every base-build stage, valid for any ``steps``."""
    warm = max(1, int(warmup_fraction * steps))

    def lr_at(step: int) -> float:
        if step < warm:
            return (step + 1) / warm
        return 0.5 * (1 + math.cos(math.pi * (step - warm) / max(1, steps - warm)))

    return torch.optim.lr_scheduler.LambdaLR(opt, lr_at)


def vision_tower(model: Any) -> Any:
    inner = getattr(model, "model", model)
    return getattr(inner, "vision_tower", None) or model.vision_tower


def pretrain_vision(vlm: Any, cfg: BaseBuildConfig, log: Callable[[str], None]) -> dict[str, Any]:
    """Stage A: attribute classification on the vision tower's patch features.

    Heads: one linear layer per attribute of ``ATTRIBUTE_VALUES`` over the flattened
    last-layer patch features (CLS dropped: what LLaVA's projector reads with
    ``vision_feature_layer=-1`` and the "default" strategy); discarded afterwards.
    Cross-entropy summed over attributes; AdamW, warm-up then cosine decay. Returns the
    held-out per-attribute accuracy (unseen faces).
    """
    from fiubench.data.faces import ATTRIBUTE_VALUES

    t0 = time.time()
    tower = vision_tower(vlm.model)
    proc = vlm.processor.image_processor

    def encode(split: str, n: int) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        pool = procedural_pool(cfg.seed, split, n, questions=lambda attrs, rng: [])
        px = proc([p[0] for p in pool], return_tensors="pt")["pixel_values"]
        ys = {a: torch.tensor([vals.index(getattr(p[2], a)) for p in pool]) for a, vals in ATTRIBUTE_VALUES.items()}
        return px, ys

    x_tr, y_tr = encode("vision", cfg.vision_faces)
    x_ev, y_ev = encode("vision-eval", min(300, cfg.vision_faces))

    # The CLS token gets heads of its own only when the language model reads it.
    with_cls = vlm.model.config.vision_feature_select_strategy == "full"

    def features(x: torch.Tensor) -> torch.Tensor:
        """[CLS | flattened patches] of the last layer (CLS dropped when not read)."""
        h = tower(pixel_values=x, output_hidden_states=True).hidden_states[-1]
        return torch.cat([h[:, 0], h[:, 1:].flatten(1)], 1) if with_cls else h[:, 1:].flatten(1)

    device = vlm.device
    x_tr, x_ev = x_tr.to(device), x_ev.to(device)
    y_tr = {a: y.to(device) for a, y in y_tr.items()}
    y_ev = {a: y.to(device) for a, y in y_ev.items()}
    width = vision_tower(vlm.model).config.hidden_size
    dim = features(x_tr[:1]).shape[1] - (width if with_cls else 0)
    heads = torch.nn.ModuleDict({a: torch.nn.Linear(dim, len(v)) for a, v in ATTRIBUTE_VALUES.items()}).to(device)
    cls_heads = torch.nn.ModuleDict(
        {a: torch.nn.Linear(width, len(v)) for a, v in ATTRIBUTE_VALUES.items()} if with_cls else {}).to(device)

    def logits(f: torch.Tensor) -> dict[str, list[torch.Tensor]]:
        """Per attribute: the patch heads' logits, then the CLS heads' (when read)."""
        cls, patches = (f[:, :width], f[:, width:]) if with_cls else (None, f)
        return {a: [heads[a](patches)] + ([cls_heads[a](cls)] if cls is not None else []) for a in heads}

    params = [p for p in tower.parameters() if p.requires_grad] + list(heads.parameters()) + list(
        cls_heads.parameters())
    opt, sched = optimizer(params, cfg.vision_lr, cfg.vision_steps, cfg.warmup_fraction)
    gen = torch.Generator().manual_seed(cfg.seed)
    tower.train()
    loss_ema = None
    for step in range(cfg.vision_steps):
        idx = torch.randint(0, x_tr.shape[0], (cfg.vision_batch_size,), generator=gen).to(device)
        out = logits(features(x_tr[idx]))
        loss = sum(torch.nn.functional.cross_entropy(z, y_tr[a][idx]) for a in heads for z in out[a])
        opt.zero_grad(set_to_none=True)
        loss.backward()  # type: ignore[union-attr]
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        sched.step()
        lv = loss.item()  # type: ignore[union-attr]
        loss_ema = lv if loss_ema is None else 0.95 * loss_ema + 0.05 * lv
        if (step + 1) % max(1, cfg.vision_steps // 5) == 0 or step + 1 == cfg.vision_steps:
            log(f"base: vision step {step + 1}/{cfg.vision_steps} loss {loss_ema:.3f} ({time.time() - t0:.0f} s)")
    tower.eval()
    with torch.no_grad():
        out = logits(features(x_ev))
        accs = {a: float((out[a][0].argmax(1) == y_ev[a]).float().mean()) for a in heads}
        cls_accs = {a: float((out[a][1].argmax(1) == y_ev[a]).float().mean()) for a in cls_heads}
    from fiubench.data.visual import ASKED

    asked = [accs[a] for a in ASKED]
    log(f"base: vision pre-training: held-out attribute accuracy {sum(asked) / len(asked):.3f} "
        f"({time.time() - t0:.0f} s)")
    result = {"vision_seconds": round(time.time() - t0, 1),
              "vision_attribute_accuracy": {a: round(v, 4) for a, v in accs.items()}}
    if cls_accs:
        result["vision_cls_attribute_accuracy"] = {a: round(v, 4) for a, v in cls_accs.items()}
    return result
