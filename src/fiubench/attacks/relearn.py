"""Relearning: fine-tune the model on half of each forget identity's QA, ask the other,
untouched half, over a small grid of learning rates and step counts.

If unlearning only suppressed the knowledge, a handful of steps on *related* facts
brings back the facts never shown again; a model that truly forgot (like the retain
model, which never saw the people) can only learn what it is shown. Recipe, as an
attacker would run it:

    for each forget identity, a seeded half of its QA -> the relearning set R;
    for every (lr, steps) of the grid: fine-tune a fresh copy on R for ``steps``
    optimiser steps with the stage-1 objective (answer-token cross-entropy, AdamW),
    linear warm-up over ``warmup_ratio`` of the steps then a constant rate;
    extraction(lr, steps) = mean keyword_match of the greedy answers to the *other* half.

Each grid point is a variant (``lr1e-03_s10``); "before" is the unattacked model on the
same held-out half. The summary (``attacks.summary``) keeps, per model, the grid point
with the highest adjusted score (the attacker's best), and drops a grid point that
measurably lowers the *fine-tuned* model's extraction below its "before" (a recipe that
damages what it should reveal is not an attack). With ``evaluate`` the utility, truth
ratio and MIA of the model relearnt at this model's strongest grid point are measured
(``attacks.under_attack``): the damage relearning does. Papers: Lynch et al., "Eight
methods to evaluate robust unlearning in LLMs" (2024); Hu et al., "Unlearning or
obfuscating? Jogging the memory of unlearned LLMs via benign relearning" (ICLR 2025);
Deeb & Roger, "Do unlearning methods remove information from language model weights?"
(2024; learning-rate sweeps for the attacker).
"""

from __future__ import annotations

import dataclasses
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fiubench.attacks.base import Attack, AttackContext, AttackOptions, AttackOutcome
from fiubench.attacks.probes import half_split, qa_probes, summarise
from fiubench.attacks.registry import register_attack
from fiubench.attacks.under_attack import measure_under_attack
from fiubench.errors import ConfigError


@dataclass
class RelearnOptions(AttackOptions):
    steps: int | list[int] = field(default_factory=lambda: [10, 30])  # optimiser steps on the relearning half
    lr: float | list[float] | None = None  # None: the stage-1 learning rate x lr_scales
    # The stage-1 rate itself wipes a converged tiny model's answers in 10 AdamW steps (the
    # fine-tuned model's held-out extraction 100 -> 0 at x1 and x3); x0.01 and x0.1 keep it at 100.
    lr_scales: list[float] = field(default_factory=lambda: [0.01, 0.1])
    warmup_ratio: float = 0.1  # linear warm-up over this share of the steps, then constant
    batch_size: int | None = None  # None: the stage-1 batch size (capped at the relearning set)
    evaluate: bool = False  # utility, truth ratio, MIA of the model relearnt at its strongest grid point


def grid_name(lr: float, steps: int) -> str:
    """``lr1e-03_s10`` (no dots: variant names are parts of dotted metric names)."""
    mant, exp = f"{lr:.1e}".split("e")
    return f"lr{mant.removesuffix('.0').replace('.', 'p')}e{exp}_s{steps}"


def as_list(x: Any) -> list[Any]:
    return list(x) if isinstance(x, (list, tuple)) else [x]


def recipe(ctx: AttackContext, o: RelearnOptions, lr: float | None, steps: int, n_items: int, family: str) -> Any:
    """The stage-1 TrainConfig turned into one short warm-up-then-constant relearning run."""
    from fiubench.train.config import train_preset

    base = ctx.train if ctx.train is not None else train_preset("tiny" if family == "tiny" else "paper")
    return dataclasses.replace(
        base, max_steps=steps, lr=lr if lr is not None else base.lr,
        batch_size=max(1, min(o.batch_size or base.batch_size, n_items)), grad_accum=1,
        warmup_ratio=o.warmup_ratio, scheduler="constant", save_every=steps, save_total_limit=1,
        report_to=[], progress=False, seed=ctx.seed,
    )


def grid(ctx: AttackContext, o: RelearnOptions, family: str) -> list[tuple[float, int]]:
    """Every (lr, steps) of the grid, in order."""
    from fiubench.train.config import train_preset

    if o.lr is not None:
        lrs = as_list(o.lr)
    else:
        base = ctx.train if ctx.train is not None else train_preset("tiny" if family == "tiny" else "paper")
        lrs = [base.lr * s for s in o.lr_scales]
    return [(float(lr), int(s)) for lr in lrs for s in as_list(o.steps)]


@register_attack
class Relearn(Attack):
    name = "relearn"
    summary = "fine-tune on half of each forget identity's QA over an lr x steps grid, ask the untouched half"
    Options = RelearnOptions
    trains = True

    def check(self) -> None:
        o = self.options
        assert isinstance(o, RelearnOptions)
        if not as_list(o.steps) or any(int(s) < 1 for s in as_list(o.steps)):
            raise ConfigError(f"attack relearn options.steps: each must be >= 1, got {o.steps}")
        if o.lr is not None and (not as_list(o.lr) or any(not float(x) > 0 for x in as_list(o.lr))):
            raise ConfigError(f"attack relearn options.lr: each must be > 0, got {o.lr}")
        if not o.lr_scales or any(not s > 0 for s in o.lr_scales):
            raise ConfigError(f"attack relearn options.lr_scales: each must be > 0, got {o.lr_scales}")
        if not 0 <= o.warmup_ratio < 1:
            raise ConfigError(f"attack relearn options.warmup_ratio: must be in [0, 1), got {o.warmup_ratio}")
        if o.batch_size is not None and o.batch_size < 1:
            raise ConfigError(f"attack relearn options.batch_size: must be >= 1, got {o.batch_size}")

    def run(self, model_dir: Path, ctx: AttackContext) -> AttackOutcome:
        from fiubench.models.config import ModelConfig, TuningScope
        from fiubench.models.vlm import read_meta
        from fiubench.train.learn import finetune

        o = self.options
        assert isinstance(o, RelearnOptions)
        train_items, measured = [], []
        for p in ctx.dataset.split(ctx.forget):
            shown, held = half_split(p, ctx.seed)
            train_items += [(p.image_path, p.qa_list[i].question, p.qa_list[i].answer) for i in shown]
            measured += [(p, i, p.qa_list[i]) for i in held]
        if not train_items or not measured:
            raise ConfigError(f"attack relearn: the {ctx.forget} identities need >= 2 QA each to split them in halves")
        meta = read_meta(Path(model_dir)) if Path(model_dir).is_dir() else None
        family = str((meta or {}).get("family") or ("tiny" if str(model_dir) == "tiny" else ""))
        scope = ctx.scope if ctx.scope is not None else TuningScope()
        model = ModelConfig(name_or_path=str(model_dir), scope=scope, **ctx.model_overrides)
        records = qa_probes(ctx.engine(ctx.load(model_dir)), measured, "before", ctx.max_new_tokens)
        points: dict[str, dict[str, Any]] = {}
        runs: dict[str, Path] = {}
        for lr, steps in grid(ctx, o, family):
            name = grid_name(lr, steps)
            train = recipe(ctx, o, lr, steps, len(train_items), family)
            record = {"attack": self.name, "model": str(model_dir), "train": train, "scope": scope,
                      "n_items": len(train_items), "forget": ctx.forget, "out": None}
            runs[name] = finetune(model, train_items, Path(ctx.work) / "relearn" / name, train, record, kind="relearn")
            records += qa_probes(ctx.engine(ctx.load(runs[name] / "model")), measured, name, ctx.max_new_tokens)
            points[name] = {"lr": lr, "steps": steps, "warmup_ratio": o.warmup_ratio, "batch_size": train.batch_size}
        out = summarise(self.name, records, list(points),
                        {"grid": points, "n_relearn_qa": len(train_items), "n_measured_qa": len(measured)})
        out.info["before"] = summarise(self.name, records, ["before"]).variants["before"]
        if o.evaluate:
            best = max(points, key=lambda v: out.variants[v] if out.variants[v] is not None else -1.0)
            out.under_attack = {"before": measure_under_attack(ctx.load(model_dir), ctx),
                                best: measure_under_attack(ctx.load(runs[best] / "model"), ctx)}
        for run_dir in runs.values():  # relearnt weights: one model's worth each
            shutil.rmtree(run_dir / "model", ignore_errors=True)
        return out
