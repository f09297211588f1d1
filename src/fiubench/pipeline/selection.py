"""Running the ``search:`` of a run config (rule and candidates: :mod:`fiubench.pipeline.search`).

:class:`SearchPhase` declares the validation steps: per learning variant the retain
and fine-tuned models evaluated on the validation identities (``search.forget_split``
/ ``search.retain_split``, with the checkpoint evaluation config: one config for
every validation model, so they compare), then per variant, method and candidate an
unlearning run on the validation forget identities and an evaluation of each of its
checkpoints. The scheduler runs them (in parallel under ``--jobs N`` / Ray) before
the main plan; :func:`~fiubench.pipeline.search.select` picks one point per method.
The main plan then runs the chosen setting on the evaluation splits, cut at the
chosen epoch, and :func:`write_selection` records its evaluation results. ``selection.json`` in the run
directory holds everything the report's selection table shows.
"""

from __future__ import annotations

import dataclasses
import functools
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


class SearchPhase:
    """The validation steps of a run's ``search:`` (run by the pipeline's scheduler before
    the main plan, so ``--jobs N`` / Ray run candidates in parallel too) and the choice."""

    def __init__(self, pipe: Any, data: Path, data_key: str, data_step: Any) -> None:
        self.pipe, self.data, self.data_key = pipe, data, data_key
        self.d0 = [data_step] if data_step is not None else []
        cfg = pipe.cfg
        self.search = cfg.search
        # one evaluation config for every validation model, so that they compare
        self.vcfg = dataclasses.replace(cfg.checkpoint_eval_config(self.search.forget_split),
                                        retain_split=self.search.retain_split)
        self.refs: dict[str, tuple[Any, Any]] = {}  # learn label -> (retain, fine-tuned) validation evals
        self.cands: dict[str, list[Candidate]] = {m: self.search.candidates(m) for m in cfg.methods}

    def steps(self) -> list[Any]:
        pipe, cfg, srch = self.pipe, self.pipe.cfg, self.search
        variants = cfg.variants()
        learn_variants: dict[str, Any] = {}
        for v in variants:
            learn_variants.setdefault(v.learn_label, v)
        steps: list[Any] = []
        learned: dict[str, Any] = {}
        for label, v in learn_variants.items():
            ft = pipe.learn_step(self.data, self.data_key, cfg.learn.full_split, v, deps=self.d0)
            rt = pipe.learn_step(self.data, self.data_key, cfg.learn.retain_split, v, deps=self.d0)
            learned[label] = ft
            r = pipe.eval_step(_name("search/retain", label), pipe.cache.path(rt.name, rt.key) / "run" / "model",
                               rt.key, srch.forget_split, self.data, self.data_key, None, deps=[rt],
                               eval_config=self.vcfg)
            f = pipe.eval_step(_name("search/finetuned", label), pipe.cache.path(ft.name, ft.key) / "run" / "model",
                               ft.key, srch.forget_split, self.data, self.data_key, r, deps=[ft],
                               eval_config=self.vcfg)
            self.refs[label] = (r, f)
            steps += [ft, rt, r, f]
        for v in variants:
            ft = learned[v.learn_label]
            for method in cfg.methods:
                for i, cand in enumerate(self.cands[method]):
                    u = pipe.unlearn_step(method, srch.forget_split, v, ft, self.data, self.data_key, deps=self.d0,
                                          setting=cand, name=_name(f"search/unlearn/{method}/{cand.label}", v.label))
                    u.then = functools.partial(self._evals, unlearn=u, variant=v, method=method, index=i)
                    steps.append(u)
        return steps

    def _evals(self, res: StepResult, *, unlearn: Any, variant: Any, method: str, index: int) -> list[Any]:
        from fiubench.train import list_checkpoints

        ckpts = list_checkpoints(res.path / "run")
        if not self.search.select_checkpoint:
            ckpts = ckpts[-1:]
        ref, _ = self.refs[variant.learn_label]
        label = self.cands[method][index].label
        out = []
        for j, (step, path) in enumerate(ckpts):
            e = self.pipe.eval_step(
                _name(f"search/{method}/{label}/step-{step:06d}", variant.label), path / "model",
                config_hash({"unlearn": res.key, "step": step}), self.search.forget_split, self.data, self.data_key,
                ref, deps=[unlearn], eval_config=self.vcfg,
            )
            e.meta["search"] = {"variant": variant.label, "method": method, "index": index, "step": step,
                                "epoch": _epoch(path), "final": j == len(ckpts) - 1}
            out.append(e)
        return out

    def select(self, done: dict[Any, StepResult]) -> dict[tuple[str, str], Selection]:
        """Every (variant, method)'s choice from the finished validation evaluations."""
        cfg, srch = self.pipe.cfg, self.search
        ft_mu = {label: _summary(done[f]).get("model_utility") for label, (_, f) in self.refs.items()}
        points: dict[tuple[str, str], list[Point]] = {}
        for step, res in done.items():
            m = step.meta.get("search")
            if m is None:
                continue
            s = _summary(res)
            points.setdefault((m["variant"], m["method"]), []).append(
                Point(m["index"], m["step"], m["epoch"], s.get("model_utility"), s.get("forget_quality"),
                      final=m["final"]))
        out: dict[tuple[str, str], Selection] = {}
        for v in cfg.variants():
            for method in cfg.methods:
                pts = sorted(points.get((v.label, method), []), key=lambda p: (p.index, p.step))
                chosen, ok = select(pts, ft_mu[v.learn_label], srch.min_utility_ratio)
                sel = Selection(method, v.label, srch.forget_split, srch.retain_split,
                                RULE.format(ratio=srch.min_utility_ratio), self.cands[method], pts, chosen, ok,
                                ft_mu[v.learn_label], srch.min_utility_ratio, srch.select_checkpoint)
                self.pipe.log(
                    f"search {method}{' ' + v.label if v.label else ''}: chose {sel.candidate.label} at epoch "
                    f"{chosen.epoch:g} (step {chosen.step}) of {len(pts)} validation point(s) from "
                    f"{len(self.cands[method])} candidate(s){'' if ok else '; none met the utility floor'}")
                out[(v.label, method)] = sel
        return out


def write_selection(run_dir: Path, selections: dict[tuple[str, str], Selection],
                    done: dict[Any, StepResult]) -> Path:
    """``selection.json``, with each chosen setting's results on the evaluation splits
    (the final evaluations of the main plan, ``done``)."""
    for step, res in done.items():
        st = step.meta.get("store") or {}
        sel = selections.get((st.get("variant", ""), st.get("method") or ""))
        if sel is not None and st.get("role") == "unlearned" and st.get("final"):
            sel.record_evaluation(st["split"], st["step"], res)
    path = Path(run_dir) / SELECTION_FILE
    atomic_write_json(path, {"selections": [s.to_json() for s in selections.values()]})
    return path
