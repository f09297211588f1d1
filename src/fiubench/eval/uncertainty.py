"""Identity-level bootstrap intervals of the headline figures, from per-sample records.

For one model (possibly trained under several seeds) the per-sample statistics of its
evaluation records are grouped by identity (forget / retain / holdout people; the
visual questions go with the person whose face they show), and every headline figure
(the main table: retain ROUGE-L, judge, truth ratio, ACC, MU; KS, EM, MIA, APE, FQ;
plus the holdout-face visual accuracy) is recomputed in each replicate of
:func:`fiubench.metrics.bootstrap.bootstrap` with the identities (and seeds) drawn.
MU and FQ go through :func:`fiubench.metrics.aggregate.aggregates`, so the replicates
use the very formulas of the point estimates. The KS test resamples the model's and the
retain reference's truth ratios of the *same* drawn identities.

Several seeds: a replicate also draws seeds with replacement and averages each
figure over the drawn seeds (a two-level bootstrap: seeds, then identities); the
estimate is the mean over seeds.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from fiubench.errors import ConfigError
from fiubench.eval.compute import Record
from fiubench.metrics import accuracy as acc
from fiubench.metrics import bootstrap as bs
from fiubench.metrics import mia
from fiubench.metrics.aggregate import AggregateConfig, aggregates
from fiubench.metrics.ks import ks_statistic, ks_test

GROUPS = ("forget", "retain", "holdout")
SEED_GROUP = "seed"  # sorts after the identity groups: identity draws do not depend on it
MEANS = ("retain.rouge_l", "retain.judge", "retain.truth_ratio", "visual.acc", "visual.acc_holdout",
         "visual.open_em_holdout", "forget.exact_match", "forget.ape")


def headline_metrics(agg: AggregateConfig) -> tuple[str, ...]:
    """The figures that get an interval, in report order."""
    return (*agg.mu_metrics, "model_utility", "forget.ks_p", "forget.ks_log10_p", "forget.exact_match",
            agg.mia_metric, "forget.ape", "forget_quality", "visual.acc_holdout", "visual.open_em_holdout")


class _Series:
    """Per-sample values with the (group, unit index) of the identity they belong to."""

    def __init__(self) -> None:
        self._groups: list[str] = []
        self._units: list[int] = []
        self._values: list[float] = []
        self.values = np.zeros(0)
        self._parts: list[tuple[str, np.ndarray, np.ndarray]] = []

    def add(self, group: str, unit: int, value: float | None) -> None:
        self._groups.append(group)
        self._units.append(unit)
        self._values.append(np.nan if value is None else float(value))

    def freeze(self) -> _Series:
        """To arrays; undefined values (None, e.g. a QA without keywords) are left out."""
        values = np.asarray(self._values, dtype=np.float64)
        keep = np.isfinite(values)
        self.values = values[keep]
        groups, units = np.asarray(self._groups)[keep], np.asarray(self._units, dtype=np.int64)[keep]
        self._parts = [(g, np.flatnonzero(groups == g), units[groups == g]) for g in sorted(set(self._groups))]
        return self

    def __len__(self) -> int:
        return int(self.values.size)

    def weights(self, w: bs.Weights) -> np.ndarray:
        out = np.zeros(self.values.size)
        for g, where, units in self._parts:
            out[where] = w[g][units]
        return out

    def mean(self, w: bs.Weights) -> float | None:
        ws = self.weights(w)
        total = ws.sum()
        return float(self.values @ ws / total) if total > 0 else None


class IdentitySamples:
    """One evaluation's per-sample statistics, grouped by identity.

    ``reference``: the retain model's forget truth ratios ((unique_id, qa_index) -> R),
    ``"self"`` for the retain model itself, None when there is no KS reference.
    """

    def __init__(self, records: Sequence[Record], agg: AggregateConfig, *, mia_k: float = 0.2,
                 reference: Mapping[tuple[str, int], float] | str | None = None) -> None:
        self.units: dict[str, list[str]] = {}
        qa = [r for r in records if r.get("kind") == "qa"]
        for g in GROUPS:
            self.units[g] = sorted({r["unique_id"] for r in qa if r.get("split") == g})
        index = {g: {u: i for i, u in enumerate(ids)} for g, ids in self.units.items()}
        where = {u: (g, i) for g, ids in index.items() for u, i in ids.items()}
        self.series: dict[str, _Series] = {name: _Series() for name in MEANS}
        self.ks_model, self.ks_ref = _Series(), _Series()
        self.members, self.nonmembers = _Series(), _Series()
        attack = agg.mia_metric.removeprefix("mia.auc_")
        self.has_reference = reference is not None
        for r in qa:
            g, i = where[r["unique_id"]]
            if g == "forget":
                self.series["forget.exact_match"].add(g, i, r.get("exact_match"))
                self.series["forget.ape"].add(g, i, r.get("ape"))
                if r.get("truth_ratio") is not None and reference is not None:
                    key = (r["unique_id"], int(r["qa_index"]))
                    ref = r["truth_ratio"] if reference == "self" else reference[key]  # type: ignore[index]
                    self.ks_model.add(g, i, r["truth_ratio"])
                    self.ks_ref.add(g, i, ref)
            elif g == "retain":
                self.series["retain.rouge_l"].add(g, i, r.get("rouge_l"))
                self.series["retain.judge"].add(g, i, r.get("judge"))
                tr = r.get("truth_ratio")
                self.series["retain.truth_ratio"].add(g, i, None if tr is None else max(0.0, 1.0 - tr))
            if g in ("forget", "holdout") and r.get("answer_logprobs"):
                (self.members if g == "forget" else self.nonmembers).add(g, i, _attack_score(r, attack, mia_k))
        for r in records:
            if r.get("kind") != "visual" or r.get("unique_id") not in where:
                continue
            g, i = where[r["unique_id"]]
            if r.get("type") == "yesno":
                ok = float(acc.yes_no_correct(r["generation"], r["answer"]))
                self.series["visual.acc"].add(g, i, ok)
                if g == "holdout":
                    self.series["visual.acc_holdout"].add(g, i, ok)
            elif r.get("type") == "open" and g == "holdout":
                self.series["visual.open_em_holdout"].add(g, i, float(acc.open_match(r.get("span") or r["answer"], r["generation"])))
        for series in (*self.series.values(), self.ks_model, self.ks_ref, self.members, self.nonmembers):
            series.freeze()
        self.agg = agg
        self._ks_cache: dict[tuple[float, int, int], tuple[float, float]] = {}

    def sizes(self) -> dict[str, int]:
        return {g: len(ids) for g, ids in self.units.items() if ids}

    def statistic(self, w: bs.Weights, skip: Sequence[str]) -> dict[str, float | None]:
        out: dict[str, float | None] = {}
        for name, s in self.series.items():
            out[name] = s.mean(w) if len(s) else None
        out["forget.ks_p"] = out["forget.ks_log10_p"] = None
        if self.has_reference and len(self.ks_model):
            wk = self.ks_model.weights(w)  # the same drawn identities on both sides
            a = bs.repeat_by_weight(self.ks_model.values, wk)
            b = bs.repeat_by_weight(self.ks_ref.values, wk)
            if a.size and b.size:
                out["forget.ks_p"], out["forget.ks_log10_p"] = self._ks(a, b)
        out[self.agg.mia_metric] = None
        if len(self.members) and len(self.nonmembers):
            out[self.agg.mia_metric] = bs.weighted_auc(
                self.members.values, self.members.weights(w), self.nonmembers.values, self.nonmembers.weights(w))
        try:
            ag = aggregates(out, self.agg, skip)
            out["model_utility"], out["forget_quality"] = ag["model_utility"], ag["forget_quality"]
        except ConfigError:  # a replicate without some input: the aggregate is undefined there
            out["model_utility"] = out["forget_quality"] = None
        return out


    def _ks(self, a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
        """ks_test's (p, log10 p). The p-value is a function of (D, n_a, n_b) only, and D
        takes few values, so scipy (slow per call) runs once per distinct key."""
        key = (round(ks_statistic(a, b), 12), a.size, b.size)
        if key not in self._ks_cache:
            res = ks_test(a, b)
            self._ks_cache[key] = (res.p_value, res.log10_p)
        return self._ks_cache[key]


def _attack_score(r: Record, attack: str, k: float) -> float:
    lp = r["answer_logprobs"]
    if attack == "loss":
        return mia.loss_score(lp)
    if attack == "zlib":
        return mia.zlib_score(lp, r["answer"])
    if attack == "min_k":
        return mia.min_k_score(lp, k)
    if attack == "min_k_pp":
        return mia.min_k_pp_score(lp, r["answer_mu"], r["answer_sigma"], k)
    raise ConfigError(f"eval.aggregate.mia_metric: unknown attack {attack!r}")


@dataclass
class ModelBootstrap:
    """Estimates and replicates of one model's headline figures (over its seeds)."""

    estimates: dict[str, float | None]
    replicates: dict[str, np.ndarray]
    units: dict[str, list[str]]
    n_seeds: int
    n_boot: int

    def interval(self, metric: str, level: float = 0.95) -> bs.Interval | None:
        if metric not in self.estimates:
            return None
        return bs.percentile_interval(self.estimates[metric], self.replicates[metric], level)

    def intervals(self, level: float = 0.95) -> dict[str, bs.Interval | None]:
        return {m: self.interval(m, level) for m in self.estimates}


def bootstrap_model(samples: Sequence[IdentitySamples], skip: Sequence[str] = (), n_boot: int = 1000,
                    seed: int = 0) -> ModelBootstrap:
    """Identity (and seed) bootstrap of one model's headline figures.

    ``samples``: one :class:`IdentitySamples` per training seed, all on the same
    identities. Models bootstrapped with the same identities, ``n_boot`` and ``seed``
    share their identity draws, so their replicate differences are paired.
    """
    if not samples:
        raise ValueError("bootstrap_model: no evaluations")
    units = samples[0].units
    for s in samples[1:]:
        if s.units != units:
            raise ConfigError("bootstrap over seeds: the seeds' evaluations cover different identities")
    sizes = {**samples[0].sizes(), SEED_GROUP: len(samples)}
    names = headline_metrics(samples[0].agg)

    def stat(w: bs.Weights) -> dict[str, float | None]:
        per = [s.statistic(w, skip) for s in samples]
        if len(per) == 1:
            return {m: per[0].get(m) for m in names}
        sw = np.asarray(w[SEED_GROUP], dtype=np.float64)
        out: dict[str, float | None] = {}
        for m in names:
            vals = np.array([np.nan if p.get(m) is None else p[m] for p in per], dtype=np.float64)
            out[m] = bs.weighted_mean(vals, sw)
        return out

    est, reps = bs.bootstrap(sizes, stat, n_boot=n_boot, seed=seed)
    return ModelBootstrap(est, reps, units, len(samples), n_boot)


def compare(a: ModelBootstrap, b: ModelBootstrap, level: float = 0.95) -> dict[str, bs.Interval | None]:
    """Paired interval of a - b per headline figure (same identities and draws required)."""
    if a.units != b.units or a.n_boot != b.n_boot:
        raise ConfigError("compare: the two models were bootstrapped over different identities or draws")
    return {m: bs.difference_interval(a.estimates[m], a.replicates[m], b.estimates.get(m),
                                      b.replicates.get(m, np.full(a.n_boot, np.nan)), level)
            for m in a.estimates if m in b.estimates}


def intervals_json(boot: ModelBootstrap) -> dict[str, Any]:
    return {m: (None if iv is None else iv.as_dict()) for m, iv in boot.intervals().items()}
