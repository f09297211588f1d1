"""Estimate the unloaded wall time of `fiubench run` (preset tiny) from unit costs.

    python benchmarks/budget_tiny.py [--methods 9] [--reference-config benchmarks/tiny_before_issue11.yaml]
                                     [--reference-seconds 773]

Timing a whole run on a shared machine measures the other jobs. This script instead
measures, interleaved and under the same load, the unit costs of two configurations:
the shipped `tiny` preset (with the code paths it uses now) and a reference
configuration whose unloaded wall time is known (the preset before issue 11, timed
at 12 min 53 s = 773 s on an idle 2-core machine, with the code paths of then: the
vision tower on every step, logits at every position). Units: a stage-1 optimiser
step, an unlearning step (KL: forget and retain passes plus the reference), one
evaluation (load + every metric, per forget split). Step counts come from each
config (identities, QA, epochs, batch sizes, checkpoints per method).

    loaded(config) = sum_units count(config, unit) x seconds(unit, config)
    estimate(tiny) = loaded(tiny) x reference_seconds / loaded(reference)

i.e. the machine's current slowdown is calibrated on the reference run. Assumes the
slowdown is the same for every unit, and evaluates the untrained base model (its
generations are not the fine-tuned model's lengths): an estimate, not a measurement;
the README's figure is `time fiubench run` on an idle machine.

Checked against that figure (issue 11): for the preset with 3 checkpoints per method
this script said ~10.5 min, and `time fiubench run --jobs 1` measured 15 min 58 s on an
idle machine. The calibration does not transfer between configurations this different;
read its output as a ratio between configurations, not as a wall time.
"""

from __future__ import annotations

import argparse
import math
import tempfile
import time
from pathlib import Path
from typing import Any


def counts(cfg: Any, n_methods: int) -> dict[str, Any]:
    d, lt, ut = cfg.data, cfg.learn.train, cfg.unlearn.train
    forget = {f"forget{p}": d.split_size(p) for p in d.forget_percents}
    n_forget_total = sum(forget.values())
    replay = cfg.learn.visual_replay
    full = d.n_identities * d.qa_per_identity + replay
    retain = (d.n_identities - n_forget_total) * d.qa_per_identity + replay
    learn_steps = (math.ceil(full / lt.batch_size) + math.ceil(retain / lt.batch_size)) * lt.epochs
    per_split = {}
    for split in cfg.forget_splits:
        steps = math.ceil(forget[split] * d.qa_per_identity / ut.batch_size) * ut.epochs
        if ut.max_steps is not None:
            steps = min(steps, ut.max_steps)
        every = ut.save_every or steps
        ckpts = steps // every + (1 if steps % every else 0)
        per_split[split] = {"unlearn_steps": steps * n_methods, "evals": (3 if cfg.evaluate_base else 2)
                            + n_methods * (ckpts if cfg.evaluate_checkpoints else 1), "ckpts": ckpts,
                            "identities": forget[split]}
    return {"learn_steps": learn_steps, "splits": per_split, "holdout": d.n_holdout()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    here = Path(__file__).resolve().parent
    ap.add_argument("--methods", type=int, default=None, help="methods to plan for (default: the config's list)")
    ap.add_argument("--reference-config", type=Path, default=here / "tiny_before_issue11.yaml")
    ap.add_argument("--reference-seconds", type=float, default=773.0)
    ap.add_argument("--reference-methods", type=int, default=5)
    ap.add_argument("--steps", type=int, default=12, help="timed optimiser steps per unit")
    ap.add_argument("--rounds", type=int, default=2)
    a = ap.parse_args()

    import torch

    from fiubench.data import load_dataset
    from fiubench.data.build import build_dataset
    from fiubench.eval.runner import evaluate
    from fiubench.methods import build_method
    from fiubench.methods.base import UnlearnBatch
    from fiubench.models import ModelConfig, load_image
    from fiubench.models.features import install_feature_cache
    from fiubench.models.loading import load_vlm
    from fiubench.models.logprobs import answer_window, sequence_logprob
    from fiubench.presets import load_run_config
    from fiubench.train.context import EngineContext
    from fiubench.train.encode import EncodedPool, collate

    configs = {"tiny": (load_run_config("tiny"), True), "reference": (load_run_config(config=a.reference_config), False)}
    tmp = Path(tempfile.mkdtemp(prefix="budget_tiny."))
    data = {k: load_dataset(build_dataset(c.data, tmp / k)) for k, (c, _) in configs.items()}

    def s1(name: str) -> float:
        cfg, new = configs[name]
        ds = data[name]
        vlm = load_vlm(ModelConfig(name_or_path=cfg.model.name_or_path, scope=cfg.model.scope, device="cpu"))
        if new:
            install_feature_cache(vlm)
        ex = ds.examples(cfg.learn.full_split)
        pool = EncodedPool([(e.image_path, e.question, e.answer) for e in ex], vlm.train_batch, load_image)
        bs = cfg.learn.train.batch_size
        opt = torch.optim.AdamW([p for p in vlm.model.parameters() if p.requires_grad], lr=1e-4)
        batches = [collate([pool.get((s * bs + i) % len(pool)) for i in range(bs)], vlm.pad_token_id)
                   for s in range(a.steps)]
        t = time.perf_counter()
        for b in batches:
            labels = b["labels"]
            w = answer_window(labels) if new else 0
            logits = vlm.model(**{k: v for k, v in b.items() if k != "labels"}, use_cache=False,
                               logits_to_keep=labels.shape[1] - w).logits
            (-sequence_logprob(logits, labels[:, w:])[0].sum()).backward()
            opt.step()
            opt.zero_grad(set_to_none=True)
        return (time.perf_counter() - t) / a.steps

    def unlearn_step(name: str) -> float:
        cfg, new = configs[name]
        ds = data[name]
        mc = ModelConfig(name_or_path=cfg.model.name_or_path, scope=cfg.unlearn.scope, device="cpu")
        vlm, ref = load_vlm(mc), load_vlm(ModelConfig(name_or_path=cfg.model.name_or_path, device="cpu"))
        for p in ref.model.parameters():
            p.requires_grad_(False)
        if new:
            install_feature_cache(vlm)
            install_feature_cache(ref)
        split = cfg.forget_splits[-1]
        f_ex, r_ex = ds.examples(split), ds.examples(cfg.unlearn.retain)
        fp = EncodedPool([(e.image_path, e.question, e.answer) for e in f_ex], vlm.train_batch, load_image)
        rp = EncodedPool([(e.image_path, e.question, e.answer) for e in r_ex], vlm.train_batch, load_image)
        bs = cfg.unlearn.train.batch_size
        method = build_method("kl")
        ctx = EngineContext(vlm.model, vlm, ref)
        opt = torch.optim.AdamW([p for p in vlm.model.parameters() if p.requires_grad], lr=1e-5)
        pairs = [(collate([fp.get((s * bs + i) % len(fp)) for i in range(bs)], vlm.pad_token_id),
                  collate([rp.get((s * bs + i) % len(rp)) for i in range(bs)], vlm.pad_token_id))
                 for s in range(a.steps)]
        t = time.perf_counter()
        for f, r in pairs:
            loss, _ = method.compute_loss(ctx, UnlearnBatch(f), UnlearnBatch(r))
            loss.backward()
            opt.step()
            opt.zero_grad(set_to_none=True)
        return (time.perf_counter() - t) / a.steps

    def one_eval(name: str, split: str) -> float:
        cfg, _ = configs[name]
        t = time.perf_counter()
        vlm = load_vlm(ModelConfig(name_or_path=cfg.model.name_or_path, device="cpu"))
        evaluate(vlm, data[name], cfg.eval_config(split), "self")
        return time.perf_counter() - t

    best: dict[tuple[str, str], float] = {}
    for _ in range(a.rounds):  # interleaved: both configs see the same load
        for name, (cfg, _) in configs.items():
            for unit, fn in (("learn_step", s1), ("unlearn_step", unlearn_step)):
                best[(name, unit)] = min(best.get((name, unit), math.inf), fn(name))
            for split in cfg.forget_splits:
                best[(name, split)] = min(best.get((name, split), math.inf), one_eval(name, split))

    loaded = {}
    for name, (cfg, _) in configs.items():
        n = a.reference_methods if name == "reference" else (a.methods or len(cfg.methods))
        c = counts(cfg, n)
        parts = {"learn": c["learn_steps"] * best[(name, "learn_step")],
                 "unlearn": sum(s["unlearn_steps"] for s in c["splits"].values()) * best[(name, "unlearn_step")],
                 "eval": sum(s["evals"] * best[(name, split)] for split, s in c["splits"].items())}
        loaded[name] = (parts, c, n)
    factor = a.reference_seconds / sum(loaded["reference"][0].values())
    print(f"machine slowdown vs the reference's idle run: x{1 / factor:.2f} (calibration)")
    for name in configs:
        parts, c, n = loaded[name]
        splits = ", ".join(f"{s}: {v['identities']} identities, {v['ckpts']} checkpoints/method, {v['evals']} evals"
                           for s, v in c["splits"].items())
        print(f"\n{name}: {n} methods; holdout {c['holdout']} identities; {splits}")
        print(f"  stage-1 steps {c['learn_steps']} x {best[(name, 'learn_step')] * factor * 1000:.0f} ms (idle-equivalent)")
        for k, v in parts.items():
            print(f"  {k:8s} {v * factor / 60:5.1f} min")
        print(f"  total    {sum(parts.values()) * factor / 60:5.1f} min (+ data build, reports, attacks)")


if __name__ == "__main__":
    main()
