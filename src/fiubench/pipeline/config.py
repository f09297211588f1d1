"""The run configuration of ``fiubench run``: every layer's config plus what to sweep.

A YAML file (or a shipped preset) is read with ``yaml.safe_load`` and bound with
``fiubench.utils.config.from_dict`` *before* anything heavy starts: unknown keys,
wrong types, unknown methods or model families fail with a did-you-mean error
naming the key path (``run.unlearn.train.lr``).

A config may sweep lists; the run is their Cartesian product:

* ``methods`` x ``forget_splits`` (the paper's main table, its forget-ratio comparison);
* ``sweep.learn_scope`` / ``sweep.unlearn_scope`` (the fine-tuning-strategy ablation:
  vision / projector / LLM / LoRA), ``sweep.learn_lr`` / ``sweep.unlearn_lr``,
  ``sweep.seed`` (both training stages).

Every combination of sweep values is a *variant*, labelled by the settings that
vary (``"unlearn_lr=0.0001,seed=1"``; empty when nothing is swept).
"""

from __future__ import annotations

import copy
import dataclasses
import itertools
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from fiubench.data.build import DataConfig
from fiubench.data.schema import FORGET_SPLITS
from fiubench.errors import ConfigError
from fiubench.eval.config import EvalConfig
from fiubench.models.config import ModelConfig, TuningScope
from fiubench.pipeline.search import SearchSection
from fiubench.train.config import (
    TrainConfig,
    UnlearnTrainConfig,
    check_phrasings,
    check_visual_options,
    train_preset,
)
from fiubench.utils.config import from_dict, to_dict
from fiubench.utils.registry import did_you_mean


def _tiny_learn() -> TrainConfig:
    return train_preset("tiny")


@dataclass
class LearnSection:
    """Stage 1. The fine-tuned model trains on ``full_split``, the retain model on
    ``retain_split``; the tuning scope is ``model.scope``."""

    train: TrainConfig = field(default_factory=_tiny_learn)
    full_split: str = "full"
    retain_split: str = "retain"
    visual_replay: int = 0  # see fiubench.train.config.LearnConfig.visual_replay
    visual_keep: int = 0  # see fiubench.tiny.keep (yes/no pairs per step; 0: off)
    visual_keep_weight: float = 1.0
    visual_keep_captions: int = 0  # descriptions per keep step (fiubench.tiny.keep)
    visual_keep_open: int | None = None  # open questions per keep step (None: visual_keep // 3, at least 1)
    visual_keep_faces: int | None = None  # the keep step's pool of procedural faces (None: 200)
    train_phrasings: int = 0  # see fiubench.train.config.LearnConfig.train_phrasings (0: off)
    # Bring your own stage 1 (pipeline/stage1_import.py): a checkpoint directory or Hub id
    # (org/name[@revision]) used instead of learning the fine-tuned / retain model.
    finetuned_from: str | None = None
    retain_from: str | None = None


@dataclass
class UnlearnSection:
    """Stage 2, shared by every method. ``scope``: what unlearning updates (paper: LoRA
    r=128 on the LLM + the full projector). ``method_options``: method -> its options."""

    train: UnlearnTrainConfig = field(default_factory=UnlearnTrainConfig)
    scope: TuningScope = field(default_factory=TuningScope)
    retain: str = "retain"
    early_stop: bool = True
    loss_threshold: float | None = None
    method_options: dict[str, dict[str, Any]] = field(default_factory=dict)
    reference: Literal["auto", "copy"] = "auto"  # see fiubench.train.config.UnlearnConfig.reference
    # Sequential deletion requests (fiubench.pipeline.sequential): each forget split is also
    # removed in `requests` requests of disjoint people (drawn with `requests_seed`), one
    # after another; 1 = the single batch only (default).
    requests: int = 1
    requests_seed: int = 0


@dataclass
class SweepSection:
    """Lists to sweep (empty = not swept: the single value of the section above)."""

    learn_lr: list[float] = field(default_factory=list)
    learn_scope: list[TuningScope] = field(default_factory=list)
    unlearn_lr: list[float] = field(default_factory=list)
    unlearn_scope: list[TuningScope] = field(default_factory=list)
    seed: list[int] = field(default_factory=list)


@dataclass
class StepResources:
    """What one step of a kind asks an executor for (``--jobs N``, ``--executor ray``).

    ``gpus``: null -> when the model runs on a GPU (``model.device`` cuda, or unset on a
    machine -- or, with Ray, a cluster -- with one), the GPUs the family's size needs
    for this kind of step (``fiubench.pipeline.cost.gpus_for``, docs/scale.md), none on
    CPU; a model over several GPUs also needs ``model.device_map``. ``memory_gb``: host memory Ray reserves (null: none).
    """

    cpus: float = 1.0
    gpus: float | None = None
    memory_gb: float | None = None
    processes: int | None = None  # eval only: a sharded evaluation (pipeline/sharded.py); None: one per GPU

    def check(self, path: str) -> None:
        if not self.cpus > 0:
            raise ConfigError(f"{path}.cpus: must be > 0, got {self.cpus}")
        if self.gpus is not None and self.gpus < 0:
            raise ConfigError(f"{path}.gpus: must be >= 0 (or null for automatic), got {self.gpus}")
        if self.memory_gb is not None and not self.memory_gb > 0:
            raise ConfigError(f"{path}.memory_gb: must be > 0 (or null), got {self.memory_gb}")
        if self.processes is not None and (isinstance(self.processes, bool) or self.processes < 1):
            raise ConfigError(f"{path}.processes: must be an integer >= 1 (or null), got {self.processes!r}")
        if self.processes not in (None, 1) and not path.endswith(".eval"):
            raise ConfigError(f"{path}.processes: only evaluation steps run sharded (run.resources.eval.processes)")


@dataclass
class ResourcesSection:
    """Resource requests per step kind (the data step never uses a GPU)."""

    data: StepResources = field(default_factory=lambda: StepResources(gpus=0))
    learn: StepResources = field(default_factory=StepResources)
    unlearn: StepResources = field(default_factory=StepResources)
    eval: StepResources = field(default_factory=StepResources)
    attack: StepResources = field(default_factory=StepResources)

    def validate(self) -> None:
        for kind in ("data", "learn", "unlearn", "eval", "attack"):
            getattr(self, kind).check(f"run.resources.{kind}")


def step_resources(cfg: RunConfig, kind: str) -> Any:
    """The :class:`~fiubench.pipeline.graph.Resources` a ``kind`` step asks for."""
    from fiubench.pipeline.graph import Resources, visible_gpus

    r: StepResources = getattr(cfg.resources, kind)
    gpus = r.gpus
    if gpus is None:
        device = cfg.model.device
        on_gpu = device.startswith("cuda") if device is not None else bool(visible_gpus())
        gpus = auto_gpus(cfg, kind) if on_gpu else 0.0
    return Resources(cpus=r.cpus, gpus=float(gpus), memory_gb=r.memory_gb)


def auto_gpus(cfg: RunConfig, kind: str) -> float:
    """``gpus: null`` on a GPU: what the model's size needs (docs/scale.md's table), one GPU
    when the planner does not know the family's size."""
    from fiubench.pipeline.cost import gpus_for

    try:
        return float(gpus_for(cfg, kind))
    except ConfigError:
        return 0.0 if kind == "data" else 1.0


@dataclass
class AttacksSection:
    """Robustness attacks (``fiubench.attacks``, docs/attacks.md) on every method's final
    model, with the fine-tuned and retain models attacked the same way as baselines.

    ``names``: attacks to run (empty: none); ``options``: attack -> its options;
    ``margin``: an attack is informative when the 95 % interval (identities resampled)
    of the fine-tuned minus the retain model's extraction lies above this. Generation uses ``eval.batch_size`` and
    ``eval.max_new_tokens``; relearning uses the stage-1 recipe (``learn.train``,
    ``model.scope``) for its few steps.
    """

    names: list[str] = field(default_factory=list)
    options: dict[str, dict[str, Any]] = field(default_factory=dict)
    margin: float = 0.0

    def validate(self) -> None:
        from fiubench.attacks import attack_names, build_attack

        known = attack_names()
        if len(set(self.names)) != len(self.names):
            raise ConfigError(f"run.attacks.names: duplicates in {self.names}")
        for i, n in enumerate(self.names):
            if n not in known:
                raise ConfigError(
                    f"run.attacks.names[{i}]: unknown attack {n!r}.{did_you_mean(n, known)} Known: {', '.join(known)}."
                )
        for n, opts in self.options.items():
            if n not in known:
                raise ConfigError(f"run.attacks.options: unknown attack {n!r}.{did_you_mean(n, known)}")
            try:
                build_attack(n, opts)
            except ConfigError as e:
                raise ConfigError(f"run.attacks.options.{n}: {e}") from None
        if not self.margin >= 0:
            raise ConfigError(f"run.attacks.margin: must be >= 0, got {self.margin}")


@dataclass
class GateSection:
    """The stage-1 gate (``fiubench.metrics.gate``): before unlearning is graded, each forget
    identity must be learnt by the fine-tuned model (EM gap >= ``em_gap`` and answer NLL gap
    >= ``nll_gap`` vs the retain model); a run whose fraction learnt is below ``min_learnt``
    stops with an error naming the identities, unless ``override`` (then the report and the
    log carry a warning)."""

    min_learnt: float = 0.8
    em_gap: float = 0.5
    nll_gap: float = math.log(2.0)
    override: bool = False

    def rule(self) -> Any:
        from fiubench.metrics.gate import GateRule

        return GateRule(em_gap=self.em_gap, nll_gap=self.nll_gap, min_learnt=self.min_learnt)


@dataclass
class UncertaintySection:
    """Intervals over identities and verdicts of the final models (``n_boot`` 0 = off):
    ``n_boot`` BCa resamples (and random sign-flip patterns when the people are too many
    to enumerate), verdicts at alpha = 1 - ``level``, ``correction`` holm or bh across
    each family and figure (docs/metrics-uncertainty.md)."""

    n_boot: int = 1000
    level: float = 0.95
    seed: int = 0
    correction: str = "holm"


@dataclass
class RunConfig:
    """``fiubench run``: data -> base -> learn (full, retain) -> evaluate -> unlearn x
    methods x forget splits x variants, evaluating every checkpoint -> report.

    ``dataset``: an existing dataset directory (e.g. the official release); when
    null the embedded dataset described by ``data`` is built. ``checkpoint_eval``:
    EvalConfig keys overridden when evaluating intermediate checkpoints (cheaper
    curves); final models always use ``eval``. ``eval.forget`` is set per split.
    """

    name: str = "run"
    dataset: Path | None = None
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    learn: LearnSection = field(default_factory=LearnSection)
    unlearn: UnlearnSection = field(default_factory=UnlearnSection)
    eval: EvalConfig = field(default_factory=EvalConfig)
    checkpoint_eval: dict[str, Any] = field(default_factory=dict)
    methods: list[str] = field(default_factory=lambda: ["ga", "gd", "kl", "po", "npo"])
    forget_splits: list[str] = field(default_factory=lambda: ["forget5", "forget10"])
    evaluate_base: bool = True
    evaluate_checkpoints: bool = True
    sweep: SweepSection = field(default_factory=SweepSection)
    resources: ResourcesSection = field(default_factory=ResourcesSection)
    attacks: AttacksSection = field(default_factory=AttacksSection)
    search: SearchSection = field(default_factory=SearchSection)  # hyperparameter selection (pipeline/search.py)
    # Repeat unlearning (and, with seeds_learn, learning) under `seeds` seeds (the
    # configured seed + 0, 1, ...); the report aggregates over seeds and identities.
    seeds: int = 1
    seeds_learn: bool = False
    uncertainty: UncertaintySection = field(default_factory=UncertaintySection)
    gate: GateSection = field(default_factory=GateSection)
    # Local executor: independent steps run at once when `--jobs` is not given (1: one at
    # a time in the command's process). An execution setting, never part of a step's key.
    jobs: int = 1

    def validate(self) -> None:
        from fiubench.methods import build_method, method_names

        if not self.methods:
            raise ConfigError("run.methods: empty (name at least one unlearning method)")
        if len(set(self.methods)) != len(self.methods):
            raise ConfigError(f"run.methods: duplicates in {self.methods}")
        from fiubench.methods import BROKEN

        known = method_names()
        for i, m in enumerate(self.methods):
            if m in BROKEN and m not in known:
                raise ConfigError(f"run.methods[{i}]: {BROKEN[m]}")
            if m not in known:
                raise ConfigError(
                    f"run.methods[{i}]: unknown unlearning method {m!r}.{did_you_mean(m, known)} "
                    f"Known: {', '.join(known)}."
                )
        for m, opts in self.unlearn.method_options.items():
            if m not in known:
                raise ConfigError(
                    f"run.unlearn.method_options: unknown method {m!r}.{did_you_mean(m, known)}"
                )
            build_method(m, opts, where=f"run.unlearn.method_options.{m}")
        if not self.forget_splits:
            raise ConfigError("run.forget_splits: empty")
        available = list(FORGET_SPLITS) if self.dataset is not None else [
            f"forget{int(p) if float(p).is_integer() else p}" for p in self.data.forget_percents
        ]
        for i, s in enumerate(self.forget_splits):
            if s not in available:
                raise ConfigError(
                    f"run.forget_splits[{i}]: {s!r} is not a forget split of this dataset.{did_you_mean(s, available)} "
                    f"Available: {', '.join(available)}."
                )
        if self.dataset is not None and not Path(self.dataset).is_dir():
            raise ConfigError(f"run.dataset: {self.dataset} is not a directory")
        self.model.validate()
        if self.model.quantization is not None:  # QLoRA: both stages must train LoRA adapters
            for where, scope in (("run.model", self.model.scope), ("run.unlearn", self.unlearn.scope),
                                 *((f"run.sweep.learn_scope[{i}]", s) for i, s in enumerate(self.sweep.learn_scope)),
                                 *((f"run.sweep.unlearn_scope[{i}]", s) for i, s in enumerate(self.sweep.unlearn_scope))):
                dataclasses.replace(self.model, scope=scope).check_trainable(where)
        self.learn.train.validate("run.learn.train")
        ln = self.learn
        check_visual_options(ln.visual_replay, ln.visual_keep, ln.visual_keep_weight, ln.visual_keep_captions,
                             "run.learn", ln.visual_keep_open, ln.visual_keep_faces)
        check_phrasings(ln.train_phrasings, "run.learn")
        self.unlearn.train.validate("run.unlearn.train")
        self.unlearn.scope.validate("run.unlearn.scope")
        if self.unlearn.loss_threshold is not None and not math.isfinite(self.unlearn.loss_threshold):
            raise ConfigError(f"run.unlearn.loss_threshold: must be a finite number or null, got {self.unlearn.loss_threshold}")
        if isinstance(self.unlearn.requests, bool) or self.unlearn.requests < 1:
            raise ConfigError(f"run.unlearn.requests: must be an integer >= 1 (1 = one batch), got {self.unlearn.requests!r}")
        if self.unlearn.reference not in ("auto", "copy"):
            raise ConfigError(f"run.unlearn.reference: must be 'auto' or 'copy', got {self.unlearn.reference!r}")
        if self.checkpoint_eval:
            self.checkpoint_eval_config(self.forget_splits[0])
        for name in ("learn_lr", "unlearn_lr"):
            for v in getattr(self.sweep, name):
                if not (math.isfinite(v) and v > 0):
                    raise ConfigError(f"run.sweep.{name}: learning rates must be finite numbers > 0, got {v}")
        for name in ("learn_scope", "unlearn_scope"):
            for i, s in enumerate(getattr(self.sweep, name)):
                s.validate(f"run.sweep.{name}[{i}]")
        if self.seeds < 1:
            raise ConfigError(f"run.seeds: must be >= 1, got {self.seeds}")
        if isinstance(self.jobs, bool) or not isinstance(self.jobs, int) or self.jobs < 1:
            raise ConfigError(f"run.jobs: must be an integer >= 1, got {self.jobs!r}")
        if self.seeds > 1 and self.sweep.seed:
            raise ConfigError("run.seeds: cannot be combined with run.sweep.seed (give one of them)")
        if self.uncertainty.n_boot < 0:
            raise ConfigError(f"run.uncertainty.n_boot: must be >= 0 (0 = off), got {self.uncertainty.n_boot}")
        if not 0 < self.uncertainty.level < 1:
            raise ConfigError(f"run.uncertainty.level: must be in (0, 1), got {self.uncertainty.level}")
        if self.uncertainty.correction not in ("holm", "bh"):
            raise ConfigError(f"run.uncertainty.correction: holm or bh, got {self.uncertainty.correction!r}")
        self.resources.validate()
        from fiubench.pipeline.stage1_import import check_imports

        check_imports(self)
        self.gate.rule().validate("run.gate")
        self.attacks.validate()
        self.search.check(self.methods, self.sweep.unlearn_lr)

    # ------------------------------------------------------------------ derived
    def eval_config(self, split: str) -> EvalConfig:
        return dataclasses.replace(copy.deepcopy(self.eval), forget=split)

    def checkpoint_eval_config(self, split: str) -> EvalConfig:
        """``eval`` with the ``checkpoint_eval`` overrides, for intermediate checkpoints."""
        merged = to_dict(self.eval)
        for k, v in self.checkpoint_eval.items():
            if isinstance(v, dict) and isinstance(merged.get(k), dict):
                merged[k] = {**merged[k], **v}
            else:
                merged[k] = v
        merged["forget"] = split
        return from_dict(EvalConfig, merged, "run.checkpoint_eval")

    def variants(self) -> list[Variant]:
        """Every combination of the sweep lists (one, unlabelled, when nothing is swept)."""
        dims: list[tuple[str, list[Any]]] = [
            (name, getattr(self.sweep, name)) for name in ("learn_scope", "learn_lr", "unlearn_scope", "unlearn_lr", "seed")
        ]
        if self.seeds > 1:
            if self.seeds_learn:  # both stages: stage-1 seed as the base
                dims.append(("seed", [self.learn.train.seed + i for i in range(self.seeds)]))
            else:
                dims.append(("unlearn_seed", [self.unlearn.train.seed + i for i in range(self.seeds)]))
        dims = [(n, vals) for n, vals in dims if vals]
        out = []
        for combo in itertools.product(*(vals for _, vals in dims)):
            out.append(Variant(dict(zip((n for n, _ in dims), combo, strict=True)), {n for n, v in dims if len(v) > 1}))
        return out


LEARN_DIMS = ("learn_scope", "learn_lr", "seed")


def scope_label(s: TuningScope) -> str:
    """``projector+language``, ``language(lora r=128)``..."""
    parts = [p for p in ("vision", "projector", "language") if getattr(s, p)]
    label = "+".join(parts)
    return f"{label}(lora r={s.lora_r})" if s.lora else label


@dataclass
class Variant:
    """One point of the sweep: the swept settings (``values``), labelled by those that vary."""

    values: dict[str, Any]
    varying: set[str] = field(default_factory=set)

    def _label(self, dims: tuple[str, ...] | None) -> str:
        parts = []
        for k, v in self.values.items():
            if k not in self.varying or (dims is not None and k not in dims):
                continue
            parts.append(f"{k}={scope_label(v) if isinstance(v, TuningScope) else v}")
        return ",".join(parts)

    @property
    def label(self) -> str:
        return self._label(None)

    @property
    def learn_label(self) -> str:
        """The part of the label that the stage-1 models depend on."""
        return self._label(LEARN_DIMS)

    def learn_values(self) -> dict[str, Any]:
        return {k: v for k, v in self.values.items() if k in LEARN_DIMS}
