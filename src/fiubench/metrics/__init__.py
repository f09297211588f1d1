"""FIUBench metrics: pure functions over per-sample statistics.

One file per family (formulas in each docstring): text (ROUGE-L, exact match),
probability, truth_ratio, ks, mia, accuracy, aggregate (model utility, forget
quality), judge/ (LLM and similarity judges), info (registry: direction and split of
every reported metric).
"""

from fiubench.metrics.info import METRICS, MetricInfo, metric_info

__all__ = ["METRICS", "MetricInfo", "metric_info"]
