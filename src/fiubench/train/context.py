"""The engine's MethodContext: forwards through the (DDP-)prepared model, the frozen
reference, and forward hooks on decoder layers for activation-based methods (RMU).

The reference is either a second loaded copy of the fine-tuned model or, when the
trained part is a LoRA adapter freshly added to the fine-tuned weights and nothing
outside the adapter trains, the same model with its adapter disabled
(``peft``'s ``disable_adapter()``, which also restores the original of every
``modules_to_save`` copy): the same function, without a second copy in memory.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import torch

from fiubench.methods.base import Inputs


def model_inputs(inputs: Inputs) -> dict[str, Any]:
    """Everything the processor produced, minus our labels; no KV cache in training."""
    out: dict[str, Any] = {k: v for k, v in inputs.items() if k != "labels"}
    out["use_cache"] = False
    return out


def _capture(layer: torch.nn.Module, call: Any) -> torch.Tensor:
    store: list[torch.Tensor] = []

    def hook(_m: Any, _i: Any, output: Any) -> None:
        store.append(output[0] if isinstance(output, (tuple, list)) else output)

    handle = layer.register_forward_hook(hook)
    try:
        call()
    finally:
        handle.remove()
    if not store:
        raise RuntimeError("decoder layer hook did not fire")
    return store[-1]


def adapter_reference_unsupported(vlm: Any, source_kind: str | None) -> str | None:
    """Why ``vlm`` with its adapter disabled is NOT the frozen fine-tuned model; None when it is.

    ``source_kind``: the ``kind`` of the checkpoint the run started from ("lora" when
    it was itself an adapter: disabling would then fall back to *its* base).
    """
    if not getattr(vlm, "is_lora", False):
        return "the trained part is not a LoRA adapter"
    if source_kind == "lora":
        return "the starting checkpoint is itself an adapter (disabling it would give its base)"
    outside = [n for n, p in vlm.model.named_parameters()
               if p.requires_grad and "lora_" not in n and "modules_to_save" not in n]
    if outside:
        return f"parameters outside the adapter train (e.g. {outside[0]})"
    return None


class EngineContext:
    """Implements :class:`fiubench.methods.base.MethodContext` for the training loop.

    ``adapter_reference``: the reference is ``vlm`` with its adapter disabled (see
    :func:`adapter_reference_unsupported`); otherwise ``ref_vlm`` is a frozen copy.
    """

    def __init__(self, model: torch.nn.Module, vlm: Any, ref_vlm: Any | None,
                 adapter_reference: bool = False) -> None:
        self.model = model  # the prepared (possibly DDP-wrapped) trainable model
        self.vlm = vlm
        self.ref_vlm = ref_vlm
        self.adapter_reference = adapter_reference

    def logits(self, inputs: Inputs) -> torch.Tensor:
        return self.model(**model_inputs(inputs)).logits

    @contextlib.contextmanager
    def _reference(self) -> Iterator[Any]:
        """The reference VLM, frozen, in eval mode, without gradient."""
        if self.adapter_reference:
            model = self.vlm.model  # unwrapped: a no-grad pass needs no DDP bookkeeping
            was_training = model.training
            model.eval()  # like the frozen copy: no dropout in the reference
            try:
                with torch.no_grad(), model.disable_adapter():
                    yield self.vlm
            finally:
                model.train(was_training)
            return
        if self.ref_vlm is None:
            raise RuntimeError("this method did not declare needs_reference")
        with torch.no_grad():
            yield self.ref_vlm

    def ref_logits(self, inputs: Inputs) -> torch.Tensor:
        with self._reference() as ref:
            return ref.model(**model_inputs(inputs)).logits

    def hidden(self, inputs: Inputs, layer: int) -> torch.Tensor:
        return _capture(self.vlm.decoder_layers()[layer], lambda: self.model(**model_inputs(inputs)))

    def ref_hidden(self, inputs: Inputs, layer: int) -> torch.Tensor:
        with self._reference() as ref:
            return _capture(ref.decoder_layers()[layer], lambda: ref.model(**model_inputs(inputs)))
