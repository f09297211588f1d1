"""Stage-1 gate: did the fine-tuned model learn the people whose forgetting is graded?

ReMem (Kwon et al. 2026, arXiv 2605.03759): an unlearning benchmark that grades the
forgetting of facts the fine-tuned model never memorised measures nothing. Before any
unlearning is graded, each forget identity is checked on its forget QA, fine-tuned model
against the retain model (which never saw that person) on the same questions:

    EM gap(p)  = mean EM_finetuned(p) - mean EM_retain(p)       (keyword exact match)
    NLL gap(p) = mean NLL_retain(p) - mean NLL_finetuned(p)     (answer mean token NLL)

Identity p is *learnt* when EM gap(p) >= ``em_gap`` (default 0.5: the fine-tuned model
says at least half of the person's private values more often than a model that guesses)
AND NLL gap(p) >= ``nll_gap`` (default ln 2: its answers are at least twice as probable,
geometric mean over the person's QA). The fraction learnt is reported per forget split; a
run whose fraction falls below ``min_learnt`` (default 0.8) stops unless overridden
(``gate.override``), and then every forget-quality figure carries a warning.

Pure: per-sample records in (``eval.compute``), per-identity rows out.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from fiubench.errors import ConfigError, FiubenchError


@dataclass(frozen=True)
class GateRule:
    """Thresholds of the stage-1 gate (see the module docstring)."""

    em_gap: float = 0.5
    nll_gap: float = math.log(2.0)
    min_learnt: float = 0.8

    def validate(self, where: str = "gate") -> None:
        if not 0.0 <= self.em_gap <= 1.0:
            raise ConfigError(f"{where}.em_gap: must be in [0, 1], got {self.em_gap}")
        if self.nll_gap < 0:
            raise ConfigError(f"{where}.nll_gap: must be >= 0, got {self.nll_gap}")
        if not 0.0 <= self.min_learnt <= 1.0:
            raise ConfigError(f"{where}.min_learnt: must be in [0, 1], got {self.min_learnt}")


@dataclass(frozen=True)
class IdentityCheck:
    unique_id: str
    n_qa: int
    em_finetuned: float
    em_retain: float
    nll_finetuned: float
    nll_retain: float
    learnt: bool


@dataclass
class GateResult:
    split: str
    rule: GateRule
    identities: list[IdentityCheck] = field(default_factory=list)

    @property
    def fraction_learnt(self) -> float:
        return sum(i.learnt for i in self.identities) / len(self.identities) if self.identities else 0.0

    @property
    def not_learnt(self) -> list[str]:
        return [i.unique_id for i in self.identities if not i.learnt]

    @property
    def passed(self) -> bool:
        return bool(self.identities) and self.fraction_learnt >= self.rule.min_learnt

    def summary(self) -> str:
        n = len(self.identities)
        return (f"stage 1 learnt {n - len(self.not_learnt)} of {n} {self.split} identities "
                f"({self.fraction_learnt:.0%}; floor {self.rule.min_learnt:.0%})")

    def as_dict(self) -> dict[str, Any]:
        return {"split": self.split, "rule": asdict(self.rule), "fraction_learnt": self.fraction_learnt,
                "passed": self.passed, "not_learnt": self.not_learnt,
                "identities": [asdict(i) for i in self.identities]}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> GateResult:
        return cls(d["split"], GateRule(**d["rule"]), [IdentityCheck(**i) for i in d["identities"]])


class Stage1NotLearnt(FiubenchError):
    """The fine-tuned model did not learn enough of the forget identities."""


def _per_identity(records: Sequence[dict[str, Any]]) -> dict[str, tuple[list[float], list[float]]]:
    out: dict[str, tuple[list[float], list[float]]] = {}
    for r in records:
        if r.get("kind") != "qa" or r.get("split") != "forget":
            continue
        em, nll = out.setdefault(r["unique_id"], ([], []))
        if r.get("exact_match") is not None:
            em.append(float(r["exact_match"]))
        nll.append(float(r["answer_nll"]))
    return out


def _mean(xs: list[float]) -> float:
    return sum(xs) / len(xs) if xs else float("nan")


def stage1_gate(finetuned: Sequence[dict[str, Any]], retain: Sequence[dict[str, Any]], split: str,
                rule: GateRule | None = None) -> GateResult:
    """Per forget identity, fine-tuned vs retain model on its forget QA (derived records)."""
    rule = rule or GateRule()
    ft, rt = _per_identity(finetuned), _per_identity(retain)
    missing = sorted(set(ft) ^ set(rt))
    if missing:
        raise FiubenchError(f"stage-1 gate on {split}: the two evaluations differ in identities {missing[:5]}")
    rows = []
    for uid in sorted(ft):
        (em_f, nll_f), (em_r, nll_r) = ft[uid], rt[uid]
        a, b, c, d = _mean(em_f), _mean(em_r), _mean(nll_f), _mean(nll_r)
        learnt = (a - b >= rule.em_gap) and (d - c >= rule.nll_gap)
        rows.append(IdentityCheck(uid, len(nll_f), a, b, c, d, bool(learnt)))
    return GateResult(split, rule, rows)


def enforce(result: GateResult, override: bool, epochs: int | None = None) -> str | None:
    """Raise :class:`Stage1NotLearnt` when the gate fails, or return the warning to show
    when the user overrode it (None when it passed)."""
    if result.passed:
        return None
    names = ", ".join(result.not_learnt[:12]) + (" ..." if len(result.not_learnt) > 12 else "")
    more = f" (now {epochs})" if epochs is not None else ""
    if override:
        return (f"WARNING: {result.summary()}; not learnt: {names}. Forget quality on {result.split} "
                "grades forgetting of facts stage 1 did not teach (gate.override is on).")
    raise Stage1NotLearnt(
        f"{result.summary()}: identities {names} were not learnt (EM gap < {result.rule.em_gap:g} or answer "
        f"NLL gap < {result.rule.nll_gap:.3g} vs the retain model). Grading their forgetting would measure "
        f"nothing: train stage 1 for more epochs (learn.train.epochs{more}), or set gate.override: true "
        "to grade anyway with a warning."
    )
