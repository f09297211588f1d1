"""The engine's MethodContext: forwards through the (DDP-)prepared model, the frozen
reference, and forward hooks on decoder layers for activation-based methods (RMU)."""

from __future__ import annotations

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


class EngineContext:
    """Implements :class:`fiubench.methods.base.MethodContext` for the training loop."""

    def __init__(self, model: torch.nn.Module, vlm: Any, ref_vlm: Any | None) -> None:
        self.model = model  # the prepared (possibly DDP-wrapped) trainable model
        self.vlm = vlm
        self.ref_vlm = ref_vlm

    def logits(self, inputs: Inputs) -> torch.Tensor:
        return self.model(**model_inputs(inputs)).logits

    def ref_logits(self, inputs: Inputs) -> torch.Tensor:
        if self.ref_vlm is None:
            raise RuntimeError("this method did not declare needs_reference")
        with torch.no_grad():
            return self.ref_vlm.model(**model_inputs(inputs)).logits

    def hidden(self, inputs: Inputs, layer: int) -> torch.Tensor:
        return _capture(self.vlm.decoder_layers()[layer], lambda: self.model(**model_inputs(inputs)))

    def ref_hidden(self, inputs: Inputs, layer: int) -> torch.Tensor:
        if self.ref_vlm is None:
            raise RuntimeError("this method did not declare needs_reference")
        with torch.no_grad():
            return _capture(
                self.ref_vlm.decoder_layers()[layer],
                lambda: self.ref_vlm.model(**model_inputs(inputs)),
            )
