"""RMU, representation misdirection for unlearning (Li et al. 2024, WMDP, arXiv 2403.03218).

    L = mean_{forget tokens} ||h_L(x_f) - c*u||^2 / H
        + alpha * mean_{retain tokens} ||h_L(x_r) - h_L^ref(x_r)||^2 / H

h_L is the output of decoder layer ``layer`` of the trained model, h_L^ref of the
frozen fine-tuned model, u a fixed random unit vector (drawn from the seed, as in
the WMDP code: uniform [0, 1) then normalised), c the steering coefficient, H the
hidden size. Layers come from ``vlm.decoder_layers()`` (no hard-coded module path).
Only decoder layers ``layer-2 .. layer`` train, as in the original; when the model
has a LoRA scope only the LoRA weights inside those layers train.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import torch

from fiubench.errors import ConfigError
from fiubench.methods.base import (
    Inputs,
    MethodContext,
    MethodOptions,
    UnlearnBatch,
    UnlearningMethod,
)
from fiubench.methods.registry import register_method
from fiubench.methods.terms import masked_mse
from fiubench.models.logprobs import IGNORE_INDEX


@dataclass
class RMUOptions(MethodOptions):
    layer: int | None = None  # decoder layer to steer; None: a quarter of the depth
    steering_coeff: float = 6.5  # c
    alpha: float = 100.0  # retain weight
    trained_layers: int = 3  # train layers layer-trained_layers+1 .. layer
    # Tokens whose activations count. WMDP used every token; here forget and retain
    # prompts are the same templated text (only the face differs), so steering prompt
    # tokens fights the retain term: the default scores answer tokens only.
    positions: Literal["all", "answer"] = "answer"


def resolve_layer(layer: int | None, n_layers: int) -> int:
    """Index into the decoder layers; negative counts from the end."""
    if layer is None:
        return max(0, min(n_layers - 1, round(n_layers / 4)))
    idx = layer + n_layers if layer < 0 else layer
    if not 0 <= idx < n_layers:
        raise ConfigError(f"method rmu option layer={layer}: the model has {n_layers} decoder layers")
    return idx


@register_method
class RMU(UnlearningMethod):
    name = "rmu"
    description = "steer a layer's forget activations to a random direction, keep retain ones"
    paper = "Li et al. 2024, The WMDP Benchmark, ICML 2024, arXiv 2403.03218"
    Options = RMUOptions
    needs_reference = True

    layer_index: int = 0
    control: torch.Tensor | None = None

    def setup(self, vlm: Any, seed: int) -> None:
        o: RMUOptions = self.options  # type: ignore[assignment]
        self.layer_index = resolve_layer(o.layer, len(vlm.decoder_layers()))
        gen = torch.Generator().manual_seed(seed)
        u = torch.rand(int(vlm.hidden_size()), generator=gen)
        self.control = o.steering_coeff * u / u.norm()

    def configure_trainable(self, vlm: Any) -> None:
        o: RMUOptions = self.options  # type: ignore[assignment]
        layers = list(vlm.decoder_layers())
        idx = resolve_layer(o.layer, len(layers))
        chosen = layers[max(0, idx - o.trained_layers + 1) : idx + 1]
        chosen_ids = {id(p) for layer in chosen for p in layer.parameters()}
        params = list(vlm.model.parameters())
        keep = [p for p in params if p.requires_grad and id(p) in chosen_ids]
        lora = any("lora_" in n for n, p in vlm.model.named_parameters() if p.requires_grad)
        if not keep or not lora:
            keep = [p for layer in chosen for p in layer.parameters()]
            # LoRA scope: only the adapter weights inside the chosen layers.
            if lora:
                keep = [p for layer in chosen for n, p in layer.named_parameters() if "lora_" in n]
        keep_ids = {id(p) for p in keep}
        for p in params:
            p.requires_grad_(id(p) in keep_ids)

    def _mask(self, inputs: Inputs) -> torch.Tensor:
        o: RMUOptions = self.options  # type: ignore[assignment]
        if o.positions == "answer":
            return inputs["labels"].ne(IGNORE_INDEX)
        if "attention_mask" in inputs:
            return inputs["attention_mask"].bool()
        return torch.ones_like(inputs["labels"], dtype=torch.bool)

    def compute_loss(
        self, ctx: MethodContext, forget: UnlearnBatch, retain: UnlearnBatch
    ) -> tuple[torch.Tensor, dict[str, float]]:
        o: RMUOptions = self.options  # type: ignore[assignment]
        if self.control is None:
            raise RuntimeError("RMU.setup() was not called")
        h_f = ctx.hidden(forget.inputs, self.layer_index)
        target = self.control.to(device=h_f.device, dtype=torch.float32).expand_as(h_f)
        f_loss = masked_mse(h_f, target, self._mask(forget.inputs).to(h_f.device))
        h_r = ctx.hidden(retain.inputs, self.layer_index)
        ref_r = ctx.ref_hidden(retain.inputs, self.layer_index)
        r_loss = masked_mse(h_r, ref_r, self._mask(retain.inputs).to(h_r.device))
        loss = f_loss + o.alpha * r_loss
        return loss, {"forget_mse": f_loss.item(), "retain_mse": r_loss.item()}
