"""``load_vlm``: resolve a checkpoint, check its family, load, freeze per scope.

Safetensors only (``use_safetensors=True``: a pickle checkpoint is refused, never
unpickled); remote code only with ``trust_remote_code``.
"""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

from fiubench.errors import ConfigError, FiubenchError
from fiubench.models.config import ModelConfig, TuningScope, placement_kwargs
from fiubench.models.families import FamilySpec, detect_family, get_family, list_families
from fiubench.models.processing import load_processor
from fiubench.models.vlm import EXTRA_TRAINABLE_FILE, VLM, read_meta, weights_fingerprint

_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def tiny_base_dir() -> Path:
    """Where the shipped tiny base lives (package data)."""
    return Path(__file__).resolve().parent.parent / "assets" / "tiny" / "base"


def resolve_path(name_or_path: str) -> Path | str:
    """A local directory, or a Hub id string; a clear error for anything else."""
    if name_or_path == "tiny":
        base = tiny_base_dir()
        if not (base / "config.json").is_file():
            raise ConfigError(
                f"model.name_or_path: the embedded tiny base is missing from {base}; "
                "rebuild it with `fiubench base build --install`"
            )
        return base
    path = Path(name_or_path).expanduser()
    if path.is_dir():
        return path.resolve()
    if path.exists():
        raise ConfigError(f"model.name_or_path: {name_or_path} is a file; expected a checkpoint directory")
    if _HUB_ID.match(name_or_path) and not name_or_path.startswith("."):
        return name_or_path  # a Hub id: downloads (or uses the local HF cache)
    raise ConfigError(
        f"model.name_or_path: {name_or_path} does not exist (expected 'tiny', a checkpoint "
        "directory or a Hub id like org/name)"
    )


def _read_config(source: Path | str, trust_remote_code: bool) -> dict[str, Any]:
    if isinstance(source, Path):
        f = source / "config.json"
        if not f.is_file():
            raise ConfigError(f"model.name_or_path: {source} has no config.json (not a model checkpoint)")
        try:
            return dict(json.loads(f.read_text()))
        except json.JSONDecodeError as e:
            raise ConfigError(f"{f}: invalid JSON ({e})") from e
    from transformers import AutoConfig

    try:
        return AutoConfig.from_pretrained(source, trust_remote_code=trust_remote_code).to_dict()
    except Exception as e:  # network, auth, missing repo: all one message
        raise ConfigError(
            f"model.name_or_path: {source} is not a local directory and could not be fetched "
            f"from the Hugging Face Hub ({type(e).__name__}: {e})"
        ) from e


def _check_family(cfg: ModelConfig, source: Path | str, hf_config: dict[str, Any],
                  meta: dict[str, Any] | None) -> FamilySpec:
    """The family to use; an error when the checkpoint belongs to another one."""
    model_type = hf_config.get("model_type")
    if cfg.family is not None:
        fam = get_family(cfg.family)
        if model_type not in fam.model_types:
            detected = detect_family(hf_config)
            hint = f" (that is family {detected.name!r})" if detected else ""
            raise ConfigError(
                f"model.family: {source} is a {model_type!r} checkpoint{hint}, not a {fam.name!r} "
                f"({fam.model_class}) one; fix model.family or leave it unset to detect it"
            )
        text_type = (hf_config.get("text_config") or {}).get("model_type")
        if fam.text_model_type and text_type and text_type != fam.text_model_type:
            raise ConfigError(
                f"model.family: {source} has a {text_type!r} language model, but family {fam.name!r} "
                f"expects {fam.text_model_type!r}; fix model.family or leave it unset"
            )
        if meta and meta.get("family") and meta["family"] != fam.name:
            raise ConfigError(
                f"model.family: {source} was saved as family {meta['family']!r}, not {fam.name!r}"
            )
        return fam
    if meta and meta.get("family"):
        return get_family(str(meta["family"]))
    fam = detect_family(hf_config)
    if fam is None:
        known = ", ".join(f"{f.name} ({'/'.join(f.model_types)})" for f in list_families())
        raise ConfigError(
            f"model.family: cannot detect the family of {source} (model_type={model_type!r}, "
            f"architectures={hf_config.get('architectures')}); supported: {known}"
        )
    return fam


def _attn(cfg: ModelConfig, cls: type) -> str:
    if cfg.attn_implementation is not None:
        return cfg.attn_implementation
    return "sdpa" if getattr(cls, "_supports_sdpa", False) else "eager"


def _device(cfg: ModelConfig) -> torch.device:
    if cfg.device is not None:
        return torch.device(cfg.device)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def _load_plain(cfg: ModelConfig, source: Path | str, fam: FamilySpec) -> torch.nn.Module:
    import transformers

    # One checkpoint per few steps gets loaded by evaluation: no per-load progress bars.
    transformers.utils.logging.disable_progress_bar()
    cls = getattr(transformers, fam.model_class)
    if isinstance(source, Path):
        refuse_pickle(source, cfg.allow_pickle, "model.name_or_path")
    try:
        model = cls.from_pretrained(
            str(source), dtype=DTYPES[cfg.dtype], attn_implementation=_attn(cfg, cls),
            trust_remote_code=cfg.trust_remote_code, use_safetensors=None if cfg.allow_pickle else True,
            **placement_kwargs(cfg, quantization_skip(fam)),
        )
    except OSError as e:
        raise ConfigError(f"model.name_or_path: could not load {fam.model_class} weights from {source}: {e}") from e
    return model


def quantization_skip(fam: FamilySpec) -> list[str]:
    """Modules kept in float when quantizing (a module is skipped when one of these is a
    substring of its name, as bitsandbytes' ``llm_int8_skip_modules`` matches): the
    projector (trained in full by the paper's recipe) and the LM head. Every other
    ``nn.Linear`` (language model and vision tower) is quantized, by bitsandbytes on GPU
    and by the quantization attack's optimum-quanto path on CPU alike."""
    return [*fam.projector_prefixes, "lm_head"]


PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".ckpt")


def refuse_pickle(directory: Path, allow: bool, option: str, flag: str = "--allow-pickle",
                  stem: str = "") -> None:
    """Safetensors only: a checkpoint directory that holds pickle weights (whose name
    starts with ``stem``, e.g. "adapter_model") and no safetensors of that name is
    refused unless the user allowed pickle explicitly."""
    if allow or not directory.is_dir() or any(directory.glob(f"{stem}*.safetensors")):
        return
    pickles = sorted(p.name for p in directory.iterdir() if p.suffix in PICKLE_SUFFIXES and p.name.startswith(stem))
    if pickles:
        raise ConfigError(
            f"{option}: {directory} holds pickle weights ({', '.join(pickles[:3])}) and no .safetensors; "
            f"fiubench loads safetensors only (unpickling can run code). Convert them to safetensors, or "
            f"pass {flag} (model.allow_pickle: true) if you trust the file"
        )


def load_vlm(cfg: ModelConfig) -> VLM:
    """Load a VLM (the tiny base, a HF checkpoint, or one written by ``VLM.save``).

    The returned model has its parameters frozen according to ``cfg.scope`` (LoRA
    adapters added when ``scope.lora``). A LoRA checkpoint is loaded on its base and
    kept as an adapter when ``scope.lora`` (training continues on it), else merged.
    """
    cfg.validate()
    source = resolve_path(cfg.name_or_path)
    meta = read_meta(source) if isinstance(source, Path) else None
    if meta is not None and meta.get("kind") == "lora":
        return _load_lora_checkpoint(cfg, source, meta)  # type: ignore[arg-type]
    hf_config = _read_config(source, cfg.trust_remote_code)
    fam = _check_family(cfg, source, hf_config, meta)
    model = _load_plain(cfg, source, fam)
    processor = load_processor(source, fam.name, cfg.trust_remote_code)
    base = cfg.name_or_path if cfg.name_or_path == "tiny" or not isinstance(source, Path) else str(source)
    vlm = _finish(cfg, model, processor, fam, base)
    if isinstance(source, Path):
        vlm.base_fingerprint = weights_fingerprint(source)
    return vlm


def _load_lora_checkpoint(cfg: ModelConfig, source: Path, meta: dict[str, Any]) -> VLM:
    from peft import PeftModel
    from safetensors.torch import load_file

    base = str(meta.get("base") or "")
    if not base:
        raise FiubenchError(f"{source}/fiubench_model.json: LoRA checkpoint without 'base'")
    fam_name = str(meta["family"])
    if cfg.family is not None and cfg.family != fam_name:
        get_family(cfg.family)
        raise ConfigError(f"model.family: {source} was saved as family {fam_name!r}, not {cfg.family!r}")
    fam = get_family(fam_name)
    # Quantized base only when training goes on on the adapter (QLoRA); otherwise the
    # adapter is merged in full precision first and the merged weights are quantized.
    base_cfg = replace(cfg, name_or_path=base, family=fam_name, scope=TuningScope(), gradient_checkpointing=False,
                       quantization=cfg.quantization if cfg.scope.lora else None)
    base_source = resolve_path(base)
    expected = meta.get("base_fingerprint")
    if expected and isinstance(base_source, Path) and weights_fingerprint(base_source) != expected:
        raise ConfigError(
            f"model.name_or_path: {source} is a LoRA adapter of {base}, whose weights have changed since "
            "it was trained (fingerprint mismatch); load it on the exact base it was trained on"
        )
    # adapter_model.bin would be unpickled by PEFT: refused unless allowed
    refuse_pickle(source, cfg.allow_pickle, "model.name_or_path", stem="adapter_model")
    model = _load_plain(base_cfg, base_source, fam)
    model = PeftModel.from_pretrained(model, str(source), is_trainable=cfg.scope.lora)
    extra_file = source / EXTRA_TRAINABLE_FILE
    if extra_file.is_file():
        extra = load_file(str(extra_file))
        missing = set(extra) - {n for n, _ in model.named_parameters()}
        if missing:
            raise FiubenchError(f"{extra_file}: tensors not in the model: {sorted(missing)[:5]}")
        with torch.no_grad():
            params = dict(model.named_parameters())
            for n, t in extra.items():
                params[n].copy_(t.to(params[n].dtype))
    processor = load_processor(source, fam.name, cfg.trust_remote_code)
    if cfg.scope.lora:
        vlm = _finish(cfg, model, processor, fam, base, already_lora=True)
        vlm.base_fingerprint = expected
        return vlm
    merged = model.merge_and_unload()
    if cfg.quantization is not None:
        return _quantize_merged(cfg, merged, processor, fam, source)
    return _finish(cfg, merged, processor, fam, str(source))


def _quantize_merged(cfg: ModelConfig, merged: torch.nn.Module, processor: Any, fam: FamilySpec,
                     source: Path) -> VLM:
    """A LoRA checkpoint quantized the way Zhang et al. (ICLR 2025) quantize an unlearned
    model: the adapter merged into the base in full precision, then the merged weights
    quantized by bitsandbytes at load time (it only quantizes while loading, hence the
    round trip through a temporary directory). A small unlearning delta is then rounded
    together with the base weights, so it can fall back into the fine-tuned bucket."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix="fiubench_merged_") as tmp:
        merged.save_pretrained(tmp, safe_serialization=True)
        del merged
        model = _load_plain(replace(cfg, family=fam.name), Path(tmp), fam)
    return _finish(cfg, model, processor, fam, str(source))


def _finish(cfg: ModelConfig, model: torch.nn.Module, processor: Any, fam: FamilySpec, base: str,
            already_lora: bool = False) -> VLM:
    from fiubench.models.scope import apply_scope

    if cfg.device_map is None and cfg.quantization is None:  # else from_pretrained placed the weights
        model.to(_device(cfg))
    if cfg.gradient_checkpointing:
        enable = getattr(model, "activation_checkpointing_enable", None)
        if enable is not None:  # transformers >= 5.2 name
            enable(activation_checkpointing_kwargs={"use_reentrant": False})
        else:
            model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    if cfg.quantization is not None and cfg.scope.lora and not already_lora:
        # QLoRA: norms in float32 and input gradients for checkpointing, before the adapters
        from peft import prepare_model_for_kbit_training

        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=cfg.gradient_checkpointing)
    model = apply_scope(model, fam, cfg.scope, already_lora=already_lora)
    vlm = VLM(model, processor, fam, cfg, base)
    gen = getattr(vlm.hf_model, "generation_config", None)
    if gen is not None:
        gen.pad_token_id = vlm.pad_token_id
        gen.eos_token_id = vlm.eos_token_ids()
    model.train()
    return vlm
