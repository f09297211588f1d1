"""``evaluate``: one model, one dataset -> per-sample statistics -> every metric.

The model is run once: batched greedy generations (QA, paraphrased forget questions,
visual/POPE/MME questions) and one batched scoring pass in which all answer variants
of a question (answer, paraphrased answer, perturbed answers) share the batch and the
image's cached vision features. Everything after that is pure (eval.compute).
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fiubench.data.schema import FIUDataset, Identity
from fiubench.errors import ConfigError
from fiubench.eval.compute import Record, RetainReference, add_derived, compute_metrics
from fiubench.eval.config import EvalConfig
from fiubench.eval.engine import Engine, ScoreRow
from fiubench.eval.exposure import EXPOSURE_RULE, score_exposure
from fiubench.eval.external import load_mme, load_pope
from fiubench.eval.result import EvalResult
from fiubench.metrics.accuracy import attribute_spans
from fiubench.metrics.aggregate import aggregates, expand_skip, ks_term_formula
from fiubench.metrics.info import METRICS
from fiubench.metrics.judge import build_judge
from fiubench.metrics.ks import require_same_definition
from fiubench.metrics.text import EM_RULE
from fiubench.metrics.truth_ratio import TR_DEFINITIONS
from fiubench.metrics.version import METRICS_VERSION
from fiubench.utils.provenance import file_sha256, provenance


def checkpoint_hashes(path: str | Path | None) -> dict[str, str] | None:
    """sha256 of every ``*.safetensors`` file of a checkpoint directory (or file)."""
    if path is None:
        return None
    p = Path(path)
    files = [p] if p.is_file() else sorted(p.rglob("*.safetensors"))
    return {str(f.relative_to(p) if p.is_dir() else f.name): file_sha256(f) for f in files}


def _subsample(ids: list[str], k: int | None, seed: int) -> list[str]:
    if k is None or k >= len(ids):
        return ids
    keep = set(random.Random(seed).sample(ids, k))
    return [i for i in ids if i in keep]  # dataset order


def _holdout(dataset: FIUDataset, cfg: EvalConfig) -> list[Identity]:
    if cfg.holdout_split not in dataset.splits:
        return []
    ids = _subsample(dataset.split_ids(cfg.holdout_split), cfg.holdout_max_identities, cfg.seed + 1)
    return [dataset.identities[i] for i in ids]


def check_reference(ref: EvalResult, cfg: EvalConfig) -> None:
    """Refuse a retain reference scored under another truth-ratio definition or metrics version."""
    require_same_definition(cfg.truth_ratio_mean, ref.truth_ratio_mean, METRICS_VERSION, ref.metrics_version)


def _reference(
    ref: EvalResult | Path | str | None, cfg: EvalConfig, keys: set[tuple[str, int]]
) -> RetainReference | None:
    if ref is None:
        return None
    if not isinstance(ref, EvalResult):
        ref = EvalResult.load(ref)
    check_reference(ref, cfg)
    if ref.forget_split != cfg.forget:
        raise ConfigError(
            f"--retain-eval: the retain reference was evaluated on forget split {ref.forget_split!r}, "
            f"this evaluation uses {cfg.forget!r}; evaluate the retain model with --forget {cfg.forget}"
        )
    reference = ref.as_reference()
    ratios = reference.truth_ratios
    if set(ratios) != keys:
        raise ConfigError(
            f"--retain-eval: the retain reference's forget questions ({len(ratios)}) differ from this "
            f"dataset's {cfg.forget} questions ({len(keys)}); was it evaluated on another dataset?"
        )
    return reference


def open_visual_budget(tokenizer: Any, answers: list[str], fixed: int | None, margin: int = 8) -> int:
    """New tokens for open visual questions: the longest reference answer fits, plus ``margin``.

    A fixed budget (``eval.visual_open_max_new_tokens``) shorter than the longest
    reference answer is refused: the attribute would be cut off (what once made 83 %
    of the answers unscorable).
    """
    if not answers:
        return fixed or 1
    longest = max(len(tokenizer(a, add_special_tokens=False)["input_ids"]) for a in answers)
    if fixed is None:
        return longest + margin
    if fixed < longest + 1:  # + the end-of-turn token
        raise ConfigError(
            f"eval.visual_open_max_new_tokens: {fixed} new tokens cannot hold the longest open visual "
            f"reference answer ({longest} tokens + end of turn); raise it or set null (automatic)"
        )
    return fixed


def _precheck(cfg: EvalConfig, dataset: FIUDataset, has_ref: bool, holdout: list[Identity]) -> None:
    """Fail before any model pass when a headline metric's input is missing."""
    skipped = expand_skip(cfg.skip)
    agg = cfg.aggregate
    needs = {n for n in (*agg.mu_metrics, "forget.ks_p", "forget.exact_match", agg.mia_metric, "forget.ape")}
    problems = []
    if "forget.ks_p" in needs - skipped and not has_ref:
        problems.append("forget.ks_p needs the retain model's results (--retain-eval DIR; 'self' for the retain model itself) or --skip ks")
    if cfg.judge.backend == "none" and {"retain.judge"} & (needs - skipped):
        problems.append("retain.judge needs a judge (--judge similarity|openai|hf) or --skip judge")
    if agg.mia_metric in needs - skipped and not holdout:
        problems.append(
            f"{agg.mia_metric} needs non-member identities (split {cfg.holdout_split!r} in split.json) or --skip mia"
        )
    yesno = [v for v in dataset.visual_qa if v.kind == "yesno"]
    if "visual.acc" in needs - skipped and (not cfg.visual or not yesno):
        problems.append("visual.acc needs yes/no visual questions (visual_qa.jsonl) or --skip visual")
    if "forget.ape" in needs - skipped and not cfg.paraphrase_generations:
        problems.append("forget.ape needs paraphrase generations (paraphrase_generations=true)")
    if problems:
        raise ConfigError("headline metric input missing: " + "; ".join(problems))


def evaluate(
    vlm: Any,
    dataset: FIUDataset,
    cfg: EvalConfig,
    retain_reference: EvalResult | Path | str | None = None,
    checkpoint: str | Path | None = None,
    shard: Any = None,
) -> EvalResult:
    """Evaluate ``vlm`` on ``dataset``; see the module docstring and EvalConfig.

    ``retain_reference``: the retain model's result (or its directory) on the same
    forget split, the KS test's reference; ``"self"`` when ``vlm`` *is* the retain
    model (its KS test is against its own truth ratios: p = 1); None only with
    ``skip`` containing "ks". ``shard``: this process's :class:`fiubench.eval.shard.Shard`
    when several processes evaluate together (every rank calls ``evaluate``; the
    metrics are the single-process ones).

    Phases: who is evaluated and the checks; the per-sample records and the model
    requests; the model passes; the judge; the metrics; provenance.
    """
    cfg.validate()
    self_reference = isinstance(retain_reference, str) and retain_reference == "self"
    t0 = time.perf_counter()
    forget = dataset.split(cfg.forget)
    retain_ids = [i for i in dataset.split_ids(cfg.retain_split) if i not in set(dataset.split_ids(cfg.forget))]
    retain = [dataset.identities[i] for i in _subsample(retain_ids, cfg.retain_max_identities, cfg.seed)]
    holdout = _holdout(dataset, cfg)
    keys = {(p.unique_id, i) for p in forget for i in range(len(p.qa_list))}
    reference = None if self_reference else _reference(retain_reference, cfg, keys)
    _precheck(cfg, dataset, self_reference or reference is not None, holdout)
    judge = build_judge(cfg.judge)
    engine = Engine(vlm, batch_size=cfg.batch_size, reuse_image_features=cfg.reuse_image_features, shard=shard)

    req = _Requests()
    req.add_qa(cfg, (("forget", forget), ("retain", retain), ("holdout", holdout)))
    if cfg.visual:
        req.add_visual(dataset, {p.unique_id for p in (*forget, *retain, *holdout)})
    req.add_external(cfg)
    records = req.records
    open_budget = open_visual_budget(
        vlm.tokenizer, [records[i]["answer"] for i in req.open_dst], cfg.visual_open_max_new_tokens
    )
    timings = _model_passes(engine, req, cfg, open_budget)
    # exposure: one more scoring pass over each vocabulary QA's candidate answers (eval.exposure)
    n_exposure = score_exposure(engine, records, lambda u: dataset.identities[u].image_path,
                                cfg.exposure_candidates, cfg.seed)
    t_exposure = time.perf_counter()
    for r in records:
        add_derived(r, cfg.truth_ratio_mean)
    judge_info = _judge_answers(judge, records, shard)
    metrics, info, agg = _metrics(records, cfg, judge, judge_info, reference, self_reference)
    prov = _provenance(cfg, dataset, checkpoint, retain_reference, self_reference,
                       {"forget": len(forget), "retain": len(retain), "holdout": len(holdout)})
    eng = dict(engine.stats)
    if shard is not None and shard.world > 1:
        eng["processes"] = shard.world  # the counters above are rank 0's share
    eng["visual_open_max_new_tokens"] = open_budget
    t_gen, t_score, t_done = timings
    eng.update(seconds_total=time.perf_counter() - t0, seconds_generate=t_score - t_gen,
               seconds_score=t_done - t_score, seconds_exposure=t_exposure - t_done, exposure_rows=n_exposure)
    definitions = {
        "truth_ratio": cfg.truth_ratio_mean,
        "truth_ratio_formula": TR_DEFINITIONS[cfg.truth_ratio_mean],
        "mia_term": cfg.aggregate.mia_norm,
        "mia_metric": cfg.aggregate.mia_metric,
        "ks_term": ks_term_formula(cfg.aggregate),
        "exact_match": EM_RULE,
        "exposure": EXPOSURE_RULE.format(n=cfg.exposure_candidates + 1),
    }
    return EvalResult(metrics=metrics, metric_info=info, aggregates=agg, judge=judge_info,
                      provenance=prov, records=records, engine=eng, metrics_version=METRICS_VERSION,
                      definitions=definitions)


@dataclass
class _Requests:
    """The per-sample records and what the model is asked for each: generations (QA and
    paraphrased questions; short visual / POPE / MME answers; open visual answers) and
    scored answers, each with the record it fills."""

    records: list[Record] = field(default_factory=list)
    gen_req: list[tuple[Path, str]] = field(default_factory=list)  # QA and paraphrased questions
    gen_dst: list[tuple[int, int]] = field(default_factory=list)  # (record index, -1 = generation | j = paraphrase j)
    rows: list[ScoreRow] = field(default_factory=list)
    row_dst: list[tuple[int, str, int]] = field(default_factory=list)  # (record index, field, perturbed index)
    short_req: list[tuple[Path, str]] = field(default_factory=list)
    short_dst: list[int] = field(default_factory=list)
    open_req: list[tuple[Path, str]] = field(default_factory=list)  # open visual questions: a budget that fits
    open_dst: list[int] = field(default_factory=list)

    def add_qa(self, cfg: EvalConfig, splits: Any) -> None:
        records, gen_req, gen_dst, rows, row_dst = self.records, self.gen_req, self.gen_dst, self.rows, self.row_dst
        for split, people in splits:
            for p in people:
                for qi, qa in enumerate(p.qa_list):
                    ri = len(records)
                    records.append({
                        "kind": "qa", "split": split, "unique_id": p.unique_id, "qa_index": qi,
                        "field": qa.field, "question": qa.question, "answer": qa.answer,
                        "keywords": list(qa.keywords),
                        "paraphrased_questions": list(qa.paraphrased_question) if split == "forget" else [],
                    })
                    if split != "holdout" or cfg.holdout_generations:
                        gen_req.append((p.image_path, qa.question))
                        gen_dst.append((ri, -1))
                    if split == "forget" and cfg.paraphrase_generations:
                        for j, pq in enumerate(qa.paraphrased_question):
                            gen_req.append((p.image_path, pq))
                            gen_dst.append((ri, j))
                    # every variant of this question is scored in the same batched pass
                    rows.append(ScoreRow(p.image_path, qa.question, qa.answer, with_dist=split != "retain"))
                    row_dst.append((ri, "answer", -1))
                    # holdout too: never-seen people's truth ratios (the calibration check)
                    rows.append(ScoreRow(p.image_path, qa.question, qa.paraphrased_answer))
                    row_dst.append((ri, "paraphrased", -1))
                    for j, pa in enumerate(qa.perturbed_answer):
                        rows.append(ScoreRow(p.image_path, qa.question, pa))
                        row_dst.append((ri, "perturbed", j))

    def add_visual(self, dataset: FIUDataset, evaluated: set[str]) -> None:
        records = self.records
        # Spans from every open answer of the dataset, so an answer's span does not
        # depend on which identities this evaluation samples.
        by_attr: dict[str, list[str]] = {}
        for v in dataset.visual_qa:
            if v.kind == "open":
                by_attr.setdefault(v.attribute, []).append(v.answer)
        spans = {a: attribute_spans(answers) for a, answers in by_attr.items()}
        for v in dataset.visual_qa:
            if v.unique_id in evaluated:
                rec_v: Record = {"kind": "visual", "unique_id": v.unique_id, "type": v.kind,
                                 "attribute": v.attribute, "question": v.question, "answer": v.answer}
                if v.kind == "open":
                    rec_v["span"] = spans[v.attribute][v.answer]
                    self.open_dst.append(len(records))
                    self.open_req.append((v.image_path, v.question))
                else:
                    self.short_dst.append(len(records))
                    self.short_req.append((v.image_path, v.question))
                records.append(rec_v)

    def add_external(self, cfg: EvalConfig) -> None:
        """POPE / MME questions, when configured."""
        ext = []
        if cfg.pope is not None:
            ext += load_pope(cfg.pope, cfg.pope_images, cfg.pope_max)
        if cfg.mme is not None:
            ext += load_mme(cfg.mme, cfg.mme_images, cfg.mme_max)
        for it in ext:
            self.short_dst.append(len(self.records))
            rec: Record = {"kind": it.source, "task": it.task, "image": it.image, "question": it.question}
            rec["label" if it.source == "pope" else "answer"] = it.label
            self.records.append(rec)
            self.short_req.append((it.image_path, it.question))


def _model_passes(engine: Engine, req: _Requests, cfg: EvalConfig, open_budget: int) -> tuple[float, float, float]:
    """The generations, then the one scoring pass; fills the records. Returns the
    clock at the start of generation, of scoring and at the end."""
    records = req.records
    t_gen = time.perf_counter()
    gens = engine.generate(req.gen_req, cfg.max_new_tokens)
    for (ri, j), g in zip(req.gen_dst, gens, strict=True):
        if j < 0:
            records[ri]["generation"] = g
        else:
            records[ri].setdefault("paraphrased_generations", [None] * len(records[ri]["paraphrased_questions"]))
            records[ri]["paraphrased_generations"][j] = g
    for ri, g in zip(req.short_dst, engine.generate(req.short_req, cfg.visual_max_new_tokens), strict=True):
        records[ri]["generation"] = g
    for ri, g in zip(req.open_dst, engine.generate(req.open_req, open_budget), strict=True):
        records[ri]["generation"] = g
    t_score = time.perf_counter()
    stats = engine.score(req.rows)
    for (ri, fld, _j), st in zip(req.row_dst, stats, strict=True):
        r = records[ri]
        if fld == "answer":
            r["answer_nll"] = st.mean_nll
            r["answer_tokens"] = len(st.logprobs)
            r["answer_logprobs"] = st.logprobs
            if st.mu is not None:
                r["answer_mu"], r["answer_sigma"] = st.mu, st.sigma
        elif fld == "paraphrased":
            r["paraphrased_nll"] = st.mean_nll
        else:
            r.setdefault("perturbed_nll", []).append(st.mean_nll)
    return t_gen, t_score, time.perf_counter()


def _judge_answers(judge: Any, records: list[Record], shard: Any) -> dict[str, Any]:
    """The judge's verdicts on the forget and retain QA generations (into the records); its info."""
    if judge is None:
        return {"backend": "none"}
    judged = [r for r in records if r.get("kind") == "qa" and r["split"] in ("forget", "retain")]
    sharded = shard is not None and shard.world > 1
    scores: Any = None
    if not sharded or shard.main:  # an API judge is paid per call: rank 0 asks, once
        verdicts = judge.score_batch(
            [(r["question"], r["answer"], r["generation"]) for r in judged], [r["keywords"] for r in judged]
        )
        scores = ([v.score if v.ok else None for v in verdicts], [v.ok for v in verdicts], judge.info(),
                  [v.raw[:200] for v in verdicts])
    if sharded:
        scores = shard.from_main(scores)
    for i, (r, score, ok) in enumerate(zip(judged, scores[0], scores[1], strict=True)):
        r["judge"] = score
        r["judge_ok"] = ok
        if not ok and len(scores) > 3:
            r["judge_raw"] = scores[3][i]
    return scores[2]


def _metrics(records: list[Record], cfg: EvalConfig, judge: Any, judge_info: dict[str, Any],
             reference: RetainReference | None, self_reference: bool) -> tuple[dict, dict, dict]:
    """Every metric, the aggregates (model utility, forget quality) and each metric's info."""
    metrics = compute_metrics(
        records, mia_k=cfg.mia_k, judged=judge is not None, tr_mean=cfg.truth_ratio_mean,
        metrics_version=METRICS_VERSION, reference=reference, self_reference=self_reference,
        calibration=self_reference,
    )
    reasons = {}
    if judge is not None and judge_info.get("malformed"):
        n = sum(1 for r in records if "judge_ok" in r)
        bad = sum(1 for r in records if r.get("judge_ok") is False)
        first = next((r.get("judge_raw", "") for r in records if r.get("judge_ok") is False), "")
        for side in ("retain.judge", "forget.judge"):
            reasons[side] = (f"{bad} of {n} judge replies were malformed ({judge.label}; e.g. {first[:80]!r}): "
                             "check judge.model / judge.base_url")
    agg = aggregates(metrics, cfg.aggregate, cfg.skip, reasons)
    metrics["model_utility"] = agg["model_utility"]
    metrics["forget_quality"] = agg["forget_quality"]
    metrics["mia.fq_term"] = agg["components"]["forget_quality"]["mia"]
    info = {n: {"higher_is_better": METRICS.get(n).higher_is_better, "split": METRICS.get(n).split,
                "label": METRICS.get(n).label} for n in metrics if n in METRICS}
    for side in ("forget.judge", "retain.judge"):
        if side in info and judge is not None:
            info[side]["label"] += f" [{judge.label}]"
    return metrics, info, agg


def _provenance(cfg: EvalConfig, dataset: FIUDataset, checkpoint: str | Path | None,
                retain_reference: EvalResult | Path | str | None, self_reference: bool,
                evaluated: dict[str, int]) -> dict[str, Any]:
    prov = provenance(cfg, cfg.seed)
    prov["metrics_version"] = METRICS_VERSION
    prov["model_checkpoint"] = str(checkpoint) if checkpoint is not None else None
    prov["model_checkpoint_sha256"] = checkpoint_hashes(checkpoint)
    prov["dataset"] = str(dataset.root)
    if self_reference:
        prov["retain_reference"] = "self (this model is the retain model)"
    else:
        prov["retain_reference"] = None if retain_reference is None else (
            str(retain_reference) if not isinstance(retain_reference, EvalResult) else "EvalResult (in memory)"
        )
    prov["config"]["judge"].pop("api_key", None)  # never write secrets
    prov["evaluated_identities"] = evaluated
    return prov
