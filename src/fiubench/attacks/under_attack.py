"""Everything under attack: the benchmark's own metrics on the model an attack changed.

An attack that changes the weights (relearning, quantization) may recover the forget
identities' facts *and* damage the model. ``measure_under_attack`` runs the evaluation
(``fiubench.eval.evaluate``) on the attacked model and keeps the figures that say what
it still does and what it still leaks otherwise:

    model_utility, retain.rouge_l, retain.truth_ratio, forget.truth_ratio,
    forget.exact_match, mia.auc_min_k_pp

The run's evaluation settings (``AttackContext.evaluation``, an ``EvalConfig``) are
used when given, with its forget split; otherwise the defaults on the context's splits.
The KS test needs the retain model's evaluation (``AttackContext.reference``); without
it, it is skipped (forget quality is then not computed under attack).
"""

from __future__ import annotations

import dataclasses
from typing import Any

KEPT = ("model_utility", "retain.rouge_l", "retain.truth_ratio", "forget.truth_ratio", "forget.exact_match",
        "mia.auc_min_k_pp", "forget_quality")


def eval_config(ctx: Any) -> Any:
    """The evaluation settings under attack: the run's, on this attack's splits."""
    from fiubench.eval.config import EvalConfig

    base = ctx.evaluation if ctx.evaluation is not None else EvalConfig(
        batch_size=ctx.batch_size, max_new_tokens=ctx.max_new_tokens, seed=ctx.seed)
    skip = list(base.skip) + ([] if ctx.reference is not None or "ks" in base.skip else ["ks"])
    return dataclasses.replace(base, forget=ctx.forget, retain_split=ctx.retain_split,
                               holdout_split=ctx.holdout_split, skip=skip)


def measure_under_attack(vlm: Any, ctx: Any) -> dict[str, float | None]:
    """The kept metrics of ``vlm`` (an attacked model, already loaded)."""
    from fiubench.eval.runner import evaluate

    res = evaluate(vlm, ctx.dataset, eval_config(ctx), ctx.reference)
    figures = {**res.metrics, **{k: v for k, v in res.aggregates.items() if isinstance(v, (int, float))}}
    return {k: (None if figures.get(k) is None else float(figures[k])) for k in KEPT}
