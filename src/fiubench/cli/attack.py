"""``fiubench attack``: the robustness attacks on one model, with its two baselines.

    fiubench attack --model UNLEARNED --data D --forget forget5 \\
        [--attacks relearn,quantization] [--finetuned FT --retain R] \\
        [--attack-opt relearn.steps=20] --out DIR

Writes DIR/results.json (extraction per attack and variant for each model; with both
baselines: which attacks are informative, recovery ratios, the worst case) and
DIR/<model>/<attack>/{result.json,per_sample.jsonl}, atomically.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from fiubench.errors import ConfigError

HELP = "attack a model: does it still leak the forget identities? (relearning, quantization...)"


def _attack_list() -> str:
    from fiubench.attacks import ATTACKS

    return "\n".join(f"  {n}: {cls.summary}" for n, cls in ATTACKS.items())


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.formatter_class = argparse.RawDescriptionHelpFormatter
    p.epilog = (f"attacks:\n{_attack_list()}\n\nEach reports keyword extraction on the forget identities; "
                "with --finetuned and --retain,\nan attack under which the fine-tuned model does not leak more "
                "than the retain model\nis reported as uninformative. See docs/attacks.md.")
    p.add_argument("--model", required=True, help="the model to attack (checkpoint directory, or 'tiny')")
    p.add_argument("--data", required=True, type=Path, help="dataset directory")
    p.add_argument("--forget", default="forget5", help="forget split whose identities are attacked (default forget5)")
    p.add_argument("--attacks", default=None,
                   help="comma-separated attacks (default: all; listed below)")
    p.add_argument("--finetuned", help="the fine-tuned model (baseline: what the attack gets from a model that knows)")
    p.add_argument("--retain", help="the retain model (baseline: what the attack gets from a model that never knew)")
    p.add_argument("--attack-opt", action="append", default=[], metavar="ATTACK.KEY=VALUE",
                   help="an attack option, e.g. relearn.steps=20 or quantization.bits=[8] (repeatable)")
    p.add_argument("--retain-split", default="retain", help="split of the few-shot context (default retain)")
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--max-new-tokens", type=int, default=48)
    p.add_argument("--margin", type=float, default=0.0,
                   help="an attack is informative when the 95%% interval (identities resampled) of the fine-tuned "
                        "minus the retain model's extraction lies above this (default 0)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", help="cpu, cuda, cuda:N (default: cuda if available)")
    p.add_argument("--out", required=True, type=Path, help="results directory (created atomically)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --out")


def parse_options(items: list[str], names: list[str]) -> dict[str, dict[str, Any]]:
    import yaml

    from fiubench.methods.registry import parse_option_value

    out: dict[str, dict[str, Any]] = {}
    for item in items:
        if "=" not in item or "." not in item.split("=", 1)[0]:
            raise ConfigError(f"--attack-opt {item!r}: expected ATTACK.KEY=VALUE (e.g. relearn.steps=20)")
        key, value = item.split("=", 1)
        attack, opt = key.split(".", 1)
        if attack not in names:
            raise ConfigError(f"--attack-opt {item!r}: attack {attack!r} is not among --attacks ({', '.join(names)})")
        v = yaml.safe_load(value) if value.strip().startswith("[") else parse_option_value(value)
        out.setdefault(attack, {})[opt.strip()] = v
    return out


def run(args: argparse.Namespace) -> int:
    import tempfile

    from fiubench.attacks import (
        AttackContext,
        attack_names,
        build_attack,
        parse_attack_list,
        run_attack,
    )
    from fiubench.attacks.runner import summarise_attacks
    from fiubench.data import load_dataset
    from fiubench.utils.io import atomic_dir, atomic_write_json
    from fiubench.utils.provenance import provenance

    names = parse_attack_list(args.attacks, "--attacks") if args.attacks else attack_names()
    options = parse_options(args.attack_opt, names)
    for n in names:  # every option checked before a model loads
        try:
            build_attack(n, options.get(n))
        except ConfigError as e:
            raise ConfigError(f"--attack-opt: {e}") from None
    for flag in ("batch_size", "max_new_tokens"):
        if getattr(args, flag) < 1:
            raise ConfigError(f"--{flag.replace('_', '-')}: must be >= 1")
    if args.margin < 0:
        raise ConfigError("--margin: must be >= 0")
    models = {"model": args.model, "finetuned": args.finetuned, "retain": args.retain}
    models = {k: v for k, v in models.items() if v is not None}
    for role, path in models.items():
        if path != "tiny" and not Path(path).is_dir():
            raise ConfigError(f"--{role}: {path} is not a model directory")
    if args.out.exists() and not args.overwrite and any(args.out.iterdir()):
        raise ConfigError(f"--out {args.out} already exists (pass --overwrite to replace it)")
    dataset = load_dataset(args.data)
    try:
        dataset.split_ids(args.forget)
    except Exception as e:  # noqa: BLE001 - the dataset's own unknown-split error
        raise ConfigError(f"--forget: {e}") from None

    overrides = {"device": args.device} if args.device else {}
    results: dict[str, dict[str, Any]] = {}
    with atomic_dir(args.out, overwrite=args.overwrite) as tmp, tempfile.TemporaryDirectory() as work:
        for role, path in models.items():
            for n in names:
                print(f"fiubench attack: {n} on {role} ({path})", file=sys.stderr, flush=True)
                ctx = AttackContext(dataset=dataset, forget=args.forget, work=Path(work) / role / n,
                                    retain_split=args.retain_split, batch_size=args.batch_size,
                                    max_new_tokens=args.max_new_tokens, seed=args.seed, model_overrides=overrides)
                results.setdefault(role, {})[n] = run_attack(n, options.get(n), path, ctx, tmp / role / n)
        summary = summarise_attacks(results, results.get("finetuned"), results.get("retain"), args.margin)
        prov = provenance({"models": models, "data": str(args.data), "forget": args.forget, "attacks": names,
                           "options": options, "seed": args.seed}, args.seed)
        atomic_write_json(tmp / "results.json", {"models": models, "results": results, "summary": summary,
                                                 "provenance": prov})
    print(render(results, summary))
    print(f"wrote {args.out}/results.json", file=sys.stderr)
    return 0


def render(results: dict[str, dict[str, Any]], summary: dict[str, Any]) -> str:
    """A plain-text table: one row per attack variant, one column per model."""
    roles = list(results)
    lines = [f"{'attack / variant':32s}" + "".join(f"{r:>11s}" for r in roles) + "  note"]
    info = summary.get("informative", {})
    for attack in next(iter(results.values()), {}):
        for v in results[roles[0]][attack]["variants"]:
            vals = [results[r][attack]["variants"].get(v) for r in roles]
            flag = info.get(attack, {}).get(v)
            note = "" if flag is None else ("informative" if flag else "uninformative (fine-tuned <= retain)")
            cells = "".join(f"{'—' if x is None else f'{100 * x:.1f}':>11s}" for x in vals)
            lines.append(f"{attack + ' / ' + v:32s}{cells}  {note}")
    lines.append("extraction x100 (keyword exact match on the forget identities)")
    for role in roles:
        m = summary["metrics"].get(role, {})
        w, e = m.get("attack.worst"), m.get("attack.worst_extraction")
        if w is not None:  # recovery and extraction of the same attack variant
            where = f"{summary['worst_attack'][role]}/{summary['worst_variant'][role]}"
            lines.append(f"worst case for {role}: {where}, recovery {100 * w:.0f}% "
                         f"[{100 * m['attack.worst_low']:.0f}, {100 * m['attack.worst_high']:.0f}]"
                         + ("" if m.get("attack.worst_k") is None else f" (k={m['attack.worst_k']:.0f})")
                         + ("" if e is None else f", extraction {100 * e:.1f}")
                         + (" (marked: not ranked robust)" if m.get("attack.marked") else ""))
    return "\n".join(lines)
