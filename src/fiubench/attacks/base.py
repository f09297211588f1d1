"""What every attack shares: its context, its outcome, and the base class.

An attack takes one model (a checkpoint directory) and measures how much private
information it can still pull out about the forget identities:

    extraction = mean over probes of |{k in K : lower(k) in lower(g)}| / |K|

the keyword exact match of FIUBench (``fiubench.metrics.text.keyword_match``) with
K the private keywords the probe targets (one QA's ``keywords``, or the whole
profile's) and g the model's generation under the attack. Templates ("the blood type
of the person in the image is") are not keywords, so they never count.

An attack may have several *variants* (4 and 8 bits, five image perturbations...);
each is measured separately and kept in the outcome.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from fiubench.data.schema import FIUDataset


@dataclass
class AttackOptions:
    """Options of an attack (subclass per attack; every field has a default)."""


@dataclass
class AttackContext:
    """Where and how an attack runs (shared by every attack of one invocation).

    ``work``: a scratch directory of this attack on this model (perturbed images, the
    relearning run). ``train``: the stage-1 recipe (``TrainConfig``) the relearning
    attack fine-tunes with; None: the model family's preset. ``scope``: what the
    relearning attack updates (a ``TuningScope``; None: the default).
    """

    dataset: FIUDataset
    forget: str
    work: Path
    retain_split: str = "retain"
    holdout_split: str = "holdout"
    batch_size: int = 16
    max_new_tokens: int = 48
    seed: int = 0
    train: Any = None
    scope: Any = None
    model_overrides: dict[str, Any] = field(default_factory=dict)
    # Under-attack evaluation (attacks.under_attack): the run's EvalConfig (None: defaults)
    # and the retain model's evaluation directory for the KS test (None: KS skipped).
    evaluation: Any = None
    reference: Any = None
    log: Callable[[str], None] = field(default=lambda _m: None)

    def load(self, model_dir: str | Path) -> Any:
        """The model in ``model_dir`` as a ``VLM`` (with the run's device/dtype overrides)."""
        from fiubench.models.config import ModelConfig
        from fiubench.models.loading import load_vlm

        return load_vlm(ModelConfig(name_or_path=str(model_dir), **self.model_overrides))

    def engine(self, vlm: Any) -> Any:
        """The evaluation engine (batched generation, cached image features) for ``vlm``."""
        from fiubench.eval.engine import Engine

        return Engine(vlm, batch_size=self.batch_size)


@dataclass
class AttackOutcome:
    """One attack on one model: extraction per variant, the probes behind it, notes."""

    attack: str
    variants: dict[str, float | None]
    n_probes: dict[str, int] = field(default_factory=dict)
    records: list[dict[str, Any]] = field(default_factory=list)
    info: dict[str, Any] = field(default_factory=dict)
    # variant -> metrics of the attacked model (utility, truth ratio, MIA), for attacks
    # that change the weights (relearning, quantization); "before": the unattacked model's.
    under_attack: dict[str, dict[str, float | None]] = field(default_factory=dict)

    def per_identity(self) -> dict[str, dict[str, float]]:
        """variant -> identity -> mean extraction of its probes (the person-level unit of the
        robustness intervals); "before" (records of the unattacked model) included."""
        sums: dict[str, dict[str, list[float]]] = {}
        for r in self.records:
            if r.get("extraction") is not None:
                sums.setdefault(r["variant"], {}).setdefault(r["unique_id"], []).append(float(r["extraction"]))
        return {v: {u: sum(xs) / len(xs) for u, xs in ids.items()} for v, ids in sums.items()}

    def to_json(self) -> dict[str, Any]:
        return {"attack": self.attack, "variants": self.variants, "n_probes": self.n_probes, "info": self.info,
                "per_identity": self.per_identity(), "under_attack": self.under_attack}


class Attack:
    """Base class. Subclasses set ``name``, ``summary`` (one line), ``Options`` and
    ``variants`` (the variant names ``run`` reports, given the options), and implement
    ``run(model_dir, ctx)``."""

    name: ClassVar[str] = ""
    summary: ClassVar[str] = ""
    Options: ClassVar[type[AttackOptions]] = AttackOptions
    # True when the attack trains (relearning): the most expensive kind.
    trains: ClassVar[bool] = False
    # False for a reading of the weights that is not an output leak (the hidden-state
    # probe): summarised and reported, never the worst case.
    in_worst_case: ClassVar[bool] = True

    def __init__(self, options: AttackOptions | None = None) -> None:
        self.options = options if options is not None else self.Options()

    def check(self) -> None:
        """Validate the options (raise ConfigError naming the option); before any model loads."""

    def run(self, model_dir: Path, ctx: AttackContext) -> AttackOutcome:
        raise NotImplementedError
