"""Relearning: fine-tune the model a few steps on half of each forget identity's QA,
then ask the other, untouched half.

If unlearning only suppressed the knowledge, a handful of steps on *related* facts
brings back the facts never shown again; a model that truly forgot (like the retain
model, which never saw the people) can only learn what it is shown. Recipe:

    for each forget identity, a seeded half of its QA -> the relearning set R;
    fine-tune on R for ``steps`` optimiser steps with the stage-1 objective and recipe
    (answer-token cross-entropy, AdamW; constant learning rate, no warm-up);
    extraction = mean keyword_match of the greedy answers to the *other* half.

Run on the retain model, the same procedure gives what anyone learns from R alone
(the baseline); ``recovery = (E_model - E_retain) / (E_finetuned - E_retain)`` is
computed by the summary for every attack. Papers: Lynch et al., "Eight methods to
evaluate robust unlearning in LLMs" (2024); Hu et al., "Unlearning or obfuscating?
Jogging the memory of unlearned LLMs via benign relearning" (ICLR 2025);
Deeb & Roger, "Do unlearning methods remove information from language model
weights?" (2024).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fiubench.attacks.base import Attack, AttackContext, AttackOptions, AttackOutcome
from fiubench.attacks.probes import half_split, qa_probes, summarise
from fiubench.attacks.registry import register_attack
from fiubench.errors import ConfigError


@dataclass
class RelearnOptions(AttackOptions):
    steps: int = 10  # optimiser steps on the relearning half
    lr: float | None = None  # None: the stage-1 learning rate
    batch_size: int | None = None  # None: the stage-1 batch size (capped at the relearning set)


def recipe(ctx: AttackContext, o: RelearnOptions, n_items: int, family: str) -> Any:
    """The stage-1 TrainConfig turned into a short constant-rate relearning run."""
    from fiubench.train.config import train_preset

    base = ctx.train if ctx.train is not None else train_preset("tiny" if family == "tiny" else "paper")
    return dataclasses.replace(
        base, max_steps=o.steps, lr=o.lr if o.lr is not None else base.lr,
        batch_size=max(1, min(o.batch_size or base.batch_size, n_items)), grad_accum=1,
        warmup_ratio=0.0, scheduler="constant", save_every=o.steps, save_total_limit=1,
        report_to=[], progress=False, seed=ctx.seed,
    )


@register_attack
class Relearn(Attack):
    name = "relearn"
    summary = "fine-tune a few steps on half of each forget identity's QA, ask the untouched half"
    Options = RelearnOptions
    trains = True

    def check(self) -> None:
        o = self.options
        assert isinstance(o, RelearnOptions)
        if o.steps < 1:
            raise ConfigError(f"attack relearn options.steps: must be >= 1, got {o.steps}")
        if o.lr is not None and not o.lr > 0:
            raise ConfigError(f"attack relearn options.lr: must be > 0, got {o.lr}")
        if o.batch_size is not None and o.batch_size < 1:
            raise ConfigError(f"attack relearn options.batch_size: must be >= 1, got {o.batch_size}")

    def run(self, model_dir: Path, ctx: AttackContext) -> AttackOutcome:
        from fiubench.models.config import ModelConfig, TuningScope
        from fiubench.models.vlm import read_meta
        from fiubench.train.learn import finetune

        o = self.options
        assert isinstance(o, RelearnOptions)
        people = ctx.dataset.split(ctx.forget)
        train_items, measured = [], []
        for p in people:
            shown, held = half_split(p, ctx.seed)
            train_items += [(p.image_path, p.qa_list[i].question, p.qa_list[i].answer) for i in shown]
            measured += [(p, i, p.qa_list[i]) for i in held]
        if not train_items or not measured:
            raise ConfigError(f"attack relearn: the {ctx.forget} identities need >= 2 QA each to split them in halves")
        meta = read_meta(Path(model_dir)) if Path(model_dir).is_dir() else None
        family = str((meta or {}).get("family") or ("tiny" if str(model_dir) == "tiny" else ""))
        train = recipe(ctx, o, len(train_items), family)
        scope = ctx.scope if ctx.scope is not None else TuningScope()
        model = ModelConfig(name_or_path=str(model_dir), scope=scope, **ctx.model_overrides)
        record = {"attack": self.name, "model": str(model_dir), "train": train, "scope": scope,
                  "n_items": len(train_items), "forget": ctx.forget, "out": None}
        run_dir = finetune(model, train_items, Path(ctx.work) / "relearn", train, record, kind="relearn")
        records = qa_probes(ctx.engine(ctx.load(run_dir / "model")), measured, "heldout_half", ctx.max_new_tokens)
        return summarise(self.name, records, ["heldout_half"],
                         {"steps": o.steps, "lr": train.lr, "batch_size": train.batch_size,
                          "n_relearn_qa": len(train_items), "n_measured_qa": len(measured)})
