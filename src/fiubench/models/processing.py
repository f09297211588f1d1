"""Processors: load the checkpoint's own, with offline-safe fallbacks.

``Qwen2VLProcessor`` cannot be built without torchvision (it insists on a video
processor, see measured.md). ``QwenVLImageTextProcessor`` is the image-only
equivalent: ``Qwen2VLImageProcessorPil`` for pixels, and each ``<|image_pad|>``
expanded to ``prod(image_grid_thw) / merge_size**2`` tokens, exactly as the official
processor does, plus the ``mm_token_type_ids`` M-RoPE needs (1 on image tokens).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from transformers import AutoTokenizer, BatchFeature

from fiubench.errors import ConfigError


class QwenVLImageTextProcessor:
    """Minimal Qwen2-VL / Qwen2.5-VL processor for images + text (no video)."""

    image_token = "<|image_pad|>"

    def __init__(self, image_processor: Any, tokenizer: Any, chat_template: str | None = None) -> None:
        self.image_processor = image_processor
        self.tokenizer = tokenizer
        self.chat_template = chat_template or getattr(tokenizer, "chat_template", None)
        self.image_token_id = tokenizer.convert_tokens_to_ids(self.image_token)

    def __call__(
        self,
        images: Sequence[Any] | None = None,
        text: Sequence[str] | str | None = None,
        padding: bool | str = True,
        padding_side: str = "right",
        return_tensors: str = "pt",
        **kwargs: Any,
    ) -> BatchFeature:
        texts = [text] if isinstance(text, str) else list(text or [])
        data: dict[str, Any] = {}
        if images:
            vis = self.image_processor(images=list(images), return_tensors="pt")
            data.update(vis)
            merge = self.image_processor.merge_size ** 2
            counts = [int(g.prod()) // merge for g in vis["image_grid_thw"]]
            expanded, i = [], 0
            placeholder = "\0"  # never in real text; avoids re-expanding the expansion
            for t in texts:
                while self.image_token in t:
                    t = t.replace(self.image_token, placeholder * counts[i], 1)
                    i += 1
                expanded.append(t.replace(placeholder, self.image_token))
            if i != len(counts):
                raise ValueError(f"{len(counts)} images but {i} {self.image_token} placeholders in the text")
            texts = expanded
        tok = self.tokenizer(
            texts, padding=padding, padding_side=padding_side, return_tensors=return_tensors, **kwargs
        )
        data.update(tok)
        data["mm_token_type_ids"] = (tok["input_ids"] == self.image_token_id).long()
        return BatchFeature(data=data)

    def apply_chat_template(self, conversation: Any, **kwargs: Any) -> Any:
        kwargs.setdefault("chat_template", self.chat_template)
        return self.tokenizer.apply_chat_template(conversation, **kwargs)

    def batch_decode(self, *args: Any, **kwargs: Any) -> Any:
        return self.tokenizer.batch_decode(*args, **kwargs)

    def decode(self, *args: Any, **kwargs: Any) -> Any:
        return self.tokenizer.decode(*args, **kwargs)

    def save_pretrained(self, out_dir: str | os.PathLike[str], **kwargs: Any) -> None:
        if self.chat_template is not None:
            self.tokenizer.chat_template = self.chat_template
        self.tokenizer.save_pretrained(out_dir)
        self.image_processor.save_pretrained(out_dir)

    @classmethod
    def from_pretrained(cls, path: str | os.PathLike[str], **kwargs: Any) -> QwenVLImageTextProcessor:
        from transformers import Qwen2VLImageProcessorPil

        tokenizer = AutoTokenizer.from_pretrained(path, **kwargs)
        image_processor = Qwen2VLImageProcessorPil.from_pretrained(path, **kwargs)
        return cls(image_processor, tokenizer)


def get_tokenizer(processor: Any) -> Any:
    """The text tokenizer inside a processor (or the object itself)."""
    return getattr(processor, "tokenizer", processor)


def load_processor(path: str | Path, family_name: str, trust_remote_code: bool = False) -> Any:
    """The checkpoint's processor; the Qwen fallback when torchvision is missing."""
    from transformers import AutoProcessor

    try:
        return AutoProcessor.from_pretrained(str(path), trust_remote_code=trust_remote_code)
    except (ImportError, ValueError, OSError, TypeError, KeyError) as e:
        if family_name.startswith("qwen"):
            return QwenVLImageTextProcessor.from_pretrained(str(path), trust_remote_code=trust_remote_code)
        raise ConfigError(f"could not load the processor of {path}: {type(e).__name__}: {e}") from e
