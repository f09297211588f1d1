"""Hyperparameter selection without peeking: the ``search:`` section of a run config.

For every method (and sweep variant), each candidate setting -- a point of the grid
of learning rates, epochs / max steps and method options, or ``n_trials`` points
drawn from it at random -- unlearns the *validation* forget identities
(``forget_split``, default ``forget_val``) from the fine-tuned model, and every saved
checkpoint is evaluated on them, with utility measured on ``retain_split`` (default
``retain_val``). Those identities are disjoint from every forget split the report
evaluates and from the report's retain split (checked before anything trains; build
them with ``data.val_percent``).

Selection rule (one rule for settings, checkpoints and early stopping): among the
validation points whose model utility is at least ``min_utility_ratio`` times the
fine-tuned model's (on the same validation split), the one with the highest forget
quality wins; ties go to the higher utility, then the earlier checkpoint, then the
earlier candidate. When no point reaches the utility floor, the point with the
highest utility is chosen and the report says so. With ``select_checkpoint`` the
chosen point's epoch is also the stopping epoch: the reported run of that setting on
each evaluation split is cut at its last checkpoint at or before that epoch.
Only then does anything touch the evaluation identities, once per method.
"""

from __future__ import annotations

import itertools
import math
import random
from dataclasses import dataclass, field
from typing import Any, Literal

from fiubench.errors import ConfigError

# Candidate keys that set the unlearning TrainConfig; everything else is a method option.
TRAIN_KEYS = ("lr", "epochs", "max_steps")


@dataclass
class SearchSection:
    """``search:`` of a run config (``strategy: none`` switches it off)."""

    strategy: Literal["none", "grid", "random"] = "none"
    lr: list[float] = field(default_factory=list)  # unlearning learning rates
    epochs: list[int] = field(default_factory=list)
    max_steps: list[int] = field(default_factory=list)
    method_options: dict[str, dict[str, list[Any]]] = field(default_factory=dict)  # method -> option -> values
    n_trials: int = 4  # random: candidates drawn per method from the grid (without replacement)
    seed: int = 0  # random: the draw
    forget_split: str = "forget_val"
    retain_split: str = "retain_val"
    min_utility_ratio: float = 0.9  # utility floor, as a fraction of the fine-tuned model's
    select_checkpoint: bool = True  # choose the checkpoint (early stopping) by the same rule

    @property
    def active(self) -> bool:
        return self.strategy != "none"

    def validate(self) -> None:
        if not self.active:
            return
        w = "run.search"
        for v in self.lr:
            if not v > 0:
                raise ConfigError(f"{w}.lr: learning rates must be > 0, got {v}")
        for name in ("epochs", "max_steps"):
            for v in getattr(self, name):
                if v < 1:
                    raise ConfigError(f"{w}.{name}: must be >= 1, got {v}")
        if self.n_trials < 1:
            raise ConfigError(f"{w}.n_trials: must be >= 1, got {self.n_trials}")
        if not 0.0 <= self.min_utility_ratio <= 1.5:
            raise ConfigError(f"{w}.min_utility_ratio: expected a fraction such as 0.9, got {self.min_utility_ratio}")
        if self.forget_split == self.retain_split:
            raise ConfigError(f"{w}: forget_split and retain_split are both {self.forget_split!r}")

    def check(self, methods: list[str], sweep_lr: list[float]) -> None:
        """Checks against the rest of the run config (methods, sweep)."""
        from fiubench.methods import build_method

        if not self.active:
            return
        self.validate()
        w = "run.search"
        if self.lr and sweep_lr:
            raise ConfigError(f"{w}.lr and run.sweep.unlearn_lr: choose learning rates one way, not both")
        for m, opts in self.method_options.items():
            if m not in methods:
                raise ConfigError(f"{w}.method_options.{m}: {m!r} is not in run.methods {methods}")
            for k, vals in opts.items():
                if not isinstance(vals, list) or not vals:
                    raise ConfigError(f"{w}.method_options.{m}.{k}: expected a non-empty list of values")
                for val in vals:
                    try:
                        build_method(m, {k: val})
                    except ConfigError as e:
                        raise ConfigError(f"{w}.method_options.{m}.{k}: {e}") from None

    def candidates(self, method: str) -> list[Candidate]:
        """The settings tried for ``method``, in a fixed order."""
        dims: list[tuple[str, list[Any]]] = [(k, list(getattr(self, k))) for k in TRAIN_KEYS if getattr(self, k)]
        dims += [(k, list(v)) for k, v in sorted(self.method_options.get(method, {}).items())]
        grid = [dict(zip([k for k, _ in dims], combo, strict=True)) for combo in
                itertools.product(*(vals for _, vals in dims))]
        if self.strategy == "random" and len(grid) > self.n_trials:
            rng = random.Random(f"search:{self.seed}:{method}")
            picks = sorted(rng.sample(range(len(grid)), self.n_trials))
            grid = [grid[i] for i in picks]
        return [Candidate(values) for values in grid]


@dataclass
class Candidate:
    """One setting: values for TRAIN_KEYS and method options."""

    values: dict[str, Any]

    @property
    def label(self) -> str:
        return ",".join(f"{k}={v}" for k, v in self.values.items()) or "default"

    @property
    def train(self) -> dict[str, Any]:
        return {k: v for k, v in self.values.items() if k in TRAIN_KEYS}

    @property
    def options(self) -> dict[str, Any]:
        return {k: v for k, v in self.values.items() if k not in TRAIN_KEYS}


@dataclass
class Point:
    """One evaluated validation model: candidate ``index`` at checkpoint ``step``."""

    index: int
    step: int
    epoch: float
    utility: float | None
    forget_quality: float | None
    final: bool = False


def _num(x: float | None, default: float) -> float:
    return default if x is None or (isinstance(x, float) and math.isnan(x)) else float(x)


def select(points: list[Point], finetuned_utility: float | None, ratio: float) -> tuple[Point, bool]:
    """The chosen point under the rule of the module docstring, and whether it met the floor."""
    if not points:
        raise ValueError("no validation point to select from")
    floor = _num(finetuned_utility, 0.0) * ratio
    ok = [p for p in points if _num(p.utility, -math.inf) >= floor]
    if ok:
        best = min(ok, key=lambda p: (-_num(p.forget_quality, -math.inf), -_num(p.utility, -math.inf),
                                      p.step, p.index))
        return best, True
    return min(points, key=lambda p: (-_num(p.utility, -math.inf), p.step, p.index)), False


def stop_at(checkpoints: list[tuple[int, float, Any]], epoch: float) -> list[tuple[int, float, Any]]:
    """Checkpoints (step, epoch, path) up to the last one at or before ``epoch`` (at least one)."""
    kept = [c for c in checkpoints if c[1] <= epoch + 1e-9]
    return kept or checkpoints[:1]


def check_splits(search: SearchSection, ds: Any, *, forget_splits: list[str], eval_retain: str,
                 learn_full: str, learn_retain: str) -> None:
    """The validation identities are disjoint from everything the report evaluates."""
    def ids(split: str, key: str) -> set[str]:
        try:
            return set(ds.split_ids(split))
        except Exception as e:  # noqa: BLE001 - the dataset's own unknown-split error
            raise ConfigError(
                f"{key}: split {split!r} is not in the dataset ({e}); build validation identities with "
                "data.val_percent (e.g. 10), or name existing splits"
            ) from None

    fv = ids(search.forget_split, "run.search.forget_split")
    rv = ids(search.retain_split, "run.search.retain_split")
    for i, s in enumerate(forget_splits):
        both = fv & ids(s, f"run.forget_splits[{i}]")
        if both:
            raise ConfigError(f"run.search.forget_split {search.forget_split!r} shares {len(both)} identities with "
                              f"evaluated forget split {s!r}: selection would peek at the reported identities")
        if rv & ids(s, f"run.forget_splits[{i}]"):
            raise ConfigError(f"run.search.retain_split {search.retain_split!r} overlaps forget split {s!r}")
    both = rv & ids(eval_retain, "run.eval.retain_split")
    if both:
        raise ConfigError(
            f"run.eval.retain_split {eval_retain!r} shares {len(both)} identities with run.search.retain_split "
            f"{search.retain_split!r}: report utility on identities disjoint from the validation ones "
            "(e.g. eval.retain_split: retain_test)"
        )
    if fv & ids(learn_retain, "run.learn.retain_split"):
        raise ConfigError(f"run.search.forget_split {search.forget_split!r} overlaps the retain model's training "
                          f"split {learn_retain!r}: the retain model would not be a never-saw-them reference")
    if not fv <= ids(learn_full, "run.learn.full_split"):
        raise ConfigError(f"run.search.forget_split {search.forget_split!r}: not every identity is in the fine-tuned "
                          f"model's training split {learn_full!r}, so there is nothing to unlearn")
