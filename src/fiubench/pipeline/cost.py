"""What a run costs before it runs: steps, GPUs per step, GPU-hours, checkpoint bytes.

Estimates, from the model family's size and the grid; every constant is written here
and in docs/scale.md. A step's GPU memory:

* inference (eval, attack): weights x 1.2 (activations, KV cache);
* LoRA training: weights x 1.3 (adapters, their optimiser state, activations);
* full training (AdamW): weights + per *trainable* parameter a gradient in the model
  dtype and two fp32 moments (dtype bytes + 8), all x 1.2;

and its GPUs: that memory over 90 % of one GPU's (``gpu_memory_gb``, 80 by default),
rounded up. Trainable share of the parameters by part: language 0.90, vision 0.09,
projector 0.01. A LoRA adapter holds 5 % x r/128 of the parameters (r=128 on every
linear of Phi-3-mini's or Llama-2-7B's decoder: 5.3 % and 4.7 %).

Time: training ``(4 N + 2 N_trainable)`` FLOPs per token (forward, activation
gradients, weight gradients of the trained part) at ``mfu`` of ``tflops``;
unlearning twice that per step for methods with a retain term (one pass for GA);
evaluation 9 forward passes per question (7 scored variants, 2 generated answers'
prefill) plus ``max_new_tokens`` decode steps per batch of 2 generations, each reading
the weights once from GPU memory (``hbm_tbps``). A question is its image tokens plus
60 text tokens. The step cache keeps every checkpoint, so the peak storage of a run is
its total.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from fiubench.errors import ConfigError

# family -> (parameters in billions, image tokens per face at its usual resolution)
FAMILY_SIZES: dict[str, tuple[float, int]] = {
    "tiny": (0.001, 16),
    "llava-phi-3-mini": (4.14, 576),
    "llava-1.5": (7.06, 576),
    "llava-1.6": (7.57, 2880),
    "idefics2": (8.40, 320),
    "qwen2-vl": (8.29, 144),
    "qwen2.5-vl": (8.29, 144),
    "llama-3.2-vision": (10.67, 1601),
}
PART_SHARE = {"language": 0.90, "vision": 0.09, "projector": 0.01}
TEXT_TOKENS = 60
DTYPE_BYTES = {"float32": 4, "bfloat16": 2, "float16": 2}
NO_RETAIN_TERM = {"ga"}  # methods with one forward/backward pass per step


@dataclass
class Hardware:
    """What one GPU is assumed to do (H100 SXM figures by default)."""

    gpu_memory_gb: float = 80.0
    tflops: float = 989.0  # dense bf16
    mfu: float = 0.30
    hbm_tbps: float = 3.35


@dataclass
class PlannedStep:
    name: str
    kind: str  # data, learn, unlearn, eval, attack
    gpus: int
    gpu_hours: float
    bytes: int


@dataclass
class Plan:
    family: str
    params_b: float
    steps: list[PlannedStep] = field(default_factory=list)

    def by_kind(self) -> dict[str, tuple[int, float, int]]:
        out: dict[str, tuple[int, float, int]] = {}
        for s in self.steps:
            n, h, b = out.get(s.kind, (0, 0.0, 0))
            out[s.kind] = (n + 1, h + s.gpu_hours, b + s.bytes)
        return out

    @property
    def gpu_hours(self) -> float:
        return sum(s.gpu_hours for s in self.steps)

    @property
    def bytes(self) -> int:
        return sum(s.bytes for s in self.steps)


def family_of(cfg: Any) -> str:
    """The run's model family: ``model.family``, else the family whose default checkpoint
    (or name) is ``model.name_or_path``."""
    from fiubench.models.families import list_families

    m = cfg.model
    if m.family:
        name = m.family
    else:
        name = next((f.name for f in list_families() if m.name_or_path in (f.default_checkpoint, f.name)), "")
    if name not in FAMILY_SIZES:
        raise ConfigError(f"run.model.family: the size of {name or m.name_or_path!r} is unknown to the planner "
                          f"(known: {', '.join(FAMILY_SIZES)}); set run.model.family")
    return name


def trainable_share(scope: Any) -> float:
    if scope.lora:  # adapters on the language model, the projector in full
        return 0.05 * scope.lora_r / 128 + (PART_SHARE["projector"] if scope.projector else 0.0)
    return sum(share for part, share in PART_SHARE.items() if getattr(scope, part))


def step_memory_gb(params_b: float, dtype: str, kind: str, scope: Any) -> float:
    weights = params_b * DTYPE_BYTES.get(dtype, 4)
    if kind in ("eval", "attack"):
        return weights * 1.2
    if kind == "data":
        return 0.0
    if scope.lora:
        return weights * 1.3
    return (weights + params_b * trainable_share(scope) * (DTYPE_BYTES.get(dtype, 4) + 8)) * 1.2


def gpus_for(cfg: Any, kind: str, hw: Hardware | None = None) -> int:
    """GPUs a ``kind`` step of this run needs by its memory (the table of docs/scale.md)."""
    if kind == "data":
        return 0
    hw = hw or Hardware()
    params_b = FAMILY_SIZES[family_of(cfg)][0]
    scope = cfg.unlearn.scope if kind == "unlearn" else cfg.model.scope
    need = step_memory_gb(params_b, cfg.model.dtype, kind, scope)
    return max(1, math.ceil(need / (0.9 * hw.gpu_memory_gb)))


def _train_hours(n: float, trainable: float, tokens: float, hw: Hardware) -> float:
    return (4 * n + 2 * n * trainable) * tokens / (hw.tflops * 1e12 * hw.mfu) / 3600


def _optimizer_steps(samples: int, train: Any) -> int:
    per_epoch = math.ceil(samples / (train.batch_size * train.grad_accum))
    total = per_epoch * train.epochs
    return min(total, train.max_steps) if train.max_steps else total


def _split_sizes(cfg: Any) -> dict[str, int]:
    """Identities per split: from an external dataset's ``split.json`` when it has one,
    else of the embedded dataset the config would build (``data.qa_per_identity`` QA each)."""
    import json
    from pathlib import Path

    split_file = Path(cfg.dataset) / "split.json" if cfg.dataset is not None else None
    if split_file is not None and split_file.is_file():
        splits = {k: set(v) for k, v in json.loads(split_file.read_text(encoding="utf-8")).items()}
        sizes = {k: len(v) for k, v in splits.items()}
        hold = splits.get("holdout", set())
        sizes.setdefault("full", len(set().union(*splits.values()) - hold))
        sizes.setdefault("retain", sizes["full"] - sum(v for k, v in sizes.items() if k.startswith("forget")))
        sizes.setdefault("holdout", len(hold))
        return sizes
    d = cfg.data
    n = d.n_identities
    sizes = {f"forget{int(p) if float(p).is_integer() else p}": d.split_size(p) for p in d.forget_percents}
    sizes["full"] = n
    sizes["retain"] = n - sum(sizes[k] for k in list(sizes) if k.startswith("forget"))
    for p in d.retain_percents:
        sizes[f"retain{p}"] = d.split_size(p)
    sizes["holdout"] = d.n_holdout()
    return sizes


def plan_run(cfg: Any, hw: Hardware | None = None) -> Plan:
    """Every step ``fiubench run`` would run for ``cfg`` (an upper bound: early stopping
    may save fewer checkpoints), with its GPUs, GPU-hours and bytes written."""
    hw = hw or Hardware()
    family = family_of(cfg)
    params_b, image_tokens = FAMILY_SIZES[family]
    n = params_b * 1e9
    dtype_b = DTYPE_BYTES.get(cfg.model.dtype, 4)
    tok = image_tokens + TEXT_TOKENS
    sizes = _split_sizes(cfg)
    qa = cfg.data.qa_per_identity
    plan = Plan(family, params_b)
    add = plan.steps.append
    full_bytes = int(n * dtype_b)

    def eval_step(name: str, split: str) -> PlannedStep:
        e = cfg.eval
        retain_ids = min(sizes.get(e.retain_split, sizes["retain"]), e.retain_max_identities or sizes["retain"])
        questions = (sizes.get(split, 0) + retain_ids + sizes["holdout"]) * qa
        prefill = 9 * 2 * n * tok * questions / (hw.tflops * 1e12 * hw.mfu)
        decode = math.ceil(2 * questions / e.batch_size) * e.max_new_tokens * n * dtype_b / (hw.hbm_tbps * 1e12)
        return PlannedStep(name, "eval", gpus_for(cfg, "eval", hw), (prefill + decode) / 3600, 0)

    if cfg.dataset is None:
        add(PlannedStep("data", "data", 0, 0.0, 0))
    learn_labels = sorted({v.learn_label for v in cfg.variants()})
    for label in learn_labels:
        sfx = f"/{label}" if label else ""
        for role, split in (("finetuned", cfg.learn.full_split), ("retain", cfg.learn.retain_split)):
            t = cfg.learn.train
            steps = _optimizer_steps(sizes.get(split, sizes["full"]) * qa, t)
            tokens = steps * t.batch_size * t.grad_accum * tok
            kept = 1 + (t.save_total_limit or max(1, t.epochs))
            add(PlannedStep(f"learn/{role}{sfx}", "learn", gpus_for(cfg, "learn", hw),
                            _train_hours(n, trainable_share(cfg.model.scope), tokens, hw), kept * full_bytes))
        for split in cfg.forget_splits:
            add(eval_step(f"eval/retain{sfx}/{split}", split))
            add(eval_step(f"eval/finetuned{sfx}/{split}", split))
            add(PlannedStep(f"gate{sfx}/{split}", "gate", 0, 0.0, 0))  # the stage-1 gate: reads two evaluations
            for role in ("finetuned", "retain"):
                for a in cfg.attacks.names:
                    add(PlannedStep(f"attack/{a}/{role}{sfx}/{split}", "attack", gpus_for(cfg, "attack", hw),
                                    eval_step("", split).gpu_hours / 3, 0))
    if cfg.evaluate_base:
        for split in cfg.forget_splits:
            add(eval_step(f"eval/base/{split}", split))
    u = cfg.unlearn
    ckpt_bytes = int(n * trainable_share(u.scope) * dtype_b) if u.scope.lora else full_bytes
    for v in cfg.variants():
        sfx = f"/{v.label}" if v.label else ""
        for split in cfg.forget_splits:
            steps = _optimizer_steps(sizes[split] * qa, u.train)
            n_ckpt = max(1, steps // u.train.save_every) if u.train.save_every else u.train.epochs
            if u.train.save_total_limit:
                n_ckpt = min(n_ckpt, u.train.save_total_limit)
            for m in cfg.methods:
                tokens = steps * u.train.batch_size * u.train.grad_accum * tok * (1 if m in NO_RETAIN_TERM else 2)
                add(PlannedStep(f"unlearn/{m}/{split}{sfx}", "unlearn", gpus_for(cfg, "unlearn", hw),
                                _train_hours(n, trainable_share(u.scope), tokens, hw), (n_ckpt + 1) * ckpt_bytes))
                for i in range(n_ckpt if cfg.evaluate_checkpoints else 1):
                    add(eval_step(f"eval/{m}/{split}{sfx}/ckpt-{i + 1}", split))
                for a in cfg.attacks.names:
                    add(PlannedStep(f"attack/{a}/{m}/{split}{sfx}", "attack", gpus_for(cfg, "attack", hw),
                                    eval_step("", split).gpu_hours / 3, 0))
    if u.requests > 1:  # sequential deletion requests: a view per split, then per method R unlearn + evaluate
        for split in cfg.forget_splits:
            add(PlannedStep(f"requests/{split}", "data", 0, 0.0, 0))
            steps = _optimizer_steps(max(1, sizes[split] // u.requests) * qa, u.train)
            for v in cfg.variants():
                for m in cfg.methods:
                    for i in range(1, u.requests + 1):
                        tokens = steps * u.train.batch_size * u.train.grad_accum * tok * 2
                        label = ",".join(x for x in (v.label, f"requests={i}of{u.requests}") if x)
                        add(PlannedStep(f"unlearn/{m}/{split}/{label}", "unlearn",
                                        gpus_for(cfg, "unlearn", hw),
                                        _train_hours(n, trainable_share(u.scope), tokens, hw), ckpt_bytes))
                        add(eval_step(f"eval/{m}/{split}/{label}", split))
    return plan


__all__ = ["FAMILY_SIZES", "Hardware", "Plan", "PlannedStep", "family_of", "gpus_for", "plan_run",
           "step_memory_gb", "trainable_share"]
