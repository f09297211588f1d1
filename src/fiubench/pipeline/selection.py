"""Running the ``search:`` of a run config (rule and candidates: :mod:`fiubench.pipeline.search`).

Per sweep variant: the retain and fine-tuned models are evaluated on the validation
identities (``search.forget_split`` / ``search.retain_split``, with the checkpoint
evaluation config, one config for every validation model so they compare), then per
method every candidate unlearns the validation forget identities and each of its
checkpoints is evaluated; :func:`~fiubench.pipeline.search.select` picks one point.
The pipeline then runs the chosen setting on the evaluation splits, cut at the chosen
epoch, and records the evaluation results here. ``selection.json`` in the run
directory holds everything the report's selection table shows.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fiubench.pipeline.cache import StepResult
from fiubench.pipeline.search import Candidate, Point, select, stop_at
from fiubench.utils.io import atomic_write_json
from fiubench.utils.provenance import config_hash

SELECTION_FILE = "selection.json"
RULE = ("highest forget quality among validation points (candidate x checkpoint) whose model utility is at "
        "least {ratio:g} x the fine-tuned model's on the same validation split; none: the highest utility")


def _summary(res: StepResult) -> dict[str, Any]:
    return json.loads((res.path / "DONE.json").read_text(encoding="utf-8"))["summary"] or {}


def _epoch(ckpt: Path) -> float:
    return float(json.loads((ckpt / "checkpoint.json").read_text(encoding="utf-8"))["epoch"])


def _name(base: str, variant: str) -> str:
    return f"{base}/{variant}" if variant else base


@dataclass
class Selection:
    """How one method's setting was chosen (one variant), and what it then scored."""

    method: str
    variant: str
    forget_split: str
    retain_split: str
    rule: str
    candidates: list[Candidate]
    points: list[Point]
    chosen: Point
    met_floor: bool
    finetuned_utility: float | None
    min_utility_ratio: float
    select_checkpoint: bool
    evaluation: dict[str, dict[str, Any]] = field(default_factory=dict)  # eval split -> its results

    @property
    def candidate(self) -> Candidate:
        return self.candidates[self.chosen.index]

    def cut(self, ckpts: list[tuple[int, Path]]) -> list[tuple[int, Path]]:
        """The evaluation run's checkpoints up to the chosen epoch (all when not selecting)."""
        if not self.select_checkpoint or not ckpts:
            return ckpts
        kept = stop_at([(s, _epoch(p), p) for s, p in ckpts], self.chosen.epoch)
        return [(s, p) for s, _, p in kept]

    def record_evaluation(self, split: str, step: int, res: StepResult) -> None:
        s = _summary(res)
        self.evaluation[split] = {"step": step, "model_utility": s.get("model_utility"),
                                  "forget_quality": s.get("forget_quality")}

    def to_json(self) -> dict[str, Any]:
        return {
            "method": self.method, "variant": self.variant, "forget_split": self.forget_split,
            "retain_split": self.retain_split, "rule": self.rule, "finetuned_utility": self.finetuned_utility,
            "min_utility_ratio": self.min_utility_ratio,
            "utility_floor": None if self.finetuned_utility is None else self.finetuned_utility * self.min_utility_ratio,
            "select_checkpoint": self.select_checkpoint, "met_floor": self.met_floor,
            "candidates": [c.values for c in self.candidates],
            "points": [dataclasses.asdict(p) for p in self.points],
            "chosen": {**dataclasses.asdict(self.chosen), "setting": self.candidate.values,
                       "label": self.candidate.label},
            "evaluation": self.evaluation,
        }


def select_settings(pipe: Any, variant: Any, ft: StepResult, rt: StepResult, data: Path,
                    data_key: str) -> dict[str, Selection]:
    """Choose every method's setting for ``variant`` on the validation identities."""
    from fiubench.train import list_checkpoints

    cfg = pipe.cfg
    srch = cfg.search
    vcfg = dataclasses.replace(cfg.checkpoint_eval_config(srch.forget_split), retain_split=srch.retain_split)
    tag = variant.learn_label
    r_val = pipe.eval_step(_name("search/retain", tag), rt.path / "run" / "model", rt.key, srch.forget_split,
                           data, data_key, None, eval_config=vcfg)
    f_val = pipe.eval_step(_name("search/finetuned", tag), ft.path / "run" / "model", ft.key, srch.forget_split,
                           data, data_key, r_val, eval_config=vcfg)
    ft_mu = _summary(f_val).get("model_utility")
    out: dict[str, Selection] = {}
    for method in cfg.methods:
        cands = srch.candidates(method)
        points: list[Point] = []
        for i, cand in enumerate(cands):
            u = pipe.unlearn_step(method, srch.forget_split, variant, ft, data, data_key, setting=cand,
                                  name=_name(f"search/unlearn/{method}/{cand.label}", variant.label))
            ckpts = list_checkpoints(u.path / "run")
            if not srch.select_checkpoint:
                ckpts = ckpts[-1:]
            for j, (step, path) in enumerate(ckpts):
                e = pipe.eval_step(
                    _name(f"search/{method}/{cand.label}/step-{step:06d}", variant.label), path / "model",
                    config_hash({"unlearn": u.key, "step": step}), srch.forget_split, data, data_key, r_val,
                    eval_config=vcfg,
                )
                s = _summary(e)
                points.append(Point(i, step, _epoch(path), s.get("model_utility"), s.get("forget_quality"),
                                    final=j == len(ckpts) - 1))
        chosen, ok = select(points, ft_mu, srch.min_utility_ratio)
        sel = Selection(method, variant.label, srch.forget_split, srch.retain_split,
                        RULE.format(ratio=srch.min_utility_ratio), cands, points, chosen, ok, ft_mu,
                        srch.min_utility_ratio, srch.select_checkpoint)
        pipe.log(f"search {method}{' ' + variant.label if variant.label else ''}: chose {sel.candidate.label} "
                 f"at epoch {chosen.epoch:g} (step {chosen.step}) of {len(cands)} candidate(s), "
                 f"{len(points)} validation point(s){'' if ok else ', none met the utility floor'}")
        out[method] = sel
    return out


def write_selection(run_dir: Path, selections: list[Selection]) -> Path:
    path = Path(run_dir) / SELECTION_FILE
    atomic_write_json(path, {"selections": [s.to_json() for s in selections]})
    return path
