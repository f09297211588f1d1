"""`fiubench eval`: evaluate one model checkpoint on a FIUBench dataset.

    fiubench eval --model CKPT --data D --forget forget5 \\
        [--retain-eval RETAIN_RESULT_DIR|self] [--judge similarity|openai|hf|none] \\
        [--skip judge ks mia visual ...] [--batch-size 16] --out DIR

Writes DIR/results.json (metrics, metric_info, aggregates, judge, provenance incl. the
checkpoint's sha256) and DIR/per_sample.jsonl, atomically.
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
    p.add_argument("--mme", type=Path, help="local MME directory (<task>.txt files)")
    p.add_argument("--pope", type=Path, help="local POPE jsonl")
    p.add_argument("--pope-images", type=Path, help="POPE image directory")
    p.add_argument("--seed", type=int)
    p.add_argument("--device", help="cpu, cuda, cuda:N (default: cuda if available)")
    p.add_argument("--trust-remote-code", action="store_true", help="allow model code from the checkpoint")


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
        "mia_k": args.mia_k, "mme": args.mme, "pope": args.pope, "pope_images": args.pope_images,
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


def run(args: argparse.Namespace) -> int:
    cfg = build_config(args)  # all options checked before anything heavy loads
    if args.out.exists() and not args.overwrite and any(args.out.iterdir()):
        raise ConfigError(f"--out {args.out} already exists (pass --overwrite to replace it)")
    if args.retain_eval is not None and str(args.retain_eval) == "self":
        args.retain_eval = "self"
    elif args.retain_eval is not None and not (args.retain_eval / "results.json").is_file():
        raise ConfigError(f"--retain-eval {args.retain_eval}: no results.json there (run fiubench eval on the retain model first)")

    from fiubench.data import load_dataset
    from fiubench.eval.runner import evaluate
    from fiubench.models.config import ModelConfig
    from fiubench.models.loading import load_vlm, resolve_path

    dataset = load_dataset(args.data)
    vlm = load_vlm(ModelConfig(name_or_path=str(args.model), device=args.device,
                               trust_remote_code=args.trust_remote_code))
    ckpt = resolve_path(str(args.model))
    result = evaluate(vlm, dataset, cfg, retain_reference=args.retain_eval,
                      checkpoint=ckpt if isinstance(ckpt, Path) else None)
    result.save(args.out, overwrite=args.overwrite)
    m, a = result.metrics, result.aggregates

    def f(v: Any) -> str:
        return "n/a" if v is None else f"{v:.4f}"

    print(f"model utility  {f(a['model_utility'])}   forget quality {f(a['forget_quality'])}")
    if a["dropped"]:
        print(f"  (dropped from the aggregates by --skip: {', '.join(a['dropped'])})")
    for name in sorted(m):
        if name not in ("model_utility", "forget_quality"):
            print(f"  {name:24s} {f(m[name])}")
    if result.judge.get("malformed"):
        print(f"  judge: {result.judge['malformed']} malformed verdict(s) excluded")
    print(f"wrote {args.out}/results.json and per_sample.jsonl")
    return 0
