"""The one model interface every stage uses: batches, generation, checkpoints.

Batches are model-agnostic: whatever the processor returns (pixel_values,
image_sizes, image_grid_thw, aspect_ratio_ids, cross_attention_mask, ...) reaches the
model untouched; fiubench only adds ``labels``.

Labels (the answer-only SFT target): for a sample whose prompt (chat template up to
and including the generation prompt, image tokens expanded) is P tokens long,
``labels[t] = input_ids[t]`` for P <= t < length, -100 elsewhere. The sequence is
``prompt + answer_prefix + answer + end_of_turn``, so the scored tokens are exactly the
answer and the end-of-turn token: the model learns to stop, and ``generate`` stops on
that token (upstream FIUBench never trained EOS and cut generations at the first ".").
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch
from PIL import Image

from fiubench.errors import FiubenchError
from fiubench.models.config import ModelConfig
from fiubench.models.families import FamilySpec
from fiubench.models.logprobs import IGNORE_INDEX
from fiubench.models.processing import get_tokenizer
from fiubench.utils.io import atomic_dir, atomic_write_json

META_FILE = "fiubench_model.json"
EXTRA_TRAINABLE_FILE = "trainable_extra.safetensors"
FORMAT = "fiubench-vlm/1"

# Families whose processors take one list of images per text sample.
_NESTED_IMAGES = ("llama-3.2-vision", "idefics2")


class VLM:
    """A loaded vision-language model with its processor and family conventions."""

    def __init__(self, model: torch.nn.Module, processor: Any, family: FamilySpec,
                 config: ModelConfig, base: str) -> None:
        self.model = model
        self.processor = processor
        self.family = family
        self.config = config
        self.base = base  # where the weights came from (for LoRA: the base they adapt)
        self.base_fingerprint: str | None = None  # of the base weights (set by load_vlm)
        self.tokenizer = get_tokenizer(processor)
        self.chat_template: str = (
            getattr(processor, "chat_template", None)
            or getattr(self.tokenizer, "chat_template", None)
            or family.chat_template
        )
        self._eos_ids = self._find_eos_ids()
        # A template that writes BOS itself (Llama 3) must not get a second one from
        # the tokenizer: encode its text with add_special_tokens=False, as the model
        # cards do.
        bos = self.tokenizer.bos_token
        self._template_writes_bos = bool(bos) and self.render_prompt("q").startswith(bos)

    # --- text ------------------------------------------------------------------------
    def render_prompt(self, question: str, image: bool = True) -> str:
        """The chat-template text of a user turn with one image (or none: ``image=False``,
        the text-only prompts of the cross-modal attack), plus the generation prompt."""
        content: list[dict[str, str]] = [{"type": "image"}] if image else []
        content.append({"type": "text", "text": question})
        messages = [{"role": "user", "content": content}]
        text = self.tokenizer.apply_chat_template(
            messages, chat_template=self.chat_template, add_generation_prompt=True, tokenize=False
        )
        return str(text)

    def render_prefilled(self, question: str, prefill: str | None, image: bool = True) -> str:
        """The prompt plus a forced start of the answer (``prefill``): the model continues it."""
        text = self.render_prompt(question, image=image)
        return text + self.family.answer_prefix + prefill if prefill else text

    def render_completion(self, answer: str) -> str:
        """What follows the generation prompt in training: the answer and end-of-turn."""
        return self.family.answer_prefix + answer + self.family.end_of_turn

    # --- batches ---------------------------------------------------------------------
    def _process(self, images: Sequence[Image.Image], texts: list[str], padding_side: str) -> dict[str, Any]:
        imgs: list[Any] = [[im] for im in images] if self.family.name in _NESTED_IMAGES else list(images)
        extra = {"add_special_tokens": False} if self._template_writes_bos else {}
        out = self.processor(images=imgs, text=texts, padding=True, padding_side=padding_side,
                             return_tensors="pt", **extra)
        return dict(out)

    def to_device(self, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        """``batch`` on the model's device, floating tensors in the model's dtype."""
        return self._to_device(batch)

    def _to_device(self, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        device = self.device
        dtype = self.dtype
        moved: dict[str, torch.Tensor] = {}
        for k, v in batch.items():
            if not isinstance(v, torch.Tensor):
                v = torch.as_tensor(v)
            v = v.to(device=device, dtype=dtype) if v.is_floating_point() else v.to(device)
            moved[k] = v
        return moved

    def train_batch(self, examples: Sequence[tuple[Image.Image, str, str]]) -> dict[str, torch.Tensor]:
        """(image, question, answer) triples -> right-padded model inputs with ``labels``.

        Labels are -100 except on the answer tokens and the end-of-turn token. Several
        answers for the same image/question are fine (answer variants for scoring).
        """
        if not examples:
            raise FiubenchError("train_batch: no examples")
        images = [e[0] for e in examples]
        prompts = [self.render_prompt(e[1]) for e in examples]
        fulls = [p + self.render_completion(e[2]) for p, e in zip(prompts, examples, strict=True)]
        prompt_ids = self._process(images, prompts, "right")
        batch = self._process(images, fulls, "right")
        ids, mask = batch["input_ids"], batch["attention_mask"]
        p_lens = prompt_ids["attention_mask"].sum(1)
        labels = ids.clone()
        for i, p in enumerate(p_lens.tolist()):
            if not torch.equal(ids[i, :p], prompt_ids["input_ids"][i, :p]):
                raise FiubenchError(
                    f"family {self.family.name}: tokenising prompt+answer changed the prompt's tokens "
                    f"(the tokenizer merges across the boundary); sample {i}: {fulls[i]!r}"
                )
            labels[i, :p] = IGNORE_INDEX
        labels[mask == 0] = IGNORE_INDEX
        batch["labels"] = labels
        return self._to_device(batch)

    def prompt_batch(self, images: Sequence[Image.Image], questions: Sequence[str],
                     prefill: Sequence[str | None] | None = None) -> dict[str, torch.Tensor]:
        """Left-padded prompts (generation prompt appended, then ``prefill[i]`` when given),
        ready for ``generate``."""
        if len(images) != len(questions):
            raise FiubenchError(f"prompt_batch: {len(images)} images but {len(questions)} questions")
        pre = list(prefill) if prefill is not None else [None] * len(questions)
        texts = [self.render_prefilled(q, f) for q, f in zip(questions, pre, strict=True)]
        return self._to_device(self._process(images, texts, "left"))

    def text_prompt_batch(self, questions: Sequence[str]) -> dict[str, torch.Tensor]:
        """Left-padded prompts without any image (text-only chat turns)."""
        extra = {"add_special_tokens": False} if self._template_writes_bos else {}
        tok = self.tokenizer
        out = tok([self.render_prompt(q, image=False) for q in questions], padding=True,
                  padding_side="left", return_tensors="pt", **extra)
        return self._to_device({k: out[k] for k in ("input_ids", "attention_mask")})

    # --- model calls -----------------------------------------------------------------
    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Logits [B, T, V] for a batch (``labels`` are not passed to the model)."""
        return self.model(**{k: v for k, v in batch.items() if k != "labels"}).logits

    @torch.no_grad()
    def generate(self, images: Sequence[Image.Image] | None, questions: Sequence[str],
                 max_new_tokens: int = 48, prefill: Sequence[str | None] | None = None) -> list[str]:
        """Greedy answers, batched; stop at EOS / end-of-turn; answer text only, stripped.

        ``images=None``: text-only prompts. ``prefill``: a forced start of each answer;
        the returned text is only what the model added after it.
        """
        if not questions:
            return []
        if images is None:
            if prefill is not None and any(prefill):
                raise FiubenchError("generate: prefill is only supported with images")
            batch = self.text_prompt_batch(questions)
        else:
            batch = self.prompt_batch(images, questions, prefill)
        was_training = self.model.training
        self.model.eval()
        try:
            out = self.model.generate(
                **batch, max_new_tokens=max_new_tokens, do_sample=False, num_beams=1,
                eos_token_id=self._eos_ids, pad_token_id=self.pad_token_id,
                temperature=None, top_p=None, top_k=None,
            )
        finally:
            self.model.train(was_training)
        new = out[:, batch["input_ids"].shape[1]:]
        texts = []
        for row in new.tolist():
            cut = next((i for i, t in enumerate(row) if t in self._eos_ids), len(row))
            texts.append(self.tokenizer.decode(row[:cut], skip_special_tokens=True).strip())
        return texts

    # --- introspection ---------------------------------------------------------------
    @property
    def hf_model(self) -> torch.nn.Module:
        """The plain transformers model (below any PEFT wrapper)."""
        m = self.model
        get_base = getattr(m, "get_base_model", None)
        return get_base() if callable(get_base) else m

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @property
    def dtype(self) -> torch.dtype:
        return next(self.hf_model.parameters()).dtype

    @property
    def pad_token_id(self) -> int:
        pad = self.tokenizer.pad_token_id
        return int(pad if pad is not None else self._eos_ids[0])

    def _find_eos_ids(self) -> list[int]:
        ids: list[int] = []
        eot = self.tokenizer.convert_tokens_to_ids(self.family.end_of_turn)
        unk = self.tokenizer.unk_token_id
        for t in (eot, self.tokenizer.eos_token_id):
            if isinstance(t, int) and t != unk and t not in ids:
                ids.append(t)
        if not ids:
            raise FiubenchError(
                f"family {self.family.name}: the tokenizer has neither an EOS token nor "
                f"{self.family.end_of_turn!r}"
            )
        return ids

    def eos_token_ids(self) -> list[int]:
        """Token ids that end an answer (end-of-turn first, then EOS)."""
        return list(self._eos_ids)

    def trainable_parameters(self) -> tuple[int, int]:
        """(trainable, total) parameter counts (LoRA adapters included in both)."""
        trainable = total = 0
        for p in self.model.parameters():
            total += p.numel()
            if p.requires_grad:
                trainable += p.numel()
        return trainable, total

    def decoder_layers(self) -> list[torch.nn.Module]:
        """The language model's decoder blocks, in order (for RMU and probes)."""
        mod: Any = self.hf_model
        for part in self.family.language_model_path.split("."):
            mod = getattr(mod, part)
        return list(mod.layers)

    def hidden_size(self) -> int:
        cfg = self.hf_model.config
        text = cfg.get_text_config() if hasattr(cfg, "get_text_config") else cfg
        return int(text.hidden_size)

    # --- checkpoints -----------------------------------------------------------------
    @property
    def is_lora(self) -> bool:
        return hasattr(self.model, "peft_config")

    def save(self, out_dir: str | Path) -> None:
        """Write a checkpoint atomically (safetensors only) that ``load_vlm`` reads back.

        Full models: ``model.safetensors`` + ``config.json``. LoRA: the adapter (with the
        projector as ``modules_to_save``) + ``trainable_extra.safetensors`` for any other
        trained tensor; the base weights are referenced by ``fiubench_model.json``.
        """
        from safetensors.torch import save_file

        out_dir = Path(out_dir)
        with atomic_dir(out_dir, overwrite=True) as tmp:
            if self.is_lora:
                self.model.save_pretrained(str(tmp), safe_serialization=True)
                extra = {
                    n: p.detach().contiguous().cpu()
                    for n, p in self.model.named_parameters()
                    if p.requires_grad and "lora_" not in n and "modules_to_save" not in n
                }
                if extra:
                    save_file(extra, str(tmp / EXTRA_TRAINABLE_FILE))
            else:
                self.model.save_pretrained(str(tmp), safe_serialization=True)
            self.processor.save_pretrained(str(tmp))
            meta = {
                "format": FORMAT,
                "family": self.family.name,
                "kind": "lora" if self.is_lora else "full",
                "base": self.base,
                "model_class": self.family.model_class,
                "dtype": str(self.dtype).replace("torch.", ""),
                "scope": asdict(self.config.scope),
                "base_fingerprint": self.base_fingerprint if self.is_lora else None,
                "chat_template": self.chat_template,
            }
            atomic_write_json(tmp / META_FILE, meta)
            _make_readable(tmp)


def _make_readable(path: Path) -> None:
    """mkdtemp/mkstemp create 0700/0600 entries: make a checkpoint readable like any
    other output (respecting the umask), e.g. when shipped as package data."""
    import os

    umask = os.umask(0)
    os.umask(umask)
    os.chmod(path, 0o777 & ~umask)
    for f in path.rglob("*"):
        os.chmod(f, (0o777 if f.is_dir() else 0o666) & ~umask)


def weights_fingerprint(path: Path) -> str | None:
    """Cheap identity of a checkpoint's weights: sha256 over each safetensors file's
    name, size and content (whole file up to 64 MB, else its first and last MB)."""
    import hashlib

    files = sorted(path.glob("*.safetensors"))
    if not files:
        return None
    h = hashlib.sha256()
    for f in files:
        size = f.stat().st_size
        h.update(f"{f.name}:{size}".encode())
        with open(f, "rb") as fh:
            if size <= 64 << 20:
                h.update(fh.read())
            else:
                h.update(fh.read(1 << 20))
                fh.seek(size - (1 << 20))
                h.update(fh.read())
    return h.hexdigest()[:16]


def read_meta(path: Path) -> dict[str, Any] | None:
    """The ``fiubench_model.json`` of a checkpoint directory, if it has one."""
    f = path / META_FILE
    if not f.is_file():
        return None
    try:
        return dict(json.loads(f.read_text()))
    except (OSError, json.JSONDecodeError) as e:
        raise FiubenchError(f"{f}: unreadable ({e})") from e
