"""Model configuration: which VLM, which dtype/device, and what training updates."""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field
from typing import Any

from fiubench.errors import ConfigError

DTYPES = ("float32", "bfloat16", "float16")
QUANTIZATIONS = ("4bit", "8bit")
DEVICE_MAPS = ("auto", "balanced", "balanced_low_0", "sequential")
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

    def validate(self, where: str = "model.scope") -> None:
        if not (self.vision or self.projector or self.language):
            raise ConfigError(f"{where}: nothing to train (vision, projector and language are all false)")
        if self.lora_r < 1:
            raise ConfigError(f"{where}.lora_r: must be >= 1, got {self.lora_r}")
        if not 0.0 <= self.lora_dropout < 1.0:
            raise ConfigError(f"{where}.lora_dropout: must be in [0, 1), got {self.lora_dropout}")
        if self.lora_targets is not None and not self.lora_targets:
            raise ConfigError(f"{where}.lora_targets: empty list (use null for the family's defaults)")


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
    # Weights are read from safetensors only; True also loads pickle files (.bin/.pt),
    # which can run code when unpickled: only for files you trust.
    allow_pickle: bool = False
    device: str | None = None  # None -> cuda if available else cpu
    # Big models (see docs/scale.md). device_map: spread the weights over the GPUs (and
    # CPU / disk when they do not fit): auto|balanced|balanced_low_0|sequential or an
    # explicit {module: device}; max_memory: per-device caps {"0": "70GiB", "cpu": "200GiB"};
    # offload_folder: where weights that fit nowhere go. quantization: load the weights in
    # 4-bit (NF4) or 8-bit with bitsandbytes (CUDA GPUs only); training then needs LoRA.
    device_map: str | dict[str, Any] | None = None
    max_memory: dict[str, str] | None = None
    offload_folder: str | None = None
    quantization: str | None = None

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
        self._validate_placement()

    def _validate_placement(self) -> None:
        if isinstance(self.device_map, str) and self.device_map not in DEVICE_MAPS:
            raise ConfigError(
                f"model.device_map: {self.device_map!r} is not one of {', '.join(DEVICE_MAPS)} "
                "(or a mapping {module: device}, or null)"
            )
        if self.device_map is not None and self.device is not None:
            raise ConfigError("model.device: set either model.device or model.device_map, not both "
                              "(device_map places the weights itself)")
        if self.max_memory is not None and self.device_map is None:
            raise ConfigError("model.max_memory: only with model.device_map (e.g. device_map: auto)")
        if self.offload_folder is not None and self.device_map is None:
            raise ConfigError("model.offload_folder: only with model.device_map (e.g. device_map: auto)")
        if self.quantization is None:
            return
        if self.quantization not in QUANTIZATIONS:
            raise ConfigError(f"model.quantization: {self.quantization!r} is not one of "
                              f"{', '.join(QUANTIZATIONS)} (or null)")
        if self.device is not None and not self.device.startswith("cuda"):
            raise ConfigError(f"model.quantization: {self.quantization} loading (bitsandbytes) needs a CUDA "
                              f"GPU, but model.device is {self.device!r}")
        if importlib.util.find_spec("bitsandbytes") is None:
            raise ConfigError(f"model.quantization: {self.quantization} loading needs the bitsandbytes package "
                              "(pip install bitsandbytes, on a machine with a CUDA GPU)")
        if self.device is None and not _cuda_available():
            raise ConfigError(f"model.quantization: {self.quantization} loading (bitsandbytes) needs a CUDA "
                              "GPU and this machine has none")

    def check_trainable(self, where: str = "model") -> None:
        """Training a quantized model: only LoRA adapters (QLoRA) can be trained."""
        if self.quantization is None:
            return
        if not self.scope.lora:
            raise ConfigError(
                f"{where}.scope: {self.quantization} weights cannot be trained in full; train LoRA adapters "
                f"(scope: {{lora: true}}; the projector is kept in full precision and trained in full)"
            )


def _cuda_available() -> bool:
    try:
        import torch

        return bool(torch.cuda.is_available())
    except Exception:  # noqa: BLE001 - no usable torch: no GPU
        return False


def placement_kwargs(cfg: ModelConfig, skip_modules: list[str] | None = None) -> dict[str, Any]:
    """``from_pretrained`` keyword arguments for ``device_map`` / offload / quantization.

    ``skip_modules``: modules kept in full precision when quantizing (the projector and
    the LM head: the paper's recipe trains the projector in full).
    """
    kw: dict[str, Any] = {}
    if cfg.device_map is not None:
        kw["device_map"] = cfg.device_map
    if cfg.max_memory is not None:
        kw["max_memory"] = {int(k) if str(k).isdigit() else k: v for k, v in cfg.max_memory.items()}
    if cfg.offload_folder is not None:
        kw["offload_folder"] = cfg.offload_folder
    if cfg.quantization is not None:
        import torch
        from transformers import BitsAndBytesConfig

        compute = {"bfloat16": torch.bfloat16, "float16": torch.float16}.get(cfg.dtype, torch.bfloat16)
        skip = list(skip_modules or [])
        if cfg.quantization == "4bit":
            kw["quantization_config"] = BitsAndBytesConfig(
                load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
                bnb_4bit_compute_dtype=compute, llm_int8_skip_modules=skip or None,
            )
        else:
            kw["quantization_config"] = BitsAndBytesConfig(load_in_8bit=True, llm_int8_skip_modules=skip or None)
        kw.setdefault("device_map", {"": "cuda" if cfg.device is None else cfg.device})
    return kw
