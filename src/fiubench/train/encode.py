"""Encode samples once, collate them into padded micro-batches.

Measured on CPU: pre-encoding once instead of running the processor every epoch
halves the epoch time. Samples are encoded one at a time with ``vlm.train_batch``
(so any family's processor outputs pass through), memoised, and padded on the right
at collation: with causal attention the logits of real positions do not depend on
right padding. Image tensors of samples that share a face are stored once.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch

from fiubench.models.logprobs import IGNORE_INDEX

Triple = tuple[Path, str, str]  # (image path, question, answer)
Encoded = dict[str, torch.Tensor]

_PAD_VALUES = {"labels": IGNORE_INDEX, "attention_mask": 0}


class EncodedPool:
    """Lazily encoded, memoised samples addressed by index."""

    def __init__(
        self,
        triples: Sequence[Triple],
        encode: Callable[[list[tuple[Any, str, str]]], dict[str, Any]],
        load_image: Callable[[Path], Any],
    ) -> None:
        self.triples = list(triples)
        self._encode = encode
        self._load_image = load_image
        self._cache: dict[int, Encoded] = {}
        self._images: dict[Path, Any] = {}
        self._image_tensors: dict[tuple[Path, str], torch.Tensor] = {}

    def __len__(self) -> int:
        return len(self.triples)

    def _image(self, path: Path) -> Any:
        if path not in self._images:
            self._images[path] = self._load_image(path)
        return self._images[path]

    def get(self, i: int) -> Encoded:
        if i not in self._cache:
            path, q, a = self.triples[i]
            batch = self._encode([(self._image(path), q, a)])
            enc: Encoded = {}
            seq_len = batch["input_ids"].shape[1]
            for k, v in batch.items():
                if not isinstance(v, torch.Tensor):
                    continue
                if not _is_sequence(k, v, seq_len):
                    key = (path, k)
                    prev = self._image_tensors.get(key)
                    if prev is not None and prev.shape == v.shape and torch.equal(prev, v):
                        v = prev  # share one copy per face
                    else:
                        self._image_tensors[key] = v
                enc[k] = v
            self._cache[i] = enc
        return self._cache[i]

    def encode_all(self) -> None:
        for i in range(len(self)):
            self.get(i)


def _is_sequence(key: str, v: torch.Tensor, seq_len: int) -> bool:
    if key.startswith(("pixel", "image")):
        return False
    return v.dim() >= 2 and v.shape[0] == 1 and v.shape[1] == seq_len


def collate(samples: Sequence[Encoded], pad_token_id: int = 0) -> Encoded:
    """Right-pad sequence tensors to the longest sample and concatenate the rest."""
    seq_lens = [s["input_ids"].shape[1] for s in samples]
    t_max = max(seq_lens)
    out: Encoded = {}
    for k in samples[0]:
        vals = [s[k] for s in samples]
        if _is_sequence(k, vals[0], seq_lens[0]):
            pad = _PAD_VALUES.get(k, pad_token_id if k == "input_ids" else 0)
            padded = []
            for v, n in zip(vals, seq_lens, strict=True):
                if n < t_max:
                    shape = list(v.shape)
                    shape[1] = t_max - n
                    v = torch.cat([v, v.new_full(shape, pad)], dim=1)
                padded.append(v)
            out[k] = torch.cat(padded, dim=0)
        else:
            out[k] = torch.cat(vals, dim=0)
    return out
