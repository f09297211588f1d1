"""Synthetic results shaped like the evaluator's results.json (report tests)."""

from __future__ import annotations

from pathlib import Path

from fiubench.metrics.version import METRICS_VERSION
from fiubench.report.store import ResultsStore

INFO = {
    "retain.rouge_l": {"higher_is_better": True},
    "forget.exact_match": {"higher_is_better": False},
    "forget.ks_log10_p": {"higher_is_better": True},
}
JUDGE = {"backend": "similarity", "offline": True}


def metrics(mu: float, fq: float, em: float, ks: float = -1.0) -> dict:
    return {
        "retain.rouge_l": mu, "retain.judge": mu - 0.05, "retain.truth_ratio": 0.7,
        "visual.acc": 0.9, "forget.ks_log10_p": ks, "forget.exact_match": em,
        "mia.auc_min_k": 0.6, "forget.ape": em * 0.9, "forget.rouge_l": 1 - fq,
        "forget.judge": 0.5, "retain.exact_match": 0.95, "forget.truth_ratio": float("nan"),
        "mia.auc_min_k_pp": 0.5 + fq / 4, "mia.tpr1_min_k_pp": 0.02, "mia.tpr5_min_k_pp": 0.07,
        "mia.leak_min_k_pp": fq / 2,
    } | {"model_utility": mu, "forget_quality": fq}


def results_json(m: dict) -> dict:
    mm = {k: v for k, v in m.items() if k not in ("model_utility", "forget_quality")}
    return {
        "metrics_version": METRICS_VERSION,
        "definitions": {"truth_ratio": "geometric", "mia_term": "two_sided"},
        "metrics": mm,
        "metric_info": INFO,
        "aggregates": {"model_utility": m["model_utility"], "forget_quality": m["forget_quality"]},
        "judge": JUDGE,
    }


# GA curve: (step, MU, FQ); hand-checked in test_matched.
GA_CURVE = [(6, 0.45, 0.3), (12, 0.3, 0.6), (18, 0.2, 0.8)]
KL_CURVE = [(6, 0.49, 0.15), (12, 0.48, 0.2)]


def populate(db: Path, run: str = "r1") -> Path:
    with ResultsStore(db) as st:
        for split in ("forget5", "forget10"):
            st.add_results_json(results_json(metrics(0.5, 0.1, 0.95, ks=-8.0)), run=run, model="finetuned",
                                role="finetuned", forget_split=split, config_hash="f")
            st.add_results_json(results_json(metrics(0.52, 0.95, 0.05, ks=0.0)), run=run, model="retain",
                                role="retain", forget_split=split, config_hash="r")
            for method, curve in (("ga", GA_CURVE), ("kl", KL_CURVE)):
                for i, (step, mu, fq) in enumerate(curve):
                    st.add_results_json(
                        results_json(metrics(mu, fq, 1 - fq)), run=run, model=f"{method}/{split}",
                        role="unlearned", method=method, forget_split=split, step=step,
                        final=(i == len(curve) - 1), config_hash=f"{method}{step}",
                    )
        for split in ("forget5", "forget10"):
            st.add_results_json(results_json(metrics(0.05, 0.9, 0.01)), run=run, model="base",
                                role="base", forget_split=split, config_hash="b")
    return db




def store_attack_summary(db: Path, metrics: dict, keys: dict, split: str = "forget5",
                         extra: dict | None = None) -> list:
    """Store each model's summarised attack metrics (``summarise_attacks(...)["metrics"]``)
    under its result keys, plus ``extra``; returns the report's entries."""
    from fiubench.report.entries import load_entries

    with ResultsStore(db) as st:
        for who, k in keys.items():
            st.add({**metrics[who], **(extra or {})}, run="r1", config_hash="a", forget_split=split, **k)
    with ResultsStore(db, create=False) as st:
        return load_entries(st)
