"""Model configuration: which VLM, which dtype/device, and what training updates."""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field

from fiubench.errors import ConfigError

DTYPES = ("float32", "bfloat16", "float16")
ATTN_IMPLEMENTATIONS = ("eager", "sdpa", "flash_attention_2")


@dataclass
class TuningScope:
    """What stage-1/2 training updates.

    Full fine-tuning trains every parameter of the enabled parts. With ``lora=True``
    the enabled *language* (and, if asked, *vision*) parts get LoRA adapters on their
    linear layers (Hu et al. 2021: W + (alpha/r) B A) and stay frozen otherwise; the
    projector, when enabled, is trained in full (PEFT ``modules_to_save``). FIUBench
    stage 1: projector + language model, full; stage 2: LoRA r=128, alpha=256 on the
    language model plus the full projector.
    """

    vision: bool = False
    projector: bool = True
    language: bool = True
    lora: bool = False
    lora_r: int = 128
    lora_alpha: int = 256
    lora_dropout: float = 0.05
    lora_targets: list[str] | None = None  # None -> the family's defaults (language model only)

    def validate(self) -> None:
        if not (self.vision or self.projector or self.language):
            raise ConfigError("model.scope: nothing to train (vision, projector and language are all false)")
        if self.lora_r < 1:
            raise ConfigError(f"model.scope.lora_r: must be >= 1, got {self.lora_r}")
        if not 0.0 <= self.lora_dropout < 1.0:
            raise ConfigError(f"model.scope.lora_dropout: must be in [0, 1), got {self.lora_dropout}")
        if self.lora_targets is not None and not self.lora_targets:
            raise ConfigError("model.scope.lora_targets: empty list (use null for the family's defaults)")


@dataclass
class ModelConfig:
    """Which VLM to load and how.

    ``name_or_path``: "tiny" (the embedded base shipped in the package), a local
    directory (a Hugging Face checkpoint or one written by ``VLM.save``), or a Hub id
    "org/name" (downloads; never at test time).
    """

    name_or_path: str = "tiny"
    family: str | None = None  # None -> detect from config.json (model_type / architectures)
    dtype: str = "float32"  # float32|bfloat16|float16
    scope: TuningScope = field(default_factory=TuningScope)
    gradient_checkpointing: bool = False
    attn_implementation: str | None = None  # None -> "sdpa" when supported, else "eager"
    trust_remote_code: bool = False
    device: str | None = None  # None -> cuda if available else cpu

    def validate(self) -> None:
        from fiubench.models.families import get_family

        if not self.name_or_path:
            raise ConfigError("model.name_or_path: empty")
        if self.family is not None:
            get_family(self.family)
        if self.dtype not in DTYPES:
            raise ConfigError(f"model.dtype: {self.dtype!r} is not one of {', '.join(DTYPES)}")
        if self.attn_implementation is not None:
            if self.attn_implementation not in ATTN_IMPLEMENTATIONS:
                raise ConfigError(
                    f"model.attn_implementation: {self.attn_implementation!r} is not one of "
                    f"{', '.join(ATTN_IMPLEMENTATIONS)} (or null for automatic)"
                )
            if (
                self.attn_implementation == "flash_attention_2"
                and importlib.util.find_spec("flash_attn") is None
            ):
                raise ConfigError(
                    "model.attn_implementation: flash_attention_2 asked but the flash-attn package "
                    "is not installed (pip install flash-attn, needs a CUDA GPU); use sdpa"
                )
        if self.device is not None and not (
            self.device == "cpu" or self.device.startswith(("cuda", "mps", "xpu"))
        ):
            raise ConfigError(f"model.device: {self.device!r} is not cpu, cuda[:N], mps or xpu")
        self.scope.validate()
