"""Freeze a VLM per ``TuningScope``; add LoRA adapters (PEFT) when asked."""

from __future__ import annotations

import re

import torch

from fiubench.errors import ConfigError
from fiubench.models.config import TuningScope
from fiubench.models.families import FamilySpec

_LINEAR_TYPES: tuple[type, ...] = (torch.nn.Linear,)


def _enabled_parts(scope: TuningScope) -> set[str]:
    return {p for p, on in (("vision", scope.vision), ("projector", scope.projector),
                            ("language", scope.language)) if on}


def lora_target_modules(model: torch.nn.Module, family: FamilySpec, scope: TuningScope) -> list[str]:
    """Full names of the linear layers that get LoRA adapters under ``scope``.

    Defaults: the family's language-model linears (attention + MLP of each decoder
    block) when ``language``, every linear of the vision tower when ``vision``.
    ``scope.lora_targets`` restricts to names that equal, end with ".<target>", or
    full-match a regex target, always within the enabled parts.
    """
    lora_parts = _enabled_parts(scope) & {"language", "vision"}
    names: list[str] = []
    for name, mod in model.named_modules():
        if not isinstance(mod, _LINEAR_TYPES):
            continue
        part = family.part_of(name)
        if part not in lora_parts:
            continue
        if scope.lora_targets is None:
            ok = part == "vision" or re.fullmatch(family.lora_target_regex, name) is not None
        else:
            ok = any(name == t or name.endswith("." + t) or re.fullmatch(t, name) for t in scope.lora_targets)
        if ok:
            names.append(name)
    return names


def apply_scope(model: torch.nn.Module, family: FamilySpec, scope: TuningScope,
                already_lora: bool = False) -> torch.nn.Module:
    """Set ``requires_grad`` per scope; wrap in a PeftModel when ``scope.lora``.

    Raises ConfigError when the scope selects no parameter or LoRA matches no module.
    """
    parts = _enabled_parts(scope)
    if not scope.lora:
        n_on = 0
        for name, p in model.named_parameters():
            on = family.part_of(name) in parts
            p.requires_grad_(on)
            n_on += on
        if n_on == 0:
            raise ConfigError(f"model.scope: no parameter of {sorted(parts)} found in this {family.name} model")
        return model
    if already_lora:
        # A loaded adapter: LoRA weights trainable; projector copies per scope.
        for name, p in model.named_parameters():
            if "lora_" in name:
                p.requires_grad_(True)
            elif "modules_to_save" in name or family.part_of(name) == "projector":
                p.requires_grad_(scope.projector and "original_module" not in name)
            else:
                p.requires_grad_(False)
        return model

    from peft import LoraConfig, get_peft_model

    targets = lora_target_modules(model, family, scope)
    if not targets:
        lora_parts = sorted(parts & {"language", "vision"})
        raise ConfigError(
            f"model.scope: LoRA matches no module (lora_targets={scope.lora_targets}, "
            f"parts with LoRA: {lora_parts or 'none: enable language or vision'}) in this "
            f"{family.name} model"
        )
    module_names = {n for n, _ in model.named_modules()}
    to_save = [p for p in family.projector_prefixes if p in module_names] if scope.projector else []
    lcfg = LoraConfig(
        r=scope.lora_r, lora_alpha=scope.lora_alpha, lora_dropout=scope.lora_dropout,
        target_modules=targets, modules_to_save=to_save or None, bias="none",
    )
    peft_model = get_peft_model(model, lcfg)
    if scope.projector:
        # Projector tensors that are bare Parameters (LLaVA-NeXT's image_newline).
        for name, p in peft_model.named_parameters():
            if family.part_of(name) == "projector" and "original_module" not in name:
                p.requires_grad_(True)
    return peft_model
