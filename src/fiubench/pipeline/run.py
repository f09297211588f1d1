"""``fiubench run``: the whole two-stage benchmark as one resumable pipeline.

    data (build or load) -> base model -> learn full + retain (per learning variant)
      -> evaluate retain, fine-tuned, base (per forget split)
      -> for each variant x method x forget split: unlearn, evaluate every checkpoint
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
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fiubench.pipeline.cache import StepCache, StepResult
from fiubench.pipeline.config import RunConfig, Variant
from fiubench.report.store import ResultsStore
from fiubench.utils.config import to_dict
from fiubench.utils.io import atomic_write_json, atomic_write_text
from fiubench.utils.provenance import config_hash, file_sha256, provenance

DB_NAME = "results.sqlite"


def config_yaml(cfg: RunConfig) -> str:
    import yaml

    d = to_dict(cfg)
    for section in (d.get("eval") or {}, d.get("checkpoint_eval") or {}):
        judge = section.get("judge") or {}
        if judge.get("api_key"):
            judge["api_key"] = "<redacted>"  # never print or write secrets
    return yaml.safe_dump(d, sort_keys=False, allow_unicode=True)


class Pipeline:
    """One ``fiubench run``. ``log`` receives the progress lines."""

    def __init__(self, cfg: RunConfig, out: str | Path, log: Callable[[str], None] | None = None) -> None:
        self.cfg = cfg
        self.out = Path(out)
        self._t0 = time.perf_counter()
        self._log = log or (lambda m: print(m, file=sys.stderr, flush=True))
        self.cache = StepCache(self.out / "steps", self.log)
        self._dataset: Any = None
        self.run_name = self.out.resolve().name
        self.model_overrides = {
            "device": cfg.model.device, "dtype": cfg.model.dtype, "trust_remote_code": cfg.model.trust_remote_code,
        }

    def log(self, msg: str) -> None:
        dt = time.perf_counter() - self._t0
        self._log(f"[fiubench run {int(dt) // 60:02d}:{int(dt) % 60:02d}] {msg}")

    # --------------------------------------------------------------------- steps
    def data_step(self) -> tuple[Path, str]:
        """The dataset directory and its key (a content hash for an external dataset)."""
        cfg = self.cfg
        if cfg.dataset is not None:
            root = Path(cfg.dataset).resolve()
            files = {n: file_sha256(root / n) for n in ("full.json", "split.json") if (root / n).is_file()}
            return root, config_hash({"dataset": str(root), "files": files})

        def build(d: Path) -> dict:
            from fiubench.data.build import build_dataset

            build_dataset(cfg.data, d / "dataset", overwrite=True)
            return {"dataset": str(d / "dataset")}

        res = self.cache.run("data", cfg.data, build, seed=cfg.data.seed)
        return res.path / "dataset", res.key

    def dataset(self, root: Path) -> Any:
        if self._dataset is None:
            from fiubench.data import load_dataset

            self._dataset = load_dataset(root)
        return self._dataset

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

    def learn_step(self, data: Path, data_key: str, split: str, variant: Variant) -> StepResult:
        from fiubench.train import LearnConfig, learn

        cfg = self.cfg
        v = variant.learn_values()
        model = dataclasses.replace(cfg.model, scope=v.get("learn_scope", cfg.model.scope))
        train = dataclasses.replace(
            cfg.learn.train, lr=v.get("learn_lr", cfg.learn.train.lr), seed=v.get("seed", cfg.learn.train.seed)
        )
        step_cfg = {"model": model, "split": split, "train": _no_ui(train),
                    "visual_replay": cfg.learn.visual_replay}
        role = "finetuned" if split == cfg.learn.full_split else "retain"
        name = _name(f"learn/{role}", variant.learn_label)

        def fn(d: Path) -> dict:
            run_dir = learn(LearnConfig(data=data, out=d / "run", model=model, split=split, train=train,
                                        visual_replay=cfg.learn.visual_replay))
            return {"model": str(run_dir / "model")}

        return self.cache.run(name, step_cfg, fn, inputs={"data": data_key}, seed=train.seed)

    def eval_step(
        self, label: str, model_dir: Path | str, model_key: str, split: str, data: Path, data_key: str,
        reference: StepResult | None, *, checkpoint: bool = False, family: str | None = None,
    ) -> StepResult:
        from fiubench.pipeline.evaluation import evaluate_checkpoint

        cfg = self.cfg
        ecfg = cfg.checkpoint_eval_config(split) if checkpoint else cfg.eval_config(split)
        inputs = {"data": data_key, "model": model_key}
        if reference is not None:
            inputs["reference"] = reference.key

        def fn(d: Path) -> dict:
            ref = None if reference is None else reference.path / "eval"
            overrides = {**self.model_overrides, "family": family}
            return evaluate_checkpoint(model_dir, self.dataset(data), ecfg, d / "eval", reference=ref,
                                       model_overrides=overrides)

        return self.cache.run(_name("eval/" + label, split), _eval_key_config(ecfg), fn, inputs=inputs, seed=ecfg.seed)

    def unlearn_step(self, method: str, split: str, variant: Variant, ft: StepResult, data: Path,
                     data_key: str) -> StepResult:
        from fiubench.models.config import ModelConfig
        from fiubench.train import UnlearnConfig, unlearn

        cfg = self.cfg
        v = variant.values
        u = cfg.unlearn
        train = dataclasses.replace(u.train, lr=v.get("unlearn_lr", u.train.lr), seed=v.get("seed", u.train.seed))
        scope = v.get("unlearn_scope", u.scope)
        model = ModelConfig(name_or_path=str(ft.path / "run" / "model"), scope=scope, **self.model_overrides)
        step_model = dataclasses.replace(model, name_or_path="<fine-tuned>")  # its key is an input
        options = dict(u.method_options.get(method, {}))
        step_cfg = {
            "model": step_model, "method": method, "method_options": options, "forget": split,
            "retain": u.retain, "early_stop": u.early_stop, "loss_threshold": u.loss_threshold,
            "train": _no_ui(train),
        }

        def fn(d: Path) -> dict:
            run_dir = unlearn(UnlearnConfig(
                model=model, data=data, out=d / "run", method=method, method_options=options, forget=split,
                retain=u.retain, early_stop=u.early_stop, loss_threshold=u.loss_threshold, train=train,
            ))
            return {"run": str(run_dir)}

        name = _name(f"unlearn/{method}/{split}", variant.label)
        return self.cache.run(name, step_cfg, fn, inputs={"data": data_key, "finetuned": ft.key}, seed=train.seed)

    # ------------------------------------------------------------------ the run
    def run(self, *, report: bool = True) -> Path:
        """Run (or resume) everything; returns the report's index.html (or the database)."""
        from fiubench.train import list_checkpoints

        cfg = self.cfg
        self.out.mkdir(parents=True, exist_ok=True)
        atomic_write_text(self.out / "run_config.yaml", config_yaml(cfg))
        atomic_write_json(self.out / "provenance.json", provenance(cfg, cfg.learn.train.seed))
        variants = cfg.variants()
        self.log(
            f"{len(cfg.methods)} method(s) x {len(cfg.forget_splits)} forget split(s) x {len(variants)} "
            f"variant(s) -> {self.out}"
        )
        data, data_key = self.data_step()
        self.check_dataset(data)
        store = ResultsStore(self.out / DB_NAME)
        store.delete_run(self.run_name)  # rebuilt from the (cached) evaluations below: never stale
        try:
            learn_variants: dict[str, Variant] = {}
            for v in variants:
                learn_variants.setdefault(v.learn_label, v)
            learned: dict[str, tuple[StepResult, StepResult]] = {}
            refs: dict[tuple[str, str], StepResult] = {}
            for label, v in learn_variants.items():
                ft = self.learn_step(data, data_key, cfg.learn.full_split, v)
                rt = self.learn_step(data, data_key, cfg.learn.retain_split, v)
                learned[label] = (ft, rt)
                for split in cfg.forget_splits:
                    tag = _name("", label).strip("/")
                    r = self.eval_step(_name("retain", tag), rt.path / "run" / "model", rt.key, split,
                                       data, data_key, None)
                    refs[(label, split)] = r
                    self._store(store, r, model="retain", role="retain", split=split, variant=label)
                    f = self.eval_step(_name("finetuned", tag), ft.path / "run" / "model", ft.key, split,
                                       data, data_key, r)
                    self._store(store, f, model="finetuned", role="finetuned", split=split, variant=label)
            if cfg.evaluate_base:
                first = next(iter(learn_variants))
                base_key = config_hash({"base": to_dict(cfg.model)})
                for split in cfg.forget_splits:
                    b = self.eval_step("base", cfg.model.name_or_path, base_key, split, data, data_key,
                                       refs[(first, split)], family=cfg.model.family)
                    self._store(store, b, model="base", role="base", split=split, variant="")
            for v in variants:
                ft, _ = learned[v.learn_label]
                for split in cfg.forget_splits:
                    ref = refs[(v.learn_label, split)]
                    for method in cfg.methods:
                        u = self.unlearn_step(method, split, v, ft, data, data_key)
                        ckpts = list_checkpoints(u.path / "run")
                        if not cfg.evaluate_checkpoints:
                            ckpts = ckpts[-1:]
                        label = _name(f"{method}/{split}", v.label)
                        for i, (step, path) in enumerate(ckpts):
                            final = i == len(ckpts) - 1
                            e = self.eval_step(
                                f"{label}/step-{step:06d}", path / "model",
                                config_hash({"unlearn": u.key, "step": step}), split, data, data_key, ref,
                                checkpoint=not final,
                            )
                            self._store(store, e, model=label, role="unlearned", split=split, variant=v.label,
                                        method=method, step=step, final=final)
        finally:
            store.close()
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

    def _store(self, store: ResultsStore, res: StepResult, *, model: str, role: str, split: str, variant: str,
               method: str | None = None, step: int = 0, final: bool = False) -> None:
        import json

        results = json.loads((res.path / "eval" / "results.json").read_text(encoding="utf-8"))
        store.add_results_json(
            results, run=self.run_name, model=model, role=role, config_hash=res.key, method=method,
            forget_split=split, variant=variant, step=step, final=final,
        )


def _name(base: str, variant: str) -> str:
    return f"{base}/{variant}" if variant else base


def _no_ui(train: Any) -> dict[str, Any]:
    """A training config minus its logging/UI fields (they do not change the model)."""
    d = to_dict(train)
    for k in ("progress", "report_to"):
        d.pop(k, None)
    return d


def _eval_key_config(cfg: Any) -> dict[str, Any]:
    d = to_dict(cfg)
    judge = d.get("judge") or {}
    judge.pop("api_key", None)  # never hashed into a directory listing nor written
    judge.pop("cache", None)
    return d


def run_pipeline(cfg: RunConfig, out: str | Path, *, report: bool = True,
                 log: Callable[[str], None] | None = None) -> Path:
    """Run (or resume) the benchmark described by ``cfg`` in ``out``."""
    return Pipeline(cfg, out, log).run(report=report)
