"""Command-line flags shared by ``fiubench learn`` and ``fiubench unlearn``.

Flags left unset keep the config's value (preset, YAML file or dataclass default).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import yaml

from fiubench.errors import ConfigError

_PARTS = ("vision", "projector", "language")


def add_model_args(p: argparse.ArgumentParser, required: bool) -> None:
    g = p.add_argument_group("model")
    g.add_argument("--model", required=required, default=None,
                   help="'tiny', a checkpoint directory or a Hub id" + ("" if required else " (default: tiny)"))
    g.add_argument("--family", default=None, help="VLM family (default: detected)")
    g.add_argument("--dtype", default=None, choices=["float32", "bfloat16", "float16"])
    g.add_argument("--scope", default=None,
                   help="comma list of parts to train: vision,projector,language (default: projector,language)")
    g.add_argument("--lora", action="store_true", default=None, help="LoRA on the trained language/vision parts")
    g.add_argument("--lora-r", type=int, default=None)
    g.add_argument("--lora-alpha", type=int, default=None)
    g.add_argument("--gradient-checkpointing", action="store_true", default=None)
    g.add_argument("--trust-remote-code", action="store_true", default=None,
                   help="allow the checkpoint's own Python code (only for sources you trust)")
    g.add_argument("--allow-pickle", action="store_true", default=None,
                   help="load .bin/.pt (pickle) weights; default: safetensors only (only for files you trust)")


def add_train_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("optimisation")
    g.add_argument("--epochs", type=int, default=None)
    g.add_argument("--max-steps", type=int, default=None, help="stop after N optimiser steps")
    g.add_argument("--lr", type=float, default=None)
    g.add_argument("--batch-size", type=int, default=None, help="per process and micro-batch")
    g.add_argument("--grad-accum", type=int, default=None, help="gradient accumulation steps")
    g.add_argument("--weight-decay", type=float, default=None)
    g.add_argument("--warmup-ratio", type=float, default=None)
    g.add_argument("--scheduler", choices=["cosine", "linear", "constant"], default=None)
    g.add_argument("--max-grad-norm", type=float, default=None)
    g.add_argument("--mixed-precision", choices=["no", "bf16", "fp16"], default=None)
    g.add_argument("--seed", type=int, default=None)
    g.add_argument("--save-every", type=int, default=None, help="optimiser steps between checkpoints")
    g.add_argument("--save-total-limit", type=int, default=None, help="keep the last N checkpoints")
    g.add_argument("--report-to", action="append", default=None, choices=["tensorboard", "wandb"],
                   help="also log to TensorBoard / W&B (repeatable)")
    g.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--config", type=Path, default=None, help="YAML file with the run's config")
    p.add_argument("--overwrite", action="store_true", help="replace an existing, different run in --out")


def read_yaml(path: Path | None) -> dict[str, Any]:
    if path is None:
        return {}
    if not path.is_file():
        raise ConfigError(f"--config: {path} does not exist")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as e:
        raise ConfigError(f"--config: {path} is not valid YAML: {e}") from e
    if not isinstance(data, dict):
        raise ConfigError(f"--config: {path} must hold a mapping")
    return data


def model_overrides(args: argparse.Namespace, base: dict[str, Any]) -> dict[str, Any]:
    m = dict(base)
    for flag, key in (("model", "name_or_path"), ("family", "family"), ("dtype", "dtype"),
                      ("gradient_checkpointing", "gradient_checkpointing"),
                      ("trust_remote_code", "trust_remote_code"), ("allow_pickle", "allow_pickle")):
        v = getattr(args, flag)
        if v is not None:
            m[key] = v
    scope = dict(m.get("scope") or {})
    if args.scope is not None:
        parts = [s.strip() for s in args.scope.split(",") if s.strip()]
        bad = [s for s in parts if s not in _PARTS]
        if bad:
            raise ConfigError(f"--scope: unknown part(s) {bad}; choose from {', '.join(_PARTS)}")
        scope.update({part: part in parts for part in _PARTS})
    for flag, key in (("lora", "lora"), ("lora_r", "lora_r"), ("lora_alpha", "lora_alpha")):
        v = getattr(args, flag)
        if v is not None:
            scope[key] = v
    if scope:
        m["scope"] = scope
    return m


def train_overrides(args: argparse.Namespace, base: dict[str, Any]) -> dict[str, Any]:
    t = dict(base)
    for key in ("epochs", "max_steps", "lr", "batch_size", "grad_accum", "weight_decay", "warmup_ratio",
                "scheduler", "max_grad_norm", "mixed_precision", "seed", "save_every",
                "save_total_limit", "report_to"):
        v = getattr(args, key)
        if v is not None:
            t[key] = v
    if args.no_progress:
        t["progress"] = False
    return t
