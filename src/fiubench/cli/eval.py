"""`fiubench eval`: evaluate one model checkpoint on a FIUBench dataset.

    fiubench eval --model CKPT --data D --forget forget5 \\
        [--retain-eval RETAIN_RESULT_DIR|self] [--judge similarity|openai|hf|none] \\
        [--skip judge ks mia visual ...] [--batch-size 16] --out DIR

Writes DIR/results.json (metrics, metric_info, aggregates, judge, provenance incl. the
checkpoint's sha256) and DIR/per_sample.jsonl, atomically.

Under ``torchrun --nproc_per_node N`` / ``accelerate launch --num_processes N`` the
model passes are split across the N processes (one GPU each) and gathered; the
metrics equal the single-process ones exactly (fiubench.eval.shard). Rank 0 writes.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

from fiubench.errors import ConfigError

HELP = "evaluate a model: forget quality and model utility"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", required=True, help="checkpoint directory (or 'tiny')")
    p.add_argument("--data", required=True, type=Path, help="dataset directory")
    p.add_argument("--forget", default=None, help="forget split: forget1|forget5|forget10 (default forget5)")
    p.add_argument("--out", required=True, type=Path, help="results directory (created atomically)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    p.add_argument("--config", type=Path, help="YAML/JSON file with EvalConfig keys (flags override it)")
    p.add_argument("--retain-eval", type=Path,
                   help="the retain model's result dir on the same forget split (KS test); "
                        "'self' when evaluating the retain model itself")
    p.add_argument("--judge", choices=["similarity", "openai", "hf", "none"], help="judge backend (default similarity)")
    p.add_argument("--judge-model", help="openai: model name; hf: local model dir; similarity: model dir")
    p.add_argument("--judge-base-url", help="OpenAI-compatible endpoint (else env OPENAI_BASE_URL)")
    p.add_argument("--judge-cache", type=Path, help="verdict cache file (JSON lines)")
    p.add_argument("--skip", nargs="+", default=None, metavar="METRIC",
                   help="headline metrics or groups not to compute: judge ks mia visual (aggregates say so)")
    p.add_argument("--batch-size", type=int)
    p.add_argument("--max-new-tokens", type=int)
    p.add_argument("--retain-max-identities", type=int, help="retain identities evaluated (subsampled with --seed)")
    p.add_argument("--mia-k", type=float, help="Min-K%% fraction (default 0.2)")
    p.add_argument("--truth-ratio-mean", choices=["geometric", "arithmetic"],
                   help="mean over perturbed answers in the truth ratio (default geometric, as the "
                        "TOFU/FIUBench code); the retain reference must use the same")
    p.add_argument("--mme", type=Path, help="local MME directory (<task>.txt files)")
    p.add_argument("--pope", type=Path, help="local POPE jsonl")
    p.add_argument("--pope-images", type=Path, help="POPE image directory")
    p.add_argument("--seed", type=int)
    p.add_argument("--device", help="cpu, cuda, cuda:N (default: cuda if available)")
    p.add_argument("--trust-remote-code", action="store_true", help="allow model code from the checkpoint")
    p.add_argument("--dtype", choices=["float32", "bfloat16", "float16"], help="weights dtype (default float32)")
    p.add_argument("--device-map", metavar="auto|balanced|sequential",
                   help="spread a model that does not fit one GPU over the GPUs (and CPU/disk)")
    p.add_argument("--max-memory", nargs="+", metavar="DEVICE=SIZE",
                   help="with --device-map: per-device caps, e.g. 0=70GiB 1=70GiB cpu=200GiB")
    p.add_argument("--offload-folder", type=Path, help="with --device-map: where weights that fit nowhere go")
    p.add_argument("--quantization", choices=["4bit", "8bit"],
                   help="load the weights in 4-bit (NF4) or 8-bit with bitsandbytes (CUDA GPU only)")
    p.add_argument("--allow-pickle", action="store_true",
                   help="load .bin/.pt (pickle) weights; default: safetensors only (only for files you trust)")


def _file_config(path: Path | None) -> dict[str, Any]:
    if path is None:
        return {}
    if not path.is_file():
        raise ConfigError(f"--config {path}: not a file")
    text = path.read_text(encoding="utf-8")
    try:
        if path.suffix == ".json":
            data = json.loads(text)
        else:
            import yaml

            data = yaml.safe_load(text)
    except Exception as e:  # noqa: BLE001 - any parse error is the user's file
        raise ConfigError(f"--config {path}: cannot parse ({e})") from None
    data = data or {}
    if isinstance(data, dict) and "eval" in data:
        data = data["eval"]
    if not isinstance(data, dict):
        raise ConfigError(f"--config {path}: expected a mapping of EvalConfig keys")
    return dict(data)


def build_config(args: argparse.Namespace) -> Any:
    from fiubench.eval.config import EvalConfig
    from fiubench.utils.config import from_dict

    d = _file_config(args.config)
    judge = dict(d.get("judge") or {})
    flags = {
        "forget": args.forget, "skip": args.skip, "batch_size": args.batch_size,
        "max_new_tokens": args.max_new_tokens, "retain_max_identities": args.retain_max_identities,
        "mia_k": args.mia_k, "truth_ratio_mean": args.truth_ratio_mean, "mme": args.mme, "pope": args.pope, "pope_images": args.pope_images,
        "seed": args.seed,
    }
    d.update({k: (str(v) if isinstance(v, Path) else v) for k, v in flags.items() if v is not None})
    for key, val in (("backend", args.judge), ("model", args.judge_model), ("base_url", args.judge_base_url),
                     ("cache", args.judge_cache)):
        if val is not None:
            judge[key] = str(val) if isinstance(val, Path) else val
    if judge.get("backend") in ("openai", "hf") and "cache" not in judge:
        # API calls cost money and time: cache verdicts across runs by default.
        judge["cache"] = str(Path(os.environ.get("FIUBENCH_CACHE", Path.home() / ".cache" / "fiubench")) / "judge.jsonl")
    d["judge"] = judge
    return from_dict(EvalConfig, d, "eval")


def model_config(args: argparse.Namespace) -> Any:
    """The ModelConfig of ``--model`` and the placement flags, validated."""
    from fiubench.models.config import ModelConfig

    max_memory = None
    if args.max_memory:
        max_memory = {}
        for item in args.max_memory:
            dev, sep, size = item.partition("=")
            if not sep or not dev or not size:
                raise ConfigError(f"--max-memory: {item!r} is not DEVICE=SIZE (e.g. 0=70GiB or cpu=200GiB)")
            max_memory[dev] = size
    cfg = ModelConfig(
        name_or_path=str(args.model), device=args.device, trust_remote_code=args.trust_remote_code,
        dtype=args.dtype or "float32", device_map=args.device_map, max_memory=max_memory,
        offload_folder=None if args.offload_folder is None else str(args.offload_folder),
        quantization=args.quantization, allow_pickle=args.allow_pickle,
    )
    try:
        cfg.validate()
    except ConfigError as e:  # name the flag, not the config key
        msg = str(e)
        for key, flag in (("model.device_map", "--device-map"), ("model.max_memory", "--max-memory"),
                          ("model.offload_folder", "--offload-folder"), ("model.quantization", "--quantization"),
                          ("model.device", "--device")):
            msg = msg.replace(key, flag)
        raise ConfigError(msg) from None
    return cfg


def _print_calibration(records: list[dict[str, Any]]) -> None:
    """The calibration check of the instrument: this is the retain model (``--retain-eval self``)."""
    from fiubench.eval.compute import calibration_units, retain_calibration
    from fiubench.metrics.calibration import NO_HOLDOUT

    forget, hold, _ = calibration_units(records)
    print("calibration of the instrument (retain model: ln R on forget vs never-trained holdout identities; "
          "per field: fiubench audit)")
    print("  " + (retain_calibration(records).summary() if forget and hold else NO_HOLDOUT))


def run(args: argparse.Namespace) -> int:
    cfg = build_config(args)  # all options checked before anything heavy loads
    if args.out.exists() and not args.overwrite and any(args.out.iterdir()):
        raise ConfigError(f"--out {args.out} already exists (pass --overwrite to replace it)")
    if args.retain_eval is not None and str(args.retain_eval) == "self":
        args.retain_eval = "self"
    elif args.retain_eval is not None and not (args.retain_eval / "results.json").is_file():
        raise ConfigError(f"--retain-eval {args.retain_eval}: no results.json there (run fiubench eval on the retain model first)")
    elif args.retain_eval is not None:
        from fiubench.eval.result import EvalResult
        from fiubench.eval.runner import check_reference

        # same truth-ratio definition and metrics version, checked before any weights load
        check_reference(EvalResult.load(args.retain_eval), cfg)

    from fiubench.data import load_dataset
    from fiubench.eval.runner import evaluate
    from fiubench.eval.shard import close_shard, init_shard
    from fiubench.models.loading import load_vlm, resolve_path

    model_cfg = model_config(args)  # checked before the process group and the weights
    dataset = load_dataset(args.data)
    shard, device = init_shard()
    if shard is not None and args.device is None:
        model_cfg.device = device  # one process per GPU (or CPU worker)
    vlm = load_vlm(model_cfg)
    ckpt = resolve_path(str(args.model))
    try:
        result = evaluate(vlm, dataset, cfg, retain_reference=args.retain_eval,
                          checkpoint=ckpt if isinstance(ckpt, Path) else None, shard=shard)
        if shard is not None and not shard.main:
            return 0
        result.save(args.out, overwrite=args.overwrite)
    finally:
        del vlm
        close_shard(shard)
    m, a = result.metrics, result.aggregates

    def f(v: Any) -> str:
        return "n/a" if v is None else f"{v:.4f}"

    print(f"model utility  {f(a['model_utility'])}   forget quality {f(a['forget_quality'])}")
    print(f"  (metrics version {result.metrics_version}; truth ratio: {result.definitions['truth_ratio_formula']}; "
          f"MIA term of FQ: {result.definitions['mia_term']})")
    if a["dropped"]:
        print(f"  (dropped from the aggregates by --skip: {', '.join(a['dropped'])})")
    for name in sorted(m):
        if name not in ("model_utility", "forget_quality"):
            print(f"  {name:24s} {f(m[name])}")
    if args.retain_eval == "self":
        _print_calibration(result.records)
    if result.judge.get("malformed"):
        print(f"  judge: {result.judge['malformed']} malformed verdict(s) excluded")
    print(f"wrote {args.out}/results.json and per_sample.jsonl")
    return 0
