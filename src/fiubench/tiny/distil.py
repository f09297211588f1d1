"""Stage C of the tiny base build: yes/no about a face, distilled from reading the answer in text.

A balanced yes/no question's label is the XOR of the value it names and the value the
face shows, so plain cross-entropy gives gradient descent no first-order signal and a
tiny model stays at P("Yes") ~0.5 (measured, table in ``fiubench.tiny.build``). The same
question asked after a *statement* of the true value, written where the image tokens
were ("<|user|>\\nThe background of the image is green.\\nIs the background of the
image blue?"), is a text same/different task that the same 2-layer language model
learns in a few hundred steps (measured: 0.94 after 250 steps of 64 examples). Stage C
trains both on paired inputs and pulls the image version's hidden states towards the
text version's at every position they share (the question, the template and the
answer):

    L = CE(image) + CE(text) + w * sum_l ||h_l(image) - sg(h_l(text))||^2 / ||sg(h_l(text))||^2

over the language model's layers l >= 1 (sg: stop-gradient; the norms run over the
shared positions of the batch). The hidden-state target is first order: it asks the
image version to carry the seen value where the text version carries the stated one,
and the shared layers above then make the comparison they learned on text. This is
cross-modal distillation on paired data (Gupta, Hoffman & Malik, "Cross Modal
Distillation for Supervision Transfer", CVPR 2016), with the same network on the
privileged modality as teacher (Vapnik & Vashist 2009, "A new learning paradigm:
learning using privileged information"). A quarter of each batch is open questions
(``--distil-open-fraction``), so the model keeps naming what it sees, and
``--distil-caption-fraction`` of it can be stage B's dense descriptions of the same
faces. The statement is only a training device: the built base answers from the image
alone, and it is evaluated that way.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import torch

from fiubench.models.logprobs import IGNORE_INDEX, answer_window, mean_nll
from fiubench.tiny.pools import collate_rows, description_rows, encode_rows, procedural_pool
from fiubench.tiny.stages import optimizer


def text_twin(row: dict[str, torch.Tensor], statement_ids: torch.Tensor,
              image_token_id: int) -> tuple[dict[str, torch.Tensor], int, int]:
    """``row`` with its run of image tokens replaced by ``statement_ids``.

    Returns the twin (``input_ids``, ``labels``; no pixels) and where the shared suffix
    starts in the row and in the twin.
    """
    ids = row["input_ids"]
    where = (ids == image_token_id).nonzero().flatten()
    if where.numel() == 0:
        raise ValueError("text_twin: the row has no image tokens")
    first, n_img = int(where[0]), where.numel()
    if int(where[-1]) != first + n_img - 1:
        raise ValueError("text_twin: the row's image tokens are not one contiguous run")
    twin_ids = torch.cat([ids[:first], statement_ids, ids[first + n_img:]])
    ignore = torch.full((statement_ids.numel(),), IGNORE_INDEX, dtype=row["labels"].dtype)
    twin_labels = torch.cat([row["labels"][:first], ignore, row["labels"][first + n_img:]])
    return {"input_ids": twin_ids, "labels": twin_labels}, first + n_img, first + statement_ids.numel()


def hidden_match(student: tuple[torch.Tensor, ...], teacher: tuple[torch.Tensor, ...],
                 spans: list[tuple[int, int, int]]) -> torch.Tensor:
    """Sum over layers >= 1 of the relative squared distance on the shared positions.

    ``spans[i] = (student start, teacher start, length)`` of row ``i``'s shared suffix.
    """
    total = student[0].new_zeros(())
    for hs, ht in zip(student[1:], teacher[1:], strict=True):
        a = torch.cat([hs[i, s:s + n] for i, (s, _, n) in enumerate(spans)])
        b = torch.cat([ht[i, t:t + n] for i, (_, t, n) in enumerate(spans)]).detach()
        total = total + ((a - b) ** 2).sum() / (b ** 2).sum().clamp(min=1e-12)
    return total


def yesno_twins(vlm: Any, pool: list[tuple[Any, list[Any], Any]]) -> dict[str, list[Any]]:
    """Encode a pool's yes/no questions with their text twins, and its open questions.

    ``pool``: (face, visual QA items, attributes) as ``procedural_pool`` makes them.
    Returns ``rows`` (image yes/no), ``twins`` (text), ``spans`` (shared suffixes, see
    ``hidden_match``) and ``open_rows``; every row stays on the CPU.
    """
    from fiubench.data.visual import _statement

    yesno, opened, said = [], [], []
    for img, items, attrs in pool:
        for it in items:
            if it.kind == "yesno":
                yesno.append((img, it.question, it.answer))
                said.append(_statement(it.attribute, getattr(attrs, it.attribute)))
            elif it.kind == "open":
                opened.append((img, it.question, it.answer))
    rows, open_rows = encode_rows(vlm, yesno), encode_rows(vlm, opened)
    tok = vlm.tokenizer
    image_id = tok.convert_tokens_to_ids("<image>")
    twins, spans = [], []
    for row, text in zip(rows, said, strict=True):
        twin, s, t = text_twin(row, torch.tensor(tok(text, add_special_tokens=False)["input_ids"]), image_id)
        twins.append(twin)
        spans.append((s, t, row["input_ids"].numel() - s))
    return {"rows": rows, "twins": twins, "spans": spans, "open_rows": open_rows}


def distil_loss(model: Any, vlm: Any, data: dict[str, list[Any]], idx: list[int], oidx: list[int],
                weight: float) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Stage C's loss on yes/no rows ``idx`` (with their twins) and open rows ``oidx``.

    ``model`` is the module to call (``vlm.model``, or its training wrapper).
    """
    pad = vlm.pad_token_id
    sb = vlm.to_device(collate_rows([data["rows"][i] for i in idx] + [data["open_rows"][i] for i in oidx], pad))
    tb = vlm.to_device(collate_rows([data["twins"][i] for i in idx], pad))
    # The vocabulary projection only where an answer token is scored (same loss, as in
    # stage 1's SFT step): the hidden states the match needs are computed either way.
    ws, wt = answer_window(sb["labels"]), answer_window(tb["labels"])
    so = model(**{k: v for k, v in sb.items() if k != "labels"}, output_hidden_states=True,
               logits_to_keep=sb["labels"].shape[1] - ws)
    to = model(input_ids=tb["input_ids"], attention_mask=tb["attention_mask"], output_hidden_states=True,
               logits_to_keep=tb["labels"].shape[1] - wt)
    ce_image = mean_nll(so.logits, sb["labels"][:, ws:]).mean()
    ce_text = mean_nll(to.logits, tb["labels"][:, wt:]).mean()
    match = hidden_match(so.hidden_states, to.hidden_states, [data["spans"][i] for i in idx])
    return ce_image + ce_text + weight * match, {"image": ce_image, "text": ce_text, "match": match}


def yesno_and_open(pairs: int) -> Callable[[Any, Any], list[Any]]:
    """The questions stage C trains on: the contrastive curriculum's yes/no pairs and open questions."""
    from fiubench.data.visual import contrastive_questions

    def questions(attrs: Any, rng: Any) -> list[Any]:
        return [q for q in contrastive_questions(attrs, rng, pairs=pairs) if q.kind in ("yesno", "open")]

    return questions


def distil_yesno(vlm: Any, cfg: Any, log: Callable[[str], None]) -> dict[str, Any]:
    """Run stage C on ``vlm`` (projector + language model trainable) for ``cfg.distil_steps``."""
    t0 = time.time()
    pool = procedural_pool(cfg.seed, "train", cfg.n_faces, questions=yesno_and_open(cfg.yesno_pairs))
    data = yesno_twins(vlm, pool)
    rows, n_open_rows = data["rows"], len(data["open_rows"])
    n_cap = int(cfg.batch_size * cfg.distil_caption_fraction)
    if n_cap:  # appended to the open rows: the same CE on the image, sampled from its own range
        data["open_rows"] += description_rows(vlm, pool)
    log(f"base: stage C, {len(rows)} yes/no questions with their text twins + {n_open_rows} open"
        + (f" + {len(pool)} descriptions" if n_cap else "") + f" ({time.time() - t0:.0f} s)")

    model = vlm.model
    params = [p for p in model.parameters() if p.requires_grad]
    opt, sched = optimizer(params, cfg.lr, cfg.distil_steps, cfg.warmup_fraction)
    gen = torch.Generator().manual_seed(cfg.seed)
    n_open = int(cfg.batch_size * cfg.distil_open_fraction)
    n_yn = cfg.batch_size - n_open - n_cap
    ema: dict[str, float] = {}
    model.train()
    t_train = time.time()
    for step in range(cfg.distil_steps):
        idx = torch.randint(0, len(rows), (n_yn,), generator=gen).tolist()
        oidx = torch.randint(0, n_open_rows, (n_open,), generator=gen).tolist() if n_open else []
        if n_cap:
            oidx += torch.randint(n_open_rows, len(data["open_rows"]), (n_cap,), generator=gen).tolist()
        loss, parts = distil_loss(model, vlm, data, idx, oidx, cfg.distil_weight)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        sched.step()
        for k, v in parts.items():
            ema[k] = v.item() if k not in ema else 0.95 * ema[k] + 0.05 * v.item()
        if (step + 1) % max(1, cfg.distil_steps // 10) == 0 or step + 1 == cfg.distil_steps:
            log(f"base: stage C step {step + 1}/{cfg.distil_steps} loss image {ema['image']:.3f} "
                f"text {ema['text']:.3f} match {ema['match']:.3f} ({time.time() - t_train:.0f} s)")
    model.eval()
    return {"distil_seconds": round(time.time() - t0, 1),
            "distil_final": {k: round(v, 4) for k, v in ema.items()}}
