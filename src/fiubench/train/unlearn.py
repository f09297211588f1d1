"""Stage 2: run an unlearning method on a forget split, from the fine-tuned model.

Each optimiser step pairs the forget batch (a seeded pass over the forget QA, epoch
by epoch) with a retain batch of the same size drawn from the retain split by a
seeded generator keyed on the step, so a resumed run sees the same pairs. The loss of
a step is the mean of the method's micro-batch losses (``compute_loss`` averages
within a micro-batch), over accumulation steps and processes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from fiubench.errors import DataError
from fiubench.methods import UnlearnBatch, UnlearningMethod, build_method
from fiubench.methods.base import ONE_EPOCH
from fiubench.models.vlm import read_meta
from fiubench.train import data as D
from fiubench.train.config import UnlearnConfig
from fiubench.train.context import EngineContext, adapter_reference_unsupported
from fiubench.train.encode import EncodedPool, collate
from fiubench.train.loop import Job, Setup, run
from fiubench.train.schedule import Plan, refusal_choice, retain_indices


class UnlearnObjective:
    reduce = "mean"

    def __init__(self, accelerator: Any, ctx: EngineContext, method: UnlearningMethod, plan: Plan,
                 forget: EncodedPool, refusal: EncodedPool | None, retain: EncodedPool, pad: int) -> None:
        self.acc, self.ctx, self.method, self.plan = accelerator, ctx, method, plan
        self.forget, self.refusal, self.retain, self.pad = forget, refusal, retain, pad
        self.micros: list[tuple[UnlearnBatch, UnlearnBatch]] = []

    def _batch(self, pool: EncodedPool, idx: Any) -> dict[str, torch.Tensor]:
        b = collate([pool.get(int(i)) for i in idx], self.pad)
        return {k: v.to(self.acc.device) for k, v in b.items()}

    def _pairs(self, step: int) -> list[tuple[UnlearnBatch, UnlearnBatch]]:
        rank = self.acc.process_index
        f_idx = self.plan.step_indices(step)
        r_idx = retain_indices(len(self.retain), len(f_idx), self.plan.seed, step)
        pairs = []
        for m in range(self.plan.grad_accum):
            fi, ri = self.plan.micro(f_idx, m, rank), self.plan.micro(r_idx, m, rank)
            f = UnlearnBatch(self._batch(self.forget, fi),
                             self._batch(self.refusal, fi) if self.refusal is not None else None)
            pairs.append((f, UnlearnBatch(self._batch(self.retain, ri))))
        return pairs

    def prepare(self) -> None:
        """The method's one-off preparation on the starting weights (before any resume
        state loads): the micro-batches of the first ``prepare_batches()`` steps."""
        self.method.begin_run(self.plan.steps_per_epoch)
        n = self.method.prepare_batches()
        if n == ONE_EPOCH:
            n = self.plan.steps_per_epoch
        if n > 0:
            pairs = [p for step in range(n) for p in self._pairs(step)]
            self.method.prepare(self.ctx, pairs)

    def begin_step(self, step: int) -> None:
        self.method.begin_step(step)
        self.micros = self._pairs(step)

    def after_step(self, step: int) -> None:
        self.method.after_step(step)

    def micro_loss(self, step: int, micro: int) -> tuple[torch.Tensor, torch.Tensor, dict[str, float]]:
        f, r = self.micros[micro]
        loss, logs = self.method.compute_loss(self.ctx, f, r)
        share = loss / self.plan.grad_accum
        return share, share, logs


def unlearn(cfg: UnlearnConfig, overwrite: bool = False) -> Path:
    """Unlearn ``cfg.forget`` from ``cfg.model`` with ``cfg.method``; return the run dir.

    Writes ``model/``, ``checkpoints/step-NNNNNN/`` (every ``train.save_every`` steps),
    ``log.jsonl``, ``summary.json`` and ``provenance.json`` under ``cfg.out``.
    """
    cfg.validate()
    method = build_method(cfg.method, cfg.method_options)
    src = Path(cfg.model.name_or_path).expanduser()
    if cfg.model.name_or_path != "tiny" and not src.is_dir():
        raise DataError(
            f"--model: {cfg.model.name_or_path} does not exist; unlearning starts from a fine-tuned "
            "model directory (run `fiubench learn --split full` first)"
        )
    ds = D.load(cfg.data)
    forget_ex = D.split_examples(ds, cfg.forget, "--forget")
    retain_ex = D.split_examples(ds, cfg.retain, "--retain")
    D.check_disjoint(ds, cfg.forget, cfg.retain)
    refusals: list[str] = []
    if method.needs_refusal:
        refusals = list(ds.refusals)
        if not refusals:
            raise DataError(f"{ds.root / 'prompt.json'}: no refusal sentences (method {method.name} needs them)")
    meta = read_meta(src) if src.is_dir() else None
    source_kind = meta.get("kind") if meta else None
    threshold = None
    if cfg.early_stop:
        threshold = cfg.loss_threshold if cfg.loss_threshold is not None else method.default_loss_threshold
    t = cfg.train

    def build(accelerator: Any) -> Setup:
        from fiubench.models import ModelConfig, load_image
        from fiubench.models.features import install_feature_cache, status
        from fiubench.models.loading import load_vlm

        vlm = load_vlm(cfg.model)
        method.configure_trainable(vlm)
        method.setup(vlm, t.seed)
        ref = None
        reference = None
        adapter_ref = False
        if method.needs_reference:
            why = adapter_reference_unsupported(vlm, source_kind) if cfg.reference == "auto" else "reference: copy"
            adapter_ref = why is None
            reference = "disabled adapter" if adapter_ref else f"copy ({why})"
        if method.needs_reference and not adapter_ref:
            ref = load_vlm(ModelConfig(name_or_path=cfg.model.name_or_path, family=cfg.model.family,
                                       dtype=cfg.model.dtype, device=cfg.model.device,
                                       trust_remote_code=cfg.model.trust_remote_code))
            ref.model.to(accelerator.device)
            ref.model.eval()
            for p in ref.model.parameters():
                p.requires_grad_(False)
            if t.cache_vision_features:
                install_feature_cache(ref)
        cache = install_feature_cache(vlm) if t.cache_vision_features else "train.cache_vision_features is false"
        forget = EncodedPool(D.triples(forget_ex), vlm.train_batch, load_image)
        retain = EncodedPool(D.triples(retain_ex), vlm.train_batch, load_image)
        refusal = None
        if method.needs_refusal:
            choice = refusal_choice(len(forget_ex), len(refusals), t.seed)
            refusal = EncodedPool(
                [(e.image_path, e.question, refusals[int(c)]) for e, c in zip(forget_ex, choice, strict=True)],
                vlm.train_batch, load_image,
            )
        forget.encode_all()
        plan = Plan(len(forget_ex), t.batch_size, t.grad_accum, accelerator.num_processes, t.seed)
        pad = D.pad_id(vlm)

        def objective(acc: Any, model: torch.nn.Module) -> UnlearnObjective:
            ctx = EngineContext(model, vlm, ref, adapter_reference=adapter_ref)
            obj = UnlearnObjective(acc, ctx, method, plan, forget, refusal, retain, pad)
            obj.prepare()
            return obj

        return Setup(
            vlm=vlm, plan=plan, objective=objective, loss_threshold=threshold,
            extra_summary={"method": method.name, "method_options": vars(method.options),
                           "forget": cfg.forget, "retain": cfg.retain,
                           "n_forget_examples": len(forget_ex), "n_retain_examples": len(retain_ex),
                           "reference": reference, "vision_feature_cache": status(cache)},
        )

    return run(Job("unlearn", Path(cfg.out), cfg, cfg.train, build), overwrite=overwrite)
