"""The step graph of ``fiubench run``: which steps a run config asks for, with their keys.

:class:`Planner` declares steps and runs none: one builder per step kind
(:meth:`~Planner.data_step`, :meth:`~Planner.learn_step`, :meth:`~Planner.eval_step`,
:meth:`~Planner.unlearn_step`, :meth:`~Planner.attack_steps`) and :meth:`~Planner.plan`,
which puts them together in the order the sequential run takes:

    per learning variant: learn full + retain, evaluate both (per forget split), attack both
    the base model's evaluation (per forget split)
    per variant x forget split x method: unlearn; when it finished, evaluate its
      checkpoints and attack the final model (``Step.then``: the checkpoints are known
      only then)

What each step does is in :mod:`fiubench.pipeline.steps`; executing the plan, the
results store and the report are :class:`fiubench.pipeline.run.Pipeline`'s.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from fiubench.pipeline.cache import StepCache, StepResult
from fiubench.pipeline.config import RunConfig, Variant, step_resources
from fiubench.pipeline.graph import Resources, Step
from fiubench.pipeline.sharded import eval_processes, run_eval_sharded
from fiubench.pipeline.stage1 import gate_step
from fiubench.pipeline.steps import (
    eval_key_config,
    load_dataset_cached,
    model_key,
    no_ui,
    run_attack,
    run_data,
    run_eval,
    run_learn,
    run_unlearn,
    step_name,
)
from fiubench.report.sequential import request_variant
from fiubench.utils.config import to_dict
from fiubench.utils.provenance import config_hash


@dataclasses.dataclass
class AttackTarget:
    """A model the attacks run on, and the evaluation whose rows its attack metrics join."""

    label: str
    model_dir: Path
    model_key: str
    split: str
    variant: Variant
    eval_dir: Path
    role: str = "unlearned"
    method: str | None = None
    step: int = 0
    final: bool = False


class Planner:
    """The steps of one run of ``cfg`` in ``out``; ``cache`` places each step's directory."""

    def __init__(self, cfg: RunConfig, out: Path, cache: StepCache) -> None:
        self.cfg = cfg
        self.out = out
        self.cache = cache
        self.inputs: Any = None  # DatasetInputs: content keys of what each step reads
        self.selections: dict[tuple[str, str], Any] = {}  # (variant, method) -> search Selection
        m = cfg.model
        self.model_overrides = {
            "device": m.device, "dtype": m.dtype, "trust_remote_code": m.trust_remote_code,
            "device_map": m.device_map, "max_memory": m.max_memory, "offload_folder": m.offload_folder,
            "quantization": m.quantization,
        }

    def resources(self, kind: str) -> Resources:
        """What a ``kind`` step asks an executor for (``run.resources.<kind>``)."""
        return step_resources(self.cfg, kind)

    def _store_now(self, res: StepResult, *, store: dict[str, Any]) -> list[Step]:
        """``then`` of an evaluation: the executing pipeline stores its rows as soon as
        it finished; a plan alone stores nothing."""
        return []

    # --------------------------------------------------------------------- data
    def data_step(self) -> tuple[Path, str, Step | None]:
        """The dataset directory, its key and the step that builds it (None for an
        external dataset). No path is part of a key: each step's key covers the
        content of the dataset files and images it reads (``_data_key``)."""
        cfg = self.cfg
        if cfg.dataset is not None:
            return Path(cfg.dataset).resolve(), "external", None
        from fiubench.data.faces import RENDER_VERSION
        from fiubench.data.visual import VISUAL_QA_VERSION

        # The renderer's and the visual questions' versions are part of the key: a dataset
        # drawn by an older renderer or asked older questions is rebuilt, not reused (the
        # config alone would not change).
        step = Step("data", {**to_dict(cfg.data), "faces_render_version": RENDER_VERSION,
                             "visual_qa_version": VISUAL_QA_VERSION},
                    functools.partial(run_data, cfg.data), seed=cfg.data.seed,
                    resources=self.resources("data"))
        return self.cache.path(step.name, step.key) / "dataset", step.key, step

    def _data_key(self, kind: str, split: str, fallback: str) -> str:
        """Content key of the dataset files and images a step of ``kind`` reads."""
        if self.inputs is None:
            return fallback
        if kind == "learn":
            return self.inputs.learn(split)
        if kind == "unlearn":
            return self.inputs.unlearn(split, self.cfg.unlearn.retain)
        if kind == "attack":  # attacks read every part of the dataset (profiles, refusals, relearning)
            return self.inputs.key([split, self.cfg.eval.retain_split, self.cfg.eval.holdout_split,
                                    self.cfg.unlearn.retain])
        return self.inputs.evaluate([split, self.cfg.eval.retain_split, self.cfg.eval.holdout_split])

    def dataset(self, root: Path) -> Any:
        return load_dataset_cached(root)

    def check_dataset(self, root: Path) -> None:
        """Every split the run needs exists: fail now, not after an hour of training."""
        from fiubench.errors import ConfigError
        from fiubench.metrics.aggregate import expand_skip

        cfg = self.cfg
        ds = self.dataset(root)
        need = {
            "run.learn.full_split": cfg.learn.full_split, "run.learn.retain_split": cfg.learn.retain_split,
            "run.unlearn.retain": cfg.unlearn.retain, "run.eval.retain_split": cfg.eval.retain_split,
        }
        need.update({f"run.forget_splits[{i}]": s for i, s in enumerate(cfg.forget_splits)})
        if cfg.eval.aggregate.mia_metric not in expand_skip(cfg.eval.skip):
            need["run.eval.holdout_split (MIA non-members; or eval.skip: [mia])"] = cfg.eval.holdout_split
        for key, split in need.items():
            try:
                ds.split_ids(split)
            except Exception as e:  # noqa: BLE001 - the dataset's own unknown-split error
                raise ConfigError(f"{key}: split {split!r} is not in {root}/split.json ({e})") from None
        if cfg.learn.train_phrasings and any(qa.field is None for p in ds.identities.values() for qa in p.qa_list):
            raise ConfigError(f"run.learn.train_phrasings: {cfg.learn.train_phrasings} needs each QA's profile field "
                              f"(`field` in {root}/full.json, which the official release lacks): set "
                              "learn.train_phrasings: 0")
        if cfg.search.active:
            from fiubench.pipeline.search import check_splits

            check_splits(cfg.search, ds, forget_splits=cfg.forget_splits, eval_retain=cfg.eval.retain_split,
                         learn_full=cfg.learn.full_split, learn_retain=cfg.learn.retain_split)

    # ------------------------------------------------------------ one per kind
    def learn_step(self, data: Path, data_key: str, split: str, variant: Variant,
                   deps: Sequence[Step] = ()) -> Step:
        cfg = self.cfg
        v = variant.learn_values()
        model = dataclasses.replace(cfg.model, scope=v.get("learn_scope", cfg.model.scope))
        train = dataclasses.replace(
            cfg.learn.train, lr=v.get("learn_lr", cfg.learn.train.lr), seed=v.get("seed", cfg.learn.train.seed)
        )
        step_cfg = {"model": model_key(model), "split": split, "train": no_ui(train),
                    "visual_replay": cfg.learn.visual_replay}
        keep = {"visual_keep": cfg.learn.visual_keep, "visual_keep_weight": cfg.learn.visual_keep_weight}
        if cfg.learn.visual_keep_captions:  # likewise: keep runs without descriptions keep their cache
            keep["visual_keep_captions"] = cfg.learn.visual_keep_captions
        for opt in ("visual_keep_open", "visual_keep_faces"):  # likewise
            if getattr(cfg.learn, opt) is not None:
                keep[opt] = getattr(cfg.learn, opt)
        if cfg.learn.visual_keep:  # only then: runs without it keep their cached stage 1
            step_cfg.update(keep)
        if cfg.learn.train_phrasings:  # likewise
            step_cfg["train_phrasings"] = keep["train_phrasings"] = cfg.learn.train_phrasings
        role = "finetuned" if split == cfg.learn.full_split else "retain"
        name = step_name(f"learn/{role}", variant.learn_label)
        imported = cfg.learn.finetuned_from if role == "finetuned" else cfg.learn.retain_from
        if imported is not None:  # bring your own stage 1: the checkpoint, with its provenance
            from fiubench.pipeline.stage1_import import import_step

            return import_step(name, imported, f"run.learn.{role}_from", deps)
        fn = functools.partial(run_learn, data=data, model=model, split=split, train=train,
                               visual_replay=cfg.learn.visual_replay, **keep)
        return Step(name, step_cfg, fn, inputs={"data": self._data_key("learn", split, data_key)}, deps=deps,
                    seed=train.seed, resources=self.resources("learn"))

    def eval_step(
        self, label: str, model_dir: Path | str, model_key: str, split: str, data: Path, data_key: str,
        reference: Step | None, *, checkpoint: bool = False, family: str | None = None,
        deps: Sequence[Step] = (), store: dict[str, Any] | None = None, eval_config: Any = None,
    ) -> Step:
        cfg = self.cfg
        ecfg = eval_config or (cfg.checkpoint_eval_config(split) if checkpoint else cfg.eval_config(split))
        if ecfg.judge.cache is None:  # verdicts on disk: a resumed evaluation asks no judge twice
            ecfg = dataclasses.replace(ecfg, judge=dataclasses.replace(
                ecfg.judge, cache=self.out.resolve() / "cache" / "judge_verdicts.jsonl"))
        inputs = {"data": self._data_key("eval", split, data_key), "model": model_key}
        if reference is not None:
            inputs["reference"] = reference.key
        ref = None if reference is None else self.cache.path(reference.name, reference.key) / "eval"
        overrides = {**self.model_overrides, "family": family}
        fn = functools.partial(run_eval, model_dir=model_dir, data=data, ecfg=ecfg, reference=ref,
                               overrides=overrides)
        nproc = eval_processes(cfg)
        if nproc > 1:  # several processes, one share of the batches each (pipeline/sharded.py)
            fn = functools.partial(run_eval_sharded, nproc=nproc, cpus=self.resources("eval").cpus, **fn.keywords)
        all_deps = [*deps, *([reference] if reference is not None else [])]
        then = None if not store else functools.partial(self._store_now, store=store)
        return Step(step_name("eval/" + label, split), eval_key_config(ecfg), fn, inputs=inputs, deps=all_deps,
                    seed=ecfg.seed, resources=self.resources("eval"), meta={"store": store} if store else {},
                    then=then)

    def unlearn_step(self, method: str, split: str, variant: Variant, ft: Step, data: Path,
                     data_key: str, deps: Sequence[Step] = (), setting: Any = None, name: str | None = None) -> Step:
        """Unlearn ``split`` with ``method``; ``setting`` (a search Candidate) overrides the
        learning rate, epochs / max steps and method options of the run config."""
        from fiubench.models.config import ModelConfig

        cfg = self.cfg
        v = variant.values
        u = cfg.unlearn
        train = dataclasses.replace(u.train, lr=v.get("unlearn_lr", u.train.lr),
                                    seed=v.get("unlearn_seed", v.get("seed", u.train.seed)))
        if setting is not None:
            over = dict(setting.train)
            if "epochs" in over and "max_steps" not in over:
                over["max_steps"] = None  # a searched epoch count is not cut by the config's max_steps
            train = dataclasses.replace(train, **over)
        scope = v.get("unlearn_scope", u.scope)
        ft_model = self.cache.path(ft.name, ft.key) / "run" / "model"
        model = ModelConfig(name_or_path=str(ft_model), scope=scope, **self.model_overrides)
        step_model = dataclasses.replace(model, name_or_path="<fine-tuned>")  # its key is an input
        options = dict(u.method_options.get(method, {}))
        if setting is not None:
            options.update(setting.options)
        step_cfg = {
            "model": model_key(step_model), "method": method, "method_options": options, "forget": split,
            "retain": u.retain, "early_stop": u.early_stop, "loss_threshold": u.loss_threshold,
            "train": no_ui(train), "reference": u.reference,
        }
        fn = functools.partial(run_unlearn, model=model, data=data, method=method, options=options, split=split,
                               retain=u.retain, early_stop=u.early_stop, loss_threshold=u.loss_threshold,
                               train=train, reference=u.reference)
        name = name or step_name(f"unlearn/{method}/{split}", variant.label)
        inputs = {"data": self._data_key("unlearn", split, data_key), "finetuned": ft.key}
        return Step(name, step_cfg, fn, inputs=inputs, deps=[ft, *deps],
                    seed=train.seed, resources=self.resources("unlearn"))

    def checkpoint_evals(self, u: StepResult, unlearn: Step, method: str, split: str, variant: Variant,
                         ref: Step, data: Path, data_key: str, selection: Any = None) -> list[Step]:
        """One evaluation per checkpoint the unlearning run saved (the last one only when
        ``evaluate_checkpoints`` is off; none after the epoch a search chose)."""
        from fiubench.train import list_checkpoints

        ckpts = list_checkpoints(u.path / "run")
        if selection is not None:
            ckpts = selection.cut(ckpts)  # early stopping chosen on validation
        if not self.cfg.evaluate_checkpoints:
            ckpts = ckpts[-1:]
        label = step_name(f"{method}/{split}", variant.label)
        steps = []
        for i, (step, path) in enumerate(ckpts):
            final = i == len(ckpts) - 1
            steps.append(self.eval_step(
                f"{label}/step-{step:06d}", path / "model", config_hash({"unlearn": u.key, "step": step}),
                split, data, data_key, ref, checkpoint=not final, deps=[unlearn],
                store={"model": label, "role": "unlearned", "split": split, "variant": variant.label,
                       "method": method, "step": step, "final": final},
            ))
        return steps

    def attack_steps(self, target: AttackTarget, data: Path, data_key: str, deps: Sequence[Step] = ()) -> list[Step]:
        """One cached step per attack on ``target`` (adding an attack reruns nothing else)."""
        from fiubench.attacks.registry import ATTACKS

        cfg = self.cfg
        v = target.variant.learn_values()
        scope = v.get("learn_scope", cfg.model.scope)
        train = dataclasses.replace(
            cfg.learn.train, lr=v.get("learn_lr", cfg.learn.train.lr), seed=v.get("seed", cfg.learn.train.seed)
        )
        ctx = {"forget": target.split, "retain_split": cfg.eval.retain_split, "holdout_split": cfg.eval.holdout_split,
               "batch_size": cfg.eval.batch_size, "max_new_tokens": cfg.eval.max_new_tokens, "seed": cfg.eval.seed}
        steps = []
        for attack in cfg.attacks.names:
            options = dict(cfg.attacks.options.get(attack, {}))
            trains = ATTACKS.get(attack).trains
            step_cfg: dict[str, Any] = {"attack": attack, "options": options, **ctx}
            if trains:  # relearning: the stage-1 recipe shapes the result
                step_cfg.update(train=no_ui(train), scope=scope)
            evaluation = cfg.eval if options.get("evaluate") else None  # the attacked model, the run's settings
            if evaluation is not None:
                step_cfg["evaluation"] = evaluation
            fn = functools.partial(run_attack, attack=attack, options=options, model_dir=target.model_dir, data=data,
                                   ctx={**ctx, "train": train if trains else None, "scope": scope if trains else None,
                                        "model_overrides": dict(self.model_overrides), "evaluation": evaluation})
            steps.append(Step(
                step_name(f"attack/{attack}/{target.label}", target.split), step_cfg, fn,
                inputs={"data": self._data_key("attack", target.split, data_key), "model": target.model_key},
                deps=deps, seed=cfg.eval.seed,
                resources=self.resources("attack"), meta={"attack": {"name": attack, "target": target}},
            ))
        return steps

    # ------------------------------------------------------------ the whole run
    def plan(self, data: Path, data_key: str, data_step: Step | None) -> list[Step]:
        """Every step of the run after the dataset, in the order the sequential run takes."""
        cfg = self.cfg
        d0 = [data_step] if data_step is not None else []
        variants = cfg.variants()
        learn_variants: dict[str, Variant] = {}
        for v in variants:
            learn_variants.setdefault(v.learn_label, v)
        steps: list[Step] = []
        learned: dict[str, Step] = {}  # learning variant -> its fine-tuned model's step
        refs: dict[tuple[str, str], Step] = {}  # (learning variant, forget split) -> retain evaluation
        self.gates: dict[tuple[str, str], Step] = {}  # (learning variant, forget split) -> stage-1 gate
        for label, v in learn_variants.items():
            learned[label], stage1 = self.stage1_steps(label, v, data, data_key, d0, refs)
            steps += stage1
        if cfg.evaluate_base:
            steps += self.base_evals(refs, next(iter(learn_variants)), data, data_key, d0)
        for v in variants:
            for split in cfg.forget_splits:
                # no unlearning starts before the gate said stage 1 learnt the forget people
                steps += self.unlearn_steps(v, split, learned[v.learn_label], refs[(v.learn_label, split)],
                                            data, data_key, [*d0, self.gates[(v.learn_label, split)]])
        from fiubench.pipeline.sequential import plan_requests

        steps += plan_requests(self, data, data_key, d0, learned, refs, self.gates)
        return steps

    def stage1_steps(self, label: str, v: Variant, data: Path, data_key: str, d0: list[Step],
                     refs: dict[tuple[str, str], Step]) -> tuple[Step, list[Step]]:
        """Learning variant ``label``: learn full + retain, then per forget split evaluate
        both and attack both. Returns the fine-tuned model's step (what unlearning starts
        from) and the steps; ``refs`` receives the retain evaluations (the references)."""
        cfg = self.cfg
        ft = self.learn_step(data, data_key, cfg.learn.full_split, v, deps=d0)
        rt = self.learn_step(data, data_key, cfg.learn.retain_split, v, deps=d0)
        steps = [ft, rt]
        for split in cfg.forget_splits:
            tag = step_name("", label).strip("/")
            r = self.eval_step(step_name("retain", tag), self.cache.path(rt.name, rt.key) / "run" / "model", rt.key,
                               split, data, data_key, None, deps=[rt],
                               store={"model": "retain", "role": "retain", "split": split, "variant": label})
            refs[(label, split)] = r
            f = self.eval_step(step_name("finetuned", tag), self.cache.path(ft.name, ft.key) / "run" / "model",
                               ft.key, split, data, data_key, r, deps=[ft],
                               store={"model": "finetuned", "role": "finetuned", "split": split, "variant": label})
            self.gates[(label, split)] = gate_step(self, label, split, r, f)
            steps += [r, f, self.gates[(label, split)]]
            for role, learned_step, ev in (("finetuned", ft, f), ("retain", rt, r)):
                steps += self.attack_steps(
                    AttackTarget(role, self.cache.path(learned_step.name, learned_step.key) / "run" / "model",
                                 learned_step.key, split, v, self.cache.path(ev.name, ev.key), role=role),
                    data, data_key, deps=[learned_step])
        return ft, steps

    def base_evals(self, refs: dict[tuple[str, str], Step], first: str, data: Path, data_key: str,
                   d0: list[Step]) -> list[Step]:
        """The base model on each forget split (its reference: the first learning variant's retain model)."""
        cfg = self.cfg
        base_key = config_hash({"base": model_key(cfg.model)})
        return [self.eval_step(
            "base", cfg.model.name_or_path, base_key, split, data, data_key, refs[(first, split)],
            family=cfg.model.family, deps=d0,
            store={"model": "base", "role": "base", "split": split, "variant": ""},
        ) for split in cfg.forget_splits]

    def unlearn_steps(self, v: Variant, split: str, ft: Step, ref: Step, data: Path, data_key: str,
                      d0: list[Step]) -> list[Step]:
        """Every method unlearning ``split`` from ``ft``; each, once finished, adds the
        evaluations of its checkpoints and the attacks on its final model."""
        steps = []
        for method in self.cfg.methods:
            sel = self.selections.get((v.label, method))
            u = self.unlearn_step(method, split, v, ft, data, data_key, deps=d0,
                                  setting=sel.candidate if sel else None)
            u.then = functools.partial(self._after_unlearn, unlearn=u, method=method, split=split,
                                       variant=v, ref=ref, data=data, data_key=data_key, selection=sel)
            steps.append(u)
        return steps

    def _after_unlearn(self, res: StepResult, **kw: Any) -> list[Step]:
        evals = self.checkpoint_evals(res, **kw)
        if not self.cfg.attacks.names or not evals:
            return evals
        final = evals[-1]  # the final model: the attacks' target
        st = final.meta["store"]
        target = AttackTarget(st["model"], Path(final.fn.keywords["model_dir"]), final.inputs["model"], st["split"],
                              kw["variant"], self.cache.path(final.name, final.key), role="unlearned",
                              method=st["method"], step=st["step"], final=True)
        return [*evals, *self.attack_steps(target, kw["data"], kw["data_key"], deps=[kw["unlearn"]])]

    def planned_models(self) -> list[dict[str, Any]]:
        """Every model this run evaluates as final (the report marks missing ones incomplete)."""
        cfg = self.cfg
        out: list[dict[str, Any]] = []
        learn_labels = list(dict.fromkeys(v.learn_label for v in cfg.variants()))
        for split in cfg.forget_splits:
            for label in learn_labels:
                for role in ("retain", "finetuned"):
                    out.append({"model": role, "role": role, "method": None, "forget_split": split, "variant": label})
            if cfg.evaluate_base:
                out.append({"model": "base", "role": "base", "method": None, "forget_split": split, "variant": ""})
            for v in cfg.variants():
                for method in cfg.methods:
                    out.append({"model": step_name(f"{method}/{split}", v.label), "role": "unlearned",
                                "method": method, "forget_split": split, "variant": v.label})
                    for i in range(1, cfg.unlearn.requests + 1 if cfg.unlearn.requests > 1 else 1):
                        label = request_variant(i, cfg.unlearn.requests, v.label)
                        out.append({"model": f"{method}/{split}/{label}", "role": "unlearned", "method": method,
                                    "forget_split": split, "variant": label})
        return out
