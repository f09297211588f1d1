"""``fiubench run``: the whole two-stage benchmark as one resumable pipeline.

    data (build or load) -> base model -> learn full + retain (per learning variant)
      -> evaluate retain, fine-tuned, base (per forget split)
      -> for each variant x method x forget split: unlearn, evaluate every checkpoint
      -> attacks (``attacks.names``) on the fine-tuned, retain and every final model
      -> results.sqlite -> report/

Every step runs through :class:`~fiubench.pipeline.cache.StepCache` under
``<out>/steps/``: its key hashes its config and its inputs' keys, so a rerun skips
finished steps, redoes changed ones and a killed run continues where it stopped
(training resumes from its own checkpoints inside the step directory).

Run directory::

    run_config.yaml     the resolved configuration
    provenance.json     config, seed, versions, git revision
    steps/<step>-<key>/ each step's output and its DONE.json marker
    results.sqlite      every evaluation (one row per model x checkpoint x metric)
    report/             index.html, report.md, tables/*.csv|tex, plots/*.png
"""

from __future__ import annotations

import dataclasses
import functools
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from fiubench.pipeline.cache import StepCache, StepResult
from fiubench.pipeline.config import RunConfig, Variant, step_resources
from fiubench.pipeline.graph import Executor, Resources, Scheduler, Step
from fiubench.pipeline.uncertainty import ModelGroup, seedless
from fiubench.report.store import ResultsStore
from fiubench.utils.config import to_dict
from fiubench.utils.faults import kill_point
from fiubench.utils.io import atomic_write_json, atomic_write_text
from fiubench.utils.provenance import config_hash, provenance

DB_NAME = "results.sqlite"


def config_yaml(cfg: RunConfig) -> str:
    import yaml

    # Complete: reloaded with `base: null`, not layered on a preset (whose dict-valued keys,
    # e.g. attacks.options, would otherwise merge back in).
    from fiubench.utils.secrets import redact

    d = redact({"base": None, **to_dict(cfg)})  # never print or write secrets
    return yaml.safe_dump(d, sort_keys=False, allow_unicode=True)


class Pipeline:
    """One ``fiubench run``. ``log`` receives the progress lines; ``executor``: where the
    steps run (default: one at a time in this process); ``retries``: attempts after a
    step's first failure."""

    def __init__(self, cfg: RunConfig, out: str | Path, log: Callable[[str], None] | None = None, *,
                 executor: Executor | None = None, retries: int = 0, overwrite: bool = False) -> None:
        self.cfg = cfg
        self.out = Path(out)
        self.overwrite = overwrite
        self.inputs: Any = None  # DatasetInputs: content keys of what each step reads
        self._db: ResultsStore | None = None  # written as evaluations finish
        self._t0 = time.perf_counter()
        self._log = log or (lambda m: print(m, file=sys.stderr, flush=True))
        # absolute: workers (other processes, other nodes) find the steps at the same path
        self.cache = StepCache(self.out.resolve() / "steps", self.log)
        self.scheduler = Scheduler(self.cache, executor, retries=retries, log=self.log)
        self.run_name = self.out.resolve().name
        self.selections: dict[tuple[str, str], Any] = {}  # (variant, method) -> search Selection
        m = cfg.model
        self.model_overrides = {
            "device": m.device, "dtype": m.dtype, "trust_remote_code": m.trust_remote_code,
            "device_map": m.device_map, "max_memory": m.max_memory, "offload_folder": m.offload_folder,
            "quantization": m.quantization,
        }

    def log(self, msg: str) -> None:
        from fiubench.utils.secrets import scrub

        dt = time.perf_counter() - self._t0
        self._log(scrub(f"[fiubench run {int(dt) // 60:02d}:{int(dt) % 60:02d}] {msg}"))

    # --------------------------------------------------------------------- steps
    def resources(self, kind: str) -> Resources:
        """What a ``kind`` step asks an executor for (``run.resources.<kind>``)."""
        return step_resources(self.cfg, kind)

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
                    functools.partial(_build_data, cfg.data), seed=cfg.data.seed,
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
        if cfg.search.active:
            from fiubench.pipeline.search import check_splits

            check_splits(cfg.search, ds, forget_splits=cfg.forget_splits, eval_retain=cfg.eval.retain_split,
                         learn_full=cfg.learn.full_split, learn_retain=cfg.learn.retain_split)

    def learn_step(self, data: Path, data_key: str, split: str, variant: Variant,
                   deps: Sequence[Step] = ()) -> Step:
        cfg = self.cfg
        v = variant.learn_values()
        model = dataclasses.replace(cfg.model, scope=v.get("learn_scope", cfg.model.scope))
        train = dataclasses.replace(
            cfg.learn.train, lr=v.get("learn_lr", cfg.learn.train.lr), seed=v.get("seed", cfg.learn.train.seed)
        )
        step_cfg = {"model": _model_key(model), "split": split, "train": _no_ui(train),
                    "visual_replay": cfg.learn.visual_replay}
        keep = {"visual_keep": cfg.learn.visual_keep, "visual_keep_weight": cfg.learn.visual_keep_weight}
        if cfg.learn.visual_keep_captions:  # likewise: keep runs without descriptions keep their cache
            keep["visual_keep_captions"] = cfg.learn.visual_keep_captions
        for opt in ("visual_keep_open", "visual_keep_faces"):  # likewise
            if getattr(cfg.learn, opt) is not None:
                keep[opt] = getattr(cfg.learn, opt)
        if cfg.learn.visual_keep:  # only then: runs without it keep their cached stage 1
            step_cfg.update(keep)
        role = "finetuned" if split == cfg.learn.full_split else "retain"
        name = _name(f"learn/{role}", variant.learn_label)
        fn = functools.partial(_learn, data=data, model=model, split=split, train=train,
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
        fn = functools.partial(_evaluate, model_dir=model_dir, data=data, ecfg=ecfg, reference=ref,
                               overrides=overrides)
        all_deps = [*deps, *([reference] if reference is not None else [])]
        then = None if not store else functools.partial(self._store_now, store=store)
        return Step(_name("eval/" + label, split), _eval_key_config(ecfg), fn, inputs=inputs, deps=all_deps,
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
            "model": _model_key(step_model), "method": method, "method_options": options, "forget": split,
            "retain": u.retain, "early_stop": u.early_stop, "loss_threshold": u.loss_threshold,
            "train": _no_ui(train), "reference": u.reference,
        }
        fn = functools.partial(_unlearn, model=model, data=data, method=method, options=options, split=split,
                               retain=u.retain, early_stop=u.early_stop, loss_threshold=u.loss_threshold,
                               train=train, reference=u.reference)
        name = name or _name(f"unlearn/{method}/{split}", variant.label)
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
        label = _name(f"{method}/{split}", variant.label)
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

    def plan(self, data: Path, data_key: str, data_step: Step | None) -> list[Step]:
        """Every step of the run after the dataset, in the order the sequential run takes."""
        cfg = self.cfg
        d0 = [data_step] if data_step is not None else []
        variants = cfg.variants()
        learn_variants: dict[str, Variant] = {}
        for v in variants:
            learn_variants.setdefault(v.learn_label, v)
        steps: list[Step] = []
        learned: dict[str, tuple[Step, Step]] = {}
        refs: dict[tuple[str, str], Step] = {}
        for label, v in learn_variants.items():
            ft = self.learn_step(data, data_key, cfg.learn.full_split, v, deps=d0)
            rt = self.learn_step(data, data_key, cfg.learn.retain_split, v, deps=d0)
            learned[label] = (ft, rt)
            steps += [ft, rt]
            for split in cfg.forget_splits:
                tag = _name("", label).strip("/")
                r = self.eval_step(_name("retain", tag), self.cache.path(rt.name, rt.key) / "run" / "model", rt.key,
                                   split, data, data_key, None, deps=[rt],
                                   store={"model": "retain", "role": "retain", "split": split, "variant": label})
                refs[(label, split)] = r
                f = self.eval_step(_name("finetuned", tag), self.cache.path(ft.name, ft.key) / "run" / "model",
                                   ft.key, split, data, data_key, r, deps=[ft],
                                   store={"model": "finetuned", "role": "finetuned", "split": split, "variant": label})
                steps += [r, f]
                for role, learned_step, ev in (("finetuned", ft, f), ("retain", rt, r)):
                    steps += self.attack_steps(
                        AttackTarget(role, self.cache.path(learned_step.name, learned_step.key) / "run" / "model",
                                     learned_step.key, split, v, self.cache.path(ev.name, ev.key), role=role),
                        data, data_key, deps=[learned_step])
        if cfg.evaluate_base:
            first = next(iter(learn_variants))
            base_key = config_hash({"base": _model_key(cfg.model)})
            for split in cfg.forget_splits:
                steps.append(self.eval_step(
                    "base", cfg.model.name_or_path, base_key, split, data, data_key, refs[(first, split)],
                    family=cfg.model.family, deps=d0,
                    store={"model": "base", "role": "base", "split": split, "variant": ""},
                ))
        for v in variants:
            ft, _ = learned[v.learn_label]
            for split in cfg.forget_splits:
                ref = refs[(v.learn_label, split)]
                for method in cfg.methods:
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

    # ------------------------------------------------------------------ attacks
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
                step_cfg.update(train=_no_ui(train), scope=scope)
            fn = functools.partial(_attack, attack=attack, options=options, model_dir=target.model_dir, data=data,
                                   ctx={**ctx, "train": train if trains else None, "scope": scope if trains else None,
                                        "model_overrides": dict(self.model_overrides)})
            steps.append(Step(
                _name(f"attack/{attack}/{target.label}", target.split), step_cfg, fn,
                inputs={"data": self._data_key("attack", target.split, data_key), "model": target.model_key},
                deps=deps, seed=cfg.eval.seed,
                resources=self.resources("attack"), meta={"attack": {"name": attack, "target": target}},
            ))
        return steps

    def _store_attacks(self, store: ResultsStore, done: dict[Step, StepResult]) -> None:
        """Summarise every attack per (learning variant, forget split) with its two baselines
        and store the attack metrics on the attacked models' evaluation rows."""
        import json

        from fiubench.attacks.runner import summarise_attacks
        from fiubench.metrics.robustness import robust_forget_quality

        cfg = self.cfg
        groups: dict[tuple[str, str], dict[str, tuple[AttackTarget, dict[str, Any]]]] = {}
        step_keys: dict[str, list[str]] = {}  # the attack steps' keys: what the rows' config_hash is made of
        for step, res in sorted(done.items(), key=lambda kv: self.scheduler.order_of(kv[0])):
            a = step.meta.get("attack")
            if not a:
                continue
            t: AttackTarget = a["target"]
            key = f"{t.role}:{t.label}:{t.variant.label}"
            step_keys.setdefault(key, []).append(res.key)
            result = json.loads((res.path / "attack" / "result.json").read_text(encoding="utf-8"))
            group = groups.setdefault((t.variant.learn_label, t.split), {})
            group.setdefault(key, (t, {}))[1][a["name"]] = result
        from fiubench.metrics.version import version_of

        for group in groups.values():
            outcomes = {k: o for k, (_, o) in group.items()}
            ft = next((o for k, (t, o) in group.items() if t.role == "finetuned"), None)
            rt = next((o for k, (t, o) in group.items() if t.role == "retain"), None)
            summary = summarise_attacks(outcomes, ft, rt, cfg.attacks.margin)
            for k, (t, _) in group.items():
                metrics = dict(summary["metrics"][k])
                ev = json.loads((t.eval_dir / "eval" / "results.json").read_text(encoding="utf-8"))
                metrics["forget_quality_robust"] = robust_forget_quality(
                    ev.get("metrics", {}), metrics.get("attack.worst"), cfg.eval.aggregate, cfg.eval.skip)
                info = {n: {"higher_is_better": n == "forget_quality_robust"} for n in metrics
                        if not n.endswith(".informative")}
                store.add(metrics, run=self.run_name, model=t.label, role=t.role,
                          # step keys, not the outcomes (timings, absolute paths): the same rows whatever the run directory
                          config_hash=config_hash({"attacks": sorted(step_keys[k]), "eval": t.eval_dir.name}),
                          method=t.method,
                          forget_split=t.split,
                          variant=t.variant.label if t.role == "unlearned" else t.variant.learn_label,
                          step=t.step, final=t.final, metric_info=info,
                          metrics_version=version_of(ev), definitions=ev.get("definitions"))

    # ------------------------------------------------------------------ the run
    def run(self, *, report: bool = True) -> Path:
        """Run (or resume) everything; returns the report's index.html (or the database).

        One process per run directory (a lock naming the holder's pid). Inputs are
        checked before anything is written: a rejected config or dataset leaves nothing
        behind in a fresh ``--out``.
        """
        from fiubench.utils.lock import RunLock

        load_dataset_cached.cache_clear()  # a dataset directory may have changed since the last run
        fresh = not self.out.exists() or not any(self.out.iterdir())
        try:
            with RunLock(self.out) as lock:
                if self.overwrite and not fresh:
                    self.log(f"--overwrite: starting over in {self.out}")
                    _clear(self.out, keep=lock.path)
                    fresh = True
                return self._run(report, lock, fresh)
        finally:
            self.scheduler.close()

    def _prepare(self, lock: Any, fresh: bool) -> tuple[Path, str, Step | None]:
        """The dataset (built, checked, its content keys); a rejected input leaves nothing."""
        from fiubench.errors import FiubenchError
        from fiubench.pipeline.inputs import DatasetInputs, default_hash_cache

        try:
            data, data_key, data_step = self.data_step()
            if data_step is not None:
                # first, alone: every split the run needs is checked before anything trains
                self.scheduler.run([data_step])
            self.check_dataset(data)
            hashes = default_hash_cache(self.out)
            self.inputs = DatasetInputs(data, self.dataset(data), hashes)
            hashes.save()
        except FiubenchError:
            if fresh:
                lock.release()
                import shutil

                shutil.rmtree(self.out, ignore_errors=True)
            raise
        return data, data_key, data_step

    def _run(self, report: bool, lock: Any, fresh: bool) -> Path:
        cfg = self.cfg
        data, data_key, data_step = self._prepare(lock, fresh)
        atomic_write_text(self.out / "run_config.yaml", config_yaml(cfg))
        atomic_write_json(self.out / "provenance.json", provenance(cfg, cfg.learn.train.seed))
        variants = cfg.variants()
        self.log(
            f"{len(cfg.methods)} method(s) x {len(cfg.forget_splits)} forget split(s) x {len(variants)} "
            f"variant(s) -> {self.out}"
        )
        # Written as evaluations finish (so `fiubench report` on a stopped run shows what
        # there is, and marks the rest incomplete), then rebuilt in the sequential order.
        self._db = ResultsStore(self.out / DB_NAME)
        try:
            self._db.delete_run(self.run_name)  # rebuilt from the (cached) evaluations: never stale
            self._db.set_plan(self.run_name, self.planned_models())
            if cfg.search.active:
                from fiubench.pipeline.selection import SearchPhase

                phase = SearchPhase(self, data, data_key, data_step)
                self.selections = phase.select(self.scheduler.run(phase.steps()))
            done = self.scheduler.run(self.plan(data, data_key, data_step))
            store = self._db
            store.delete_run(self.run_name)
            store.set_plan(self.run_name, self.planned_models())
            ordered = sorted(done.items(), key=lambda kv: self.scheduler.order_of(kv[0]))
            for step, res in ordered:
                if step.meta.get("store"):
                    self._store(store, res, **step.meta["store"])
            self._store_attacks(store, done)
            if cfg.uncertainty.n_boot > 0:
                for split, groups in final_groups(ordered, cfg.forget_splits).items():
                    self.uncertainty_step(store, split, groups)
        finally:
            self._db.close()
            self._db = None
        from fiubench.pipeline.selection import SELECTION_FILE, write_selection

        if cfg.search.active:
            write_selection(self.out, self.selections, done)
        else:
            (self.out / SELECTION_FILE).unlink(missing_ok=True)  # never a stale selection table
        self.log(f"results: {self.out / DB_NAME}")
        if not report:
            return self.out / DB_NAME
        from fiubench.report.build import write_report

        index = write_report(self.out / DB_NAME, self.out / "report", run=self.run_name, methods=cfg.methods,
                             title=f"FIUBench report: {cfg.name}", config=cfg)
        self.log(f"report: {index}")
        ran = sum(r.ran for r in self.cache.results)
        self.log(f"finished: {ran} step(s) run, {len(self.cache.results) - ran} cached")
        return index

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
                    out.append({"model": _name(f"{method}/{split}", v.label), "role": "unlearned", "method": method,
                                "forget_split": split, "variant": v.label})
        return out

    def _store_now(self, res: StepResult, *, store: dict[str, Any]) -> list[Step]:
        """``then`` of an evaluation: its rows go to the store as soon as it finished."""
        if self._db is not None:
            self._store(self._db, res, **store)
        return []

    def uncertainty_step(self, store: ResultsStore, split: str, groups: list[ModelGroup]) -> None:
        """Bootstrap intervals and paired comparisons of the final models on ``split``
        (a cached step of its own, run by the driver: it reads finished evaluations)."""
        import json

        from fiubench.pipeline.uncertainty import run_uncertainty
        from fiubench.report.store import ComparisonRow, IntervalRow

        u = self.cfg.uncertainty
        ecfg = self.cfg.eval_config(split)
        inputs = {f"{g.model}#{i}": p.parent.name for g in groups for i, p in enumerate(g.evals)}
        step_cfg = {"uncertainty": to_dict(u), "aggregate": to_dict(ecfg.aggregate), "skip": list(ecfg.skip),
                    "mia_k": ecfg.mia_k, "groups": [(g.model, g.role, g.method, g.variant) for g in groups]}

        def fn(d: Path) -> dict:
            res = run_uncertainty(groups, ecfg, u.n_boot, u.level, u.seed)
            atomic_write_json(d / "uncertainty.json", res)
            return {"intervals": len(res["intervals"]), "comparisons": len(res["comparisons"])}

        step = self.cache.run(f"uncertainty/{split}", step_cfg, fn, inputs=inputs, seed=u.seed)
        res = json.loads((step.path / "uncertainty.json").read_text(encoding="utf-8"))
        store.add_intervals(IntervalRow(run=self.run_name, forget_split=split, level=res["level"],
                                        n_boot=res["n_boot"], **row) for row in res["intervals"])
        store.add_comparisons(ComparisonRow(run=self.run_name, forget_split=split, level=res["level"], **row)
                              for row in res["comparisons"])

    def _store(self, store: ResultsStore, res: StepResult, *, model: str, role: str, split: str, variant: str,
               method: str | None = None, step: int = 0, final: bool = False) -> None:
        import json

        from fiubench.errors import FiubenchError
        from fiubench.metrics.version import METRICS_VERSION, version_of

        results = json.loads((res.path / "eval" / "results.json").read_text(encoding="utf-8"))
        if version_of(results) != METRICS_VERSION:  # never store old definitions beside new ones
            raise FiubenchError(
                f"{res.path / 'eval'}: evaluated with metrics version {version_of(results)}, this fiubench "
                f"computes version {METRICS_VERSION}; delete that step directory to re-evaluate"
            )
        store.add_results_json(
            results, run=self.run_name, model=model, role=role, config_hash=res.key, method=method,
            forget_split=split, variant=variant, step=step, final=final,
        )


# ------------------------------------------------------------- step functions
# Module-level (picklable): a worker process or a Ray task runs them.
@functools.lru_cache(maxsize=2)
def load_dataset_cached(root: Path) -> Any:
    from fiubench.data import load_dataset

    return load_dataset(root)


def _build_data(data_cfg: Any, d: Path) -> dict:
    from fiubench.data.build import build_dataset

    build_dataset(data_cfg, d / "dataset", overwrite=True)
    kill_point("data")
    return {"dataset": "dataset"}  # relative to the step directory: the run directory may move


def _learn(d: Path, *, data: Path, model: Any, split: str, train: Any, visual_replay: int,
           visual_keep: int = 0, visual_keep_weight: float = 1.0, visual_keep_captions: int = 0,
           visual_keep_open: int | None = None, visual_keep_faces: int | None = None) -> dict:
    from fiubench import tiny
    from fiubench.train import LearnConfig, learn

    cfg = LearnConfig(data=data, out=d / "run", model=model, split=split, train=train,
                      visual_replay=visual_replay, visual_keep=visual_keep,
                      visual_keep_weight=visual_keep_weight, visual_keep_captions=visual_keep_captions,
                      visual_keep_open=visual_keep_open, visual_keep_faces=visual_keep_faces)
    # the tiny base's replay and keep term, injected: train/ never imports fiubench.tiny
    run_dir = learn(cfg, terms=tiny.training_terms(cfg), replay=tiny.visual_replay)
    return {"model": str((run_dir / "model").relative_to(d))}


def _evaluate(d: Path, *, model_dir: Path | str, data: Path, ecfg: Any, reference: Path | None,
              overrides: dict[str, Any]) -> dict:
    from fiubench.pipeline.evaluation import evaluate_checkpoint

    return evaluate_checkpoint(model_dir, load_dataset_cached(data), ecfg, d / "eval", reference=reference,
                               model_overrides=overrides)


def _unlearn(d: Path, *, model: Any, data: Path, method: str, options: dict[str, Any], split: str,
             retain: str, early_stop: bool, loss_threshold: float | None, train: Any,
             reference: Any = "auto") -> dict:
    from fiubench.train import UnlearnConfig, unlearn

    run_dir = unlearn(UnlearnConfig(
        model=model, data=data, out=d / "run", method=method, method_options=options, forget=split,
        retain=retain, early_stop=early_stop, loss_threshold=loss_threshold, train=train, reference=reference,
    ))
    return {"run": str(run_dir.relative_to(d))}


def _attack(d: Path, *, attack: str, options: dict[str, Any], model_dir: Path, data: Path,
            ctx: dict[str, Any]) -> dict:
    import shutil

    from fiubench.attacks import AttackContext, run_attack

    context = AttackContext(dataset=load_dataset_cached(data), work=d / "work", **ctx)
    res = run_attack(attack, options, model_dir, context, d / "attack")
    shutil.rmtree(d / "work", ignore_errors=True)  # relearned weights, perturbed images
    return {"variants": res["variants"], "seconds": res["seconds"]}


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


def final_groups(done: Sequence[tuple[Step, StepResult]], splits: Sequence[str]) -> dict[str, list[ModelGroup]]:
    """Per forget split, the final evaluations grouped by model over seeds (in run order).

    A stored evaluation's reference is its step's "reference" dependency (the retain
    model's evaluation); the retain model is its own reference.
    """
    from fiubench.pipeline.config import LEARN_DIMS

    out: dict[str, dict[tuple, ModelGroup]] = {s: {} for s in splits}
    for step, res in done:
        meta = step.meta.get("store")
        if not meta or (meta["role"] == "unlearned" and not meta.get("final")):
            continue
        split, variant = meta["split"], meta["variant"]
        learn_variant = ",".join(p for p in variant.split(",") if p.split("=", 1)[0] in LEARN_DIMS)
        key = (meta["role"], meta.get("method"), seedless(variant))
        model = meta["model"] if meta["role"] != "unlearned" else f"{meta['method']}/{split}"
        g = out.setdefault(split, {}).setdefault(key, ModelGroup(
            _name(model, seedless(variant)), meta["role"], meta.get("method"), seedless(variant),
            seedless(learn_variant)))
        g.evals.append(res.path / "eval")
        ref = step.inputs.get("reference")
        if meta["role"] == "retain" or ref is None:
            g.references.append("self" if meta["role"] == "retain" else None)
        else:
            ref_step = next(s for s, _ in done if s.key == ref)
            g.references.append(done_path(done, ref_step) / "eval")
    return {s: list(groups.values()) for s, groups in out.items() if groups}


def done_path(done: Sequence[tuple[Step, StepResult]], step: Step) -> Path:
    return next(r.path for s, r in done if s is step)


def _name(base: str, variant: str) -> str:
    return f"{base}/{variant}" if variant else base


PLACEMENT = ("device_map", "max_memory", "offload_folder")


def _model_key(model: Any) -> dict[str, Any]:
    """A model config as hashed into step keys. Where the weights sit (device_map,
    offload) does not change a result; quantization does, and is left out when off so
    that the keys of unquantized runs are what they were before the option existed."""
    d = to_dict(model)
    for k in PLACEMENT:
        d.pop(k, None)
    if d.get("quantization") is None:
        d.pop("quantization", None)
    if d.get("name_or_path") == "tiny":
        # "tiny" names package data, not weights: a new shipped base must not reuse the
        # stage-1 models a cache learnt from the old one.
        d["tiny_base"] = _tiny_base_fingerprint()
    return d


@functools.cache
def _tiny_base_fingerprint() -> str | None:
    from fiubench.models.loading import tiny_base_dir
    from fiubench.models.vlm import weights_fingerprint

    return weights_fingerprint(tiny_base_dir())


def _no_ui(train: Any) -> dict[str, Any]:
    """A training config minus its logging/UI fields (they do not change the model)."""
    d = to_dict(train)
    for k in ("progress", "report_to"):
        d.pop(k, None)
    return d


def _eval_key_config(cfg: Any) -> dict[str, Any]:
    from fiubench.metrics.version import METRICS_VERSION

    d = to_dict(cfg)
    # A new metric definition changes every evaluation's key: old evaluations rerun.
    d["metrics_version"] = METRICS_VERSION
    judge = d.get("judge") or {}
    for k in ("api_key", "api_key_env", "cache"):  # secrets and where things live: not in any key
        judge.pop(k, None)
    return d


def _clear(out: Path, keep: Path) -> None:
    """Remove everything in ``out`` but ``keep`` (the lock we hold)."""
    import shutil

    for p in out.iterdir():
        if p == keep:
            continue
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p)
        else:
            p.unlink()


def run_pipeline(cfg: RunConfig, out: str | Path, *, report: bool = True,
                 log: Callable[[str], None] | None = None, executor: Executor | None = None,
                 retries: int = 0, overwrite: bool = False) -> Path:
    """Run (or resume) the benchmark described by ``cfg`` in ``out`` (see
    :mod:`fiubench.pipeline.graph` for ``executor`` and ``retries``; ``overwrite``:
    start over in place)."""
    return Pipeline(cfg, out, log, executor=executor, retries=retries, overwrite=overwrite).run(report=report)
