"""`fiubench plan`: what a run (or several: one per family) would cost, before it runs.

    fiubench plan [--preset NAME | --config FILE]... [--families A,B] [--forget-splits S,T] [--seeds N]
                  [--gpu-memory-gb 80] [--tflops 989] [--mfu 0.3] [--steps]

Prints the number of steps per kind, the GPUs each kind asks for, the estimated
GPU-hours and the bytes of checkpoints written (the step cache keeps them all: that
is also the peak storage). Nothing is loaded or written. The constants behind the
estimates: ``fiubench.pipeline.cost`` and docs/scale.md.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

HELP = "estimate a run's steps, GPUs, GPU-hours and checkpoint storage before running it"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--preset", action="append", default=[], help="shipped preset (repeatable)")
    p.add_argument("--config", action="append", default=[], type=Path, help="YAML run config (repeatable)")
    p.add_argument("--seeds", type=int, default=None, metavar="N", help="as `fiubench run --seeds N`")
    p.add_argument("--families", metavar="A,B,...",
                   help="plan each config once per model family (its default checkpoint), e.g. the paper's grid")
    p.add_argument("--forget-splits", metavar="S,T,...", help="override the config's forget_splits")
    p.add_argument("--gpu-memory-gb", type=float, default=80.0, help="memory of one GPU (default 80)")
    p.add_argument("--tflops", type=float, default=989.0, help="dense bf16 TFLOPS of one GPU (default: H100 SXM)")
    p.add_argument("--mfu", type=float, default=0.30, help="assumed model FLOPs utilisation (default 0.30)")
    p.add_argument("--steps", action="store_true", help="list every planned step")


def _human(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB", "PB"):
        if n < 1000 or unit == "PB":
            return f"{n:.1f} {unit}" if unit != "B" else f"{n:.0f} B"
        n /= 1000
    return ""


def _variants(args: argparse.Namespace, cfg: Any) -> list[Any]:
    """The config with the command's overrides, once per ``--families`` family."""
    import copy

    from fiubench.errors import ConfigError
    from fiubench.models.families import get_family

    if args.seeds is not None:
        cfg.seeds = args.seeds
    if args.forget_splits:
        cfg.forget_splits = [s.strip() for s in args.forget_splits.split(",") if s.strip()]
    cfg.validate()
    if not args.families:
        return [cfg]
    out = []
    for name in (f.strip() for f in args.families.split(",") if f.strip()):
        try:
            fam = get_family(name)
        except Exception as e:  # noqa: BLE001 - the registry's did-you-mean error
            raise ConfigError(f"--families: {e}") from None
        c = copy.deepcopy(cfg)
        c.model.family, c.model.name_or_path = fam.name, fam.default_checkpoint
        c.name = f"{cfg.name}[{fam.name}]"
        out.append(c)
    return out


def run(args: argparse.Namespace) -> int:
    from fiubench.errors import ConfigError
    from fiubench.pipeline.cost import Hardware, plan_run
    from fiubench.presets import load_run_config

    for name, v in (("--gpu-memory-gb", args.gpu_memory_gb), ("--tflops", args.tflops)):
        if not v > 0:
            raise ConfigError(f"{name}: must be > 0, got {v}")
    if not 0 < args.mfu <= 1:
        raise ConfigError(f"--mfu: must be in (0, 1], got {args.mfu}")
    hw = Hardware(gpu_memory_gb=args.gpu_memory_gb, tflops=args.tflops, mfu=args.mfu)
    sources = [(p, None) for p in args.preset] + [(None, c) for c in args.config] or [(None, None)]
    total_steps, total_h, total_b = 0, 0.0, 0
    if args.seeds is not None and args.seeds < 1:
        raise ConfigError(f"--seeds: must be >= 1, got {args.seeds}")
    configs = [cfg for preset, config in sources for cfg in _variants(args, load_run_config(preset, config))]
    if len(configs) > 1:
        sources = configs  # the total line below
    for cfg in configs:
        plan = plan_run(cfg, hw)
        print(f"{cfg.name}: family {plan.family} (~{plan.params_b:g} B parameters, {cfg.model.dtype}), "
              f"{len(cfg.variants())} variant(s) x {len(cfg.methods)} method(s) x {len(cfg.forget_splits)} split(s)")
        print(f"  {'kind':<8} {'steps':>6} {'GPUs/step':>9} {'GPU-hours':>10} {'checkpoints':>12}")
        for kind, (n, h, b) in plan.by_kind().items():
            gpus = max(s.gpus for s in plan.steps if s.kind == kind)
            print(f"  {kind:<8} {n:>6} {gpus:>9} {h:>10.1f} {_human(b):>12}")
        print(f"  {'total':<8} {len(plan.steps):>6} {'':>9} {plan.gpu_hours:>10.1f} {_human(plan.bytes):>12}")
        if args.steps:
            for s in plan.steps:
                print(f"    {s.name}: {s.gpus} GPU, {s.gpu_hours:.3f} GPU-h, {_human(s.bytes)}")
        total_steps, total_h, total_b = total_steps + len(plan.steps), total_h + plan.gpu_hours, total_b + plan.bytes
    if len(sources) > 1:
        print(f"all: {total_steps} steps, {total_h:.0f} GPU-hours, {_human(total_b)} of checkpoints")
    print(f"peak storage = checkpoints written (the step cache keeps every one); estimates assume "
          f"{hw.gpu_memory_gb:g} GB GPUs at {hw.tflops:g} TFLOPS x MFU {hw.mfu:g} (docs/scale.md)")
    return 0
