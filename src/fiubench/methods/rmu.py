"""RMU, representation misdirection for unlearning (Li et al. 2024, WMDP, arXiv 2403.03218).

    L = mean_{forget tokens} ||h_L(x_f) - c*u||^2 / H
        + alpha * mean_{retain tokens} ||h_L(x_r) - h_L^ref(x_r)||^2 / H

h_L is the output of decoder layer ``layer`` of the trained model, h_L^ref of the
frozen fine-tuned model, u a fixed random unit vector (drawn from the seed, as in
the WMDP code: uniform [0, 1) then normalised), c the steering coefficient, H the
hidden size. Layers come from ``vlm.decoder_layers()`` (no hard-coded module path).
As in WMDP only ``mlp.down_proj`` of decoder layers ``layer-2 .. layer`` trains
(layer 7 of a 32-layer model); when the model has a LoRA scope, only the LoRA
weights inside those modules train.
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
    option,
)
from fiubench.methods.registry import register_method
from fiubench.methods.terms import masked_mse
from fiubench.models.logprobs import IGNORE_INDEX

WMDP = "centerforaisafety/wmdp rmu/unlearn.py"
WMDP_RUN = "centerforaisafety/wmdp README.md (published Zephyr-7B command)"


@dataclass
class RMUOptions(MethodOptions):
    layer: int | None = option(None, f"{WMDP} get_args --layer_id 7 (of 32 layers); None: "
                                     "round(7/32 x depth), i.e. 7 on a 32-layer model")
    steering_coeff: float = option(6.5, f"{WMDP_RUN} --steering_coeffs 6.5,6.5")
    alpha: float = option(1200.0, f"{WMDP_RUN} --alpha 1200,1200 (argument default 100)")
    trained_layers: int = option(3, f"{WMDP} get_args --layer_ids 5,6,7 (layer-2 .. layer)")
    params: str = option("mlp.down_proj", f"{WMDP} get_args --param_ids 6 (mlp.down_proj.weight of a "
                                          "Llama/Mistral layer); '' trains the whole layers")
    # Tokens whose activations count. WMDP used every token; here forget and retain
    # prompts are the same templated text (only the face differs), so steering prompt
    # tokens fights the retain term: the default scores answer tokens only.
    positions: Literal["all", "answer"] = option(
        "answer", "locuslab/open-unlearning src/trainer/unlearn/rmu.py:129,158 (labels != -100)")


RMU_DEVIATIONS = (
    "forget and retain activations are scored on answer tokens only, as OpenUnlearning's RMU "
    "(rmu.py:129,158), and averaged over the tokens of the batch; WMDP averages over every token "
    "(positions=all): forget and retain prompts here are the same templated text",
    "the steered layer is scaled with depth (round(7/32 x depth)) on models that do not have 32 layers",
)


def resolve_layer(layer: int | None, n_layers: int) -> int:
    """Index into the decoder layers; negative counts from the end. None: WMDP's layer 7
    of 32, scaled to the model's depth."""
    if layer is None:
        return max(0, min(n_layers - 1, round(7 * n_layers / 32)))
    idx = layer + n_layers if layer < 0 else layer
    if not 0 <= idx < n_layers:
        raise ConfigError(f"method rmu option layer={layer}: the model has {n_layers} decoder layers")
    return idx


def in_module(param_name: str, module: str) -> bool:
    """Whether ``param_name`` (relative to a decoder layer) lies inside submodule ``module``."""
    return not module or f".{param_name}".startswith(f".{module}.") or f".{module}." in f".{param_name}"


@register_method
class RMU(UnlearningMethod):
    name = "rmu"
    description = "steer a layer's forget activations to a random direction, keep retain ones"
    paper = "Li et al. 2024, The WMDP Benchmark, ICML 2024, arXiv 2403.03218"
    reference = "centerforaisafety/wmdp rmu/unlearn.py (argument defaults) and README.md (the published " \
                "Zephyr-7B run: steering 6.5, alpha 1200, layer 7, layers 5-7, param 6)"
    deviations = RMU_DEVIATIONS
    alternatives = ("locuslab/open-unlearning configs/trainer/RMU.yaml: steering 2, alpha 1, layer 7, all "
                    "parameters trained",)
    updates = "mlp.down_proj of decoder layers layer-2 .. layer (under LoRA: the adapters inside them)"
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
        lora = any("lora_" in n for n, p in vlm.model.named_parameters() if p.requires_grad)
        keep = {id(p) for layer in chosen for n, p in layer.named_parameters()
                if in_module(n, o.params) and ("lora_" in n or not lora)}
        if not keep:
            raise ConfigError(
                f"method {self.name} option params={o.params!r}: no "
                f"{'LoRA ' if lora else ''}parameter of that module in decoder layers "
                f"{idx - len(chosen) + 1}..{idx}")
        for p in vlm.model.parameters():
            p.requires_grad_(id(p) in keep)

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
