"""Stage 1: supervised fine-tuning on answer tokens (the fine-tuned and retain models).

Loss of one optimiser step over its global batch B (all micro-batches, all ranks):

    L = - sum_{i in B} sum_{t in answer(i)} log p_theta(y_t | image_i, q_i, y_<t) / N_B

with N_B the number of answer tokens (answer + end-of-turn) in B. Normalising by the
step's global token count, not per micro-batch, makes batch 8 x accumulation 1,
batch 4 x accumulation 2 and 2 processes x batch 4 the same gradient.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from fiubench.models.logprobs import IGNORE_INDEX, answer_window, sequence_logprob
from fiubench.train import data as D
from fiubench.train.config import LearnConfig
from fiubench.train.context import model_inputs
from fiubench.train.encode import EncodedPool, collate
from fiubench.train.loop import Job, Setup, run
from fiubench.train.schedule import Plan
from fiubench.train.terms import ReplaySource, TermFactory, TrainingTerm, check_terms


class SFTObjective:
    reduce = "sum"

    def __init__(self, accelerator: Any, model: torch.nn.Module, pool: EncodedPool, plan: Plan,
                 pad: int, terms: Sequence[TrainingTerm] = ()) -> None:
        self.acc, self.model, self.pool, self.plan, self.pad = accelerator, model, pool, plan, pad
        self.terms = list(terms)  # fiubench.train.terms: added once per step
        self.micros: list[dict[str, torch.Tensor]] = []
        self.n_tokens = torch.ones(())

    def begin_step(self, step: int) -> None:
        idx = self.plan.step_indices(step)
        rank = self.acc.process_index
        self.micros = [
            collate([self.pool.get(int(i)) for i in self.plan.micro(idx, m, rank)], self.pad)
            for m in range(self.plan.grad_accum)
        ]
        local = sum(int(mb["labels"][:, 1:].ne(IGNORE_INDEX).sum()) for mb in self.micros)
        self.n_tokens = self.acc.reduce(torch.tensor(float(local), device=self.acc.device), "sum")

    def micro_loss(self, step: int, micro: int) -> tuple[torch.Tensor, torch.Tensor, dict[str, float]]:
        batch = {k: v.to(self.acc.device) for k, v in self.micros[micro].items()}
        labels = batch["labels"]
        # The vocabulary projection only where an answer token is predicted (same loss;
        # on the tiny VLM the LM head and its softmax are ~half of a step).
        window = answer_window(labels)
        logits = self.model(**model_inputs(batch), logits_to_keep=labels.shape[1] - window).logits
        nll_sum = -sequence_logprob(logits, labels[:, window:])[0].sum()
        share = nll_sum / self.n_tokens
        # DDP averages gradients over ranks: scale by the world size to get the global sum.
        bwd = share * self.acc.num_processes
        if not self.terms or micro > 0:
            return bwd, share, {}
        logs: dict[str, float] = {}
        for term in self.terms:  # once per step (micro 0); the loop averages logs over micro-batches
            loss, parts = term.loss(self.model, step)  # a mean per rank: DDP's average is right
            bwd = bwd + loss
            logs.update({k: v * self.plan.grad_accum for k, v in parts.items()})
        return bwd, share, logs


def learn(cfg: LearnConfig, overwrite: bool = False, *, terms: Mapping[str, TermFactory] | None = None,
          replay: ReplaySource | None = None) -> Path:
    """Fine-tune ``cfg.model`` on split ``cfg.split``; return the run directory.

    ``terms``: training terms added to each step's loss, by the option that asks for them
    (``fiubench.train.terms``); ``replay``: the source of ``cfg.visual_replay``'s QA.
    The caller supplies both (``fiubench.tiny`` for the tiny base's); a config that asks
    for one not supplied is refused before any weights load.

    Writes ``model/``, ``checkpoints/``, ``log.jsonl``, ``summary.json`` and
    ``provenance.json`` under ``cfg.out``. Started again with the same config, a killed
    run resumes from its last checkpoint; a finished one does nothing.
    """
    cfg.validate()
    terms = dict(terms or {})
    check_terms(cfg, terms, replay)
    ds = D.load(cfg.data)
    examples = D.split_examples(ds, cfg.split, "--split")
    qa = D.with_phrasings(ds, examples, cfg.train_phrasings, cfg.train.seed)
    replayed, replay_images = replay(cfg.visual_replay, cfg.train.seed) if replay and cfg.visual_replay else ([], {})
    items = D.triples(qa) + replayed

    def build(accelerator: Any) -> Setup:
        from fiubench.models import load_image
        from fiubench.models.features import install_feature_cache, status
        from fiubench.models.loading import load_vlm

        def image(path: Path) -> Any:
            return replay_images[path] if path in replay_images else load_image(path)

        vlm = load_vlm(cfg.model)
        cache = install_feature_cache(vlm) if cfg.train.cache_vision_features else "train.cache_vision_features is false"
        pool = EncodedPool(items, vlm.train_batch, image)
        pool.encode_all()
        t = cfg.train
        plan = Plan(len(items), t.batch_size, t.grad_accum, accelerator.num_processes, t.seed)
        pad = D.pad_id(vlm)
        built = [make(vlm) for make in terms.values()]
        return Setup(
            vlm=vlm,
            plan=plan,
            objective=lambda acc, model: SFTObjective(acc, model, pool, plan, pad, built),
            extra_summary={"split": cfg.split, "n_examples": len(items), "n_visual_replay": len(replayed),
                           "n_phrasings": len(qa) - len(examples),
                           "n_identities": len({e.unique_id for e in examples}),
                           "vision_feature_cache": status(cache)},
        )

    return run(Job("learn", Path(cfg.out), cfg, cfg.train, build), overwrite=overwrite)


def finetune(model: Any, items: list[tuple[Path, str, str]], out: Path, train: Any, record: Any,
             kind: str = "learn", overwrite: bool = False) -> Path:
    """The stage-1 objective on an explicit list of (image, question, answer) triples.

    For fine-tuning outside the two stages (the relearning attack): ``model`` is a
    ``ModelConfig``, ``record`` the caller's config (recorded; compared on resume).
    Returns the run directory (``model/`` inside).
    """
    from fiubench.errors import DataError

    if not items:
        raise DataError(f"{kind}: nothing to train on")

    def build(accelerator: Any) -> Setup:
        from fiubench.models import load_image
        from fiubench.models.loading import load_vlm

        vlm = load_vlm(model)
        pool = EncodedPool(items, vlm.train_batch, load_image)
        pool.encode_all()
        plan = Plan(len(items), train.batch_size, train.grad_accum, accelerator.num_processes, train.seed)
        pad = D.pad_id(vlm)
        return Setup(vlm=vlm, plan=plan, objective=lambda acc, m: SFTObjective(acc, m, pool, plan, pad),
                     extra_summary={"n_examples": len(items)})

    return run(Job(kind, Path(out), record, train, build), overwrite=overwrite)
