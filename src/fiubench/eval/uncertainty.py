"""Person-level intervals and verdicts of the headline figures, from per-sample records.

For one model (possibly trained under several seeds) the per-sample statistics of its
evaluation records are grouped by identity (forget / retain / holdout people; the
visual questions go with the person whose face they show). Every headline figure
(retain ROUGE-L, judge, truth ratio, ACC, MU; the KS distance D, EM, the MIA AUC and
its FQ term, APE, FQ; the visual accuracy on unseen faces) is then a function of the
identities drawn, and :mod:`fiubench.metrics.inference` puts intervals over identities
on it (studentised bootstrap on the pooled means, whose SE is the ratio estimator's, BCa
on the rest) and compares two models by a person-wise sign-flip test and a TOST.
MU and FQ go through :func:`fiubench.metrics.aggregate.aggregates`, so a replicate uses
the very formulas of the point estimate.

The KS p-value is not given an interval (intervals go on effect sizes): the KS effect
is D, the distance between the model's and the retain model's truth ratios of the
*same* drawn people. The retain model against itself has D = 0 in every draw, so its
interval is [0, 0] by construction and "method vs retain" on KS is the method's D
with its interval, tested by the person-level sign flip.

Several seeds: the figure is the mean over seeds, and seeds are one more resampled
group (seeds drawn with replacement, then identities).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from fiubench.errors import ConfigError
from fiubench.eval.compute import Record
from fiubench.metrics import accuracy as acc
from fiubench.metrics import inference as inf
from fiubench.metrics import mia
from fiubench.metrics.aggregate import AggregateConfig, aggregates, mia_term
from fiubench.metrics.bootstrap import weighted_auc
from fiubench.metrics.identity_stats import influence_se, ratio_influence, sums
from fiubench.metrics.info import METRICS
from fiubench.metrics.ks import ks_test

GROUPS = ("forget", "retain", "holdout")
# A figure whose people have at most this many swap patterns gets the exact sign-flip
# test whatever n_permutations says: at the default's 10 people (1,024 patterns) 1,000
# random patterns gave p ~ 0.006 where the exact floor is 2/1024, and Holm over 10
# methods turned every "worse than retain" on KS D and EM into "undecided".
EXACT_SWAPS = 4096
SEED_GROUP = "seed"
MEANS = {  # series -> its group
    "retain.rouge_l": "retain", "retain.judge": "retain", "retain.truth_ratio": "retain",
    "visual.acc": None, "visual.acc_holdout": "holdout", "visual.open_em_holdout": "holdout",
    "forget.exact_match": "forget", "forget.ape": "forget",
}
# figures compared between models: effect sizes only (no p-values), MIA as its FQ term
# (AUC 0.5 is best, so "higher" is meaningless for the AUC itself)
NOT_COMPARED = ("forget.ks_log10_p",)
# the identity groups a figure reads (for the k printed next to it)
_READS = {"forget.exact_match": ("forget",), "forget.ape": ("forget",), "forget.ks_d": ("forget",),
          "retain.rouge_l": ("retain",), "retain.judge": ("retain",), "retain.truth_ratio": ("retain",),
          "visual.acc_holdout": ("holdout",), "visual.open_em_holdout": ("holdout",),
          "mia.fq_term": ("forget", "holdout"), "forget_quality": ("forget", "holdout")}


def _k_of(name: str, k: Mapping[str, int]) -> dict[str, int]:
    """The k of the groups ``name`` reads (a mia.auc_* reads forget and holdout people;
    MU and the all-faces visual accuracy read every group), seeds kept."""
    reads = _READS.get(name, ("forget", "holdout") if name.startswith("mia.") else tuple(k))
    return {g: n for g, n in k.items() if g in reads or g not in GROUPS}


def headline_metrics(agg: AggregateConfig) -> tuple[str, ...]:
    """The figures that get an interval, in report order (no p-values)."""
    attack = agg.mia_metric.removeprefix("mia.auc_")
    return (*agg.mu_metrics, "model_utility", "forget.ks_d", "forget.exact_match", agg.mia_metric,
            "mia.fq_term", *(f"mia.{t}_{attack}" for t in mia.TPR_FPRS), "forget.ape", "forget_quality",
            "visual.acc_holdout", "visual.open_em_holdout")


def _vector_names(agg: AggregateConfig) -> tuple[str, ...]:
    return (*headline_metrics(agg), "forget.ks_log10_p")


class IdentitySamples:
    """One evaluation's per-sample statistics, as one array per identity and series.

    ``reference``: the retain model's forget truth ratios ((unique_id, qa_index) -> R),
    ``"self"`` for the retain model itself, None when there is no KS reference.
    """

    def __init__(self, records: Sequence[Record], agg: AggregateConfig, *, mia_k: float = 0.2,
                 reference: Mapping[tuple[str, int], float] | str | None = None) -> None:
        qa = [r for r in records if r.get("kind") == "qa"]
        self.units: dict[str, list[str]] = {g: sorted({r["unique_id"] for r in qa if r.get("split") == g})
                                            for g in GROUPS}
        where = {u: (g, i) for g, ids in self.units.items() for i, u in enumerate(ids)}
        raw: dict[str, dict[str, list[list[float]]]] = {}

        def add(name: str, g: str, i: int, value: float | None) -> None:
            if value is None or not np.isfinite(value):
                return  # undefined for this sample (e.g. a QA without keywords): left out
            per = raw.setdefault(name, {}).setdefault(g, [[] for _ in self.units[g]])
            per[i].append(float(value))

        attack = agg.mia_metric.removeprefix("mia.auc_")
        self.has_reference = reference is not None
        for r in qa:
            g, i = where[r["unique_id"]]
            if g == "forget":
                add("forget.exact_match", g, i, r.get("exact_match"))
                add("forget.ape", g, i, r.get("ape"))
                if r.get("truth_ratio") is not None and reference is not None:
                    key = (r["unique_id"], int(r["qa_index"]))
                    ref = r["truth_ratio"] if reference == "self" else reference[key]  # type: ignore[index]
                    add("ks_model", g, i, r["truth_ratio"])
                    add("ks_ref", g, i, ref)
            elif g == "retain":
                add("retain.rouge_l", g, i, r.get("rouge_l"))
                add("retain.judge", g, i, r.get("judge"))
                tr = r.get("truth_ratio")
                add("retain.truth_ratio", g, i, None if tr is None else max(0.0, 1.0 - tr))
            if g in ("forget", "holdout") and r.get("answer_logprobs"):
                add("member" if g == "forget" else "nonmember", g, i, _attack_score(r, attack, mia_k))
        for r in records:
            if r.get("kind") != "visual" or r.get("unique_id") not in where:
                continue
            g, i = where[r["unique_id"]]
            if r.get("type") == "yesno":
                ok = float(acc.yes_no_correct(r["generation"], r["answer"]))
                add("visual.acc", g, i, ok)
                if g == "holdout":
                    add("visual.acc_holdout", g, i, ok)
            elif r.get("type") == "open" and g == "holdout":
                add("visual.open_em_holdout", g, i,
                    float(acc.open_match(r.get("span") or r["answer"], r["generation"])))
        # series -> group -> per-identity arrays (a series may span groups: visual.acc)
        self.series = {n: {g: [np.asarray(v, dtype=np.float64) for v in per] for g, per in d.items()}
                       for n, d in raw.items()}
        self.agg = agg
        self._ks_cache: dict[tuple[float, int, int], float] = {}
        self._sums: dict[tuple[str, str], tuple[np.ndarray, np.ndarray]] = {}

    def sizes(self) -> dict[str, int]:
        return {g: len(ids) for g, ids in self.units.items() if ids}

    def influence(self, name: str, idx: Mapping[str, np.ndarray] | None) -> np.ndarray | None:
        """Per drawn identity, the influence on the pooled mean ``name`` (a series of
        :data:`MEANS` read from one group of enough identities to studentise); None for
        any other figure."""
        g = MEANS.get(name)
        per = self.series.get(name, {}).get(g) if g else None
        if per is None or not inf.studentizable(len(per)):
            return None
        if (name, g) not in self._sums:
            self._sums[(name, g)] = sums(per)
        s, n = self._sums[(name, g)]
        j = np.arange(len(per)) if idx is None or g not in idx else np.asarray(idx[g])
        return ratio_influence(s[j], n[j])

    def view(self, idx: Mapping[str, np.ndarray] | None = None) -> dict[str, np.ndarray]:
        """series -> the pooled samples of the identities drawn (all when ``idx`` is None)."""
        out = {}
        for name, per in self.series.items():
            parts = [inf.pooled(units, None if idx is None else idx.get(g, np.arange(len(units))))
                     for g, units in per.items()]
            out[name] = np.concatenate(parts) if parts else np.zeros(0)
        return out

    def mixed_view(self, other: IdentitySamples, swap: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """series -> this model's samples with ``other``'s on the identities where ``swap``."""
        out = {}
        for name, per in self.series.items():
            theirs = other.series.get(name, {})
            parts = []
            for g, units in per.items():
                if g in theirs and g in swap:
                    units = inf.mix(units, theirs[g], swap[g])[0]
                parts.append(inf.pooled(units))
            out[name] = np.concatenate(parts) if parts else np.zeros(0)
        return out

    def figures(self, view: Mapping[str, np.ndarray], skip: Sequence[str]) -> dict[str, float | None]:
        """Every headline figure of the samples in ``view``."""
        out: dict[str, float | None] = {}
        for name in MEANS:
            v = view.get(name, np.zeros(0))
            out[name] = float(v.mean()) if v.size else None
        out["forget.ks_d"] = out["forget.ks_p"] = out["forget.ks_log10_p"] = None
        a, b = view.get("ks_model", np.zeros(0)), view.get("ks_ref", np.zeros(0))
        if self.has_reference and a.size and b.size:
            out["forget.ks_d"] = inf.ks_distance(a, b)
            out["forget.ks_p"] = self._ks_p(out["forget.ks_d"], a, b)
            out["forget.ks_log10_p"] = float(np.log10(max(out["forget.ks_p"], 1e-300)))
        out[self.agg.mia_metric] = out["mia.fq_term"] = None
        attack = self.agg.mia_metric.removeprefix("mia.auc_")
        m, n = view.get("member", np.zeros(0)), view.get("nonmember", np.zeros(0))
        for t, fpr in mia.TPR_FPRS.items():  # only with >= 10 / fpr never-seen answers drawn
            ok = m.size and mia.tpr_unavailable(int(n.size), fpr) is None
            out[f"mia.{t}_{attack}"] = mia.tpr_at_fpr(m, n, fpr) if ok else None
        if m.size and n.size:
            auc = weighted_auc(m, np.ones(m.size), n, np.ones(n.size))
            out[self.agg.mia_metric] = auc
            out["mia.fq_term"] = None if auc is None else mia_term(auc, self.agg.mia_norm)
        try:
            ag = aggregates(out, self.agg, skip)
            out["model_utility"], out["forget_quality"] = ag["model_utility"], ag["forget_quality"]
        except ConfigError:  # a draw without some input: the aggregate is undefined there
            out["model_utility"] = out["forget_quality"] = None
        return out

    def _ks_p(self, d: float, a: np.ndarray, b: np.ndarray) -> float:
        """ks_test's p. It is a function of (D, n_a, n_b) only and D takes few values, so
        scipy (slow per call) runs once per distinct key."""
        key = (round(d, 12), a.size, b.size)
        if key not in self._ks_cache:
            self._ks_cache[key] = ks_test(a, b).p_value
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


class ModelFigures:
    """One model group (its evaluations over seeds, same identities): the headline vector
    of any draw of identities and seeds, memoised (models compared on the same draws
    reuse it)."""

    def __init__(self, samples: Sequence[IdentitySamples], skip: Sequence[str] = ()) -> None:
        if not samples:
            raise ValueError("no evaluations")
        self.samples = list(samples)
        self.units = samples[0].units
        for s in samples[1:]:
            if s.units != self.units:
                raise ConfigError("bootstrap over seeds: the seeds' evaluations cover different identities")
        self.skip = list(skip)
        self.names = _vector_names(samples[0].agg)
        self._memo: dict[tuple[int, bytes], np.ndarray] = {}

    @property
    def n_seeds(self) -> int:
        return len(self.samples)

    def sizes(self) -> dict[str, int]:
        return self.samples[0].sizes()

    def _one(self, s: int, view: Mapping[str, np.ndarray]) -> np.ndarray:
        f = self.samples[s].figures(view, self.skip)
        return np.array([np.nan if f.get(n) is None else f[n] for n in self.names], dtype=np.float64)

    def vector(self, idx: Mapping[str, np.ndarray] | None = None, seeds: np.ndarray | None = None) -> np.ndarray:
        """Mean over the drawn ``seeds`` (default: all) of the figures on the drawn identities."""
        ids = {g: np.asarray(i) for g, i in (idx or {}).items() if g in GROUPS}
        key = b"|".join(g.encode() + np.sort(i).tobytes() for g, i in sorted(ids.items()))
        seeds = np.arange(self.n_seeds) if seeds is None else np.asarray(seeds)
        vals = []
        for s in seeds:
            k = (int(s), key)
            if k not in self._memo:
                self._memo[k] = self._one(int(s), self.samples[int(s)].view(ids or None))
            vals.append(self._memo[k])
        return _seed_mean(vals)

    def se(self, idx: Mapping[str, np.ndarray] | None = None, other: ModelFigures | None = None) -> np.ndarray:
        """The SE over the drawn identities of each pooled-mean figure (of self - other when
        given; paired: the same identities), NaN for the others and with several seeds:
        what :func:`~fiubench.metrics.inference.person_bootstrap` studentises by."""
        out = np.full(len(self.names), np.nan)
        if self.n_seeds > 1 or (other is not None and other.n_seeds > 1):
            return out
        for i, name in enumerate(self.names):
            z = self.samples[0].influence(name, idx)
            if z is not None and other is not None:
                zb = other.samples[0].influence(name, idx)
                z = None if zb is None else z - zb
            if z is not None:
                out[i] = influence_se(z)
        return out

    def mixed(self, other: ModelFigures, swap: Mapping[str, np.ndarray]) -> np.ndarray:
        """self - other with the two models' records exchanged on the swapped identities
        (seeds paired by index; the shorter list of seeds sets how many)."""
        n = min(self.n_seeds, other.n_seeds)
        diffs = []
        for s in range(n):
            a, b = self.samples[s], other.samples[s]
            diffs.append(self._one(s, a.mixed_view(b, swap)) - other._one(s, b.mixed_view(a, swap)))
        return _seed_mean(diffs)


def _seed_mean(vals: list[np.ndarray]) -> np.ndarray:
    """Mean over seeds of each figure; NaN where no seed defines it."""
    if len(vals) == 1:
        return vals[0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN column: the figure stays NaN
        return np.nanmean(np.stack(vals), axis=0)


def _seed_sizes(sizes: dict[str, int], **seeds: int) -> dict[str, int]:
    return {**sizes, **{g: n for g, n in seeds.items() if n > 1}}


def model_intervals(model: ModelFigures, *, level: float = inf.LEVEL, n_resamples: int = 2000,
                    seed: int = 0) -> dict[str, inf.Interval | None]:
    """BCa interval over identities (and seeds) of every headline figure of one model."""
    sizes = _seed_sizes(model.sizes(), **{SEED_GROUP: model.n_seeds})
    boot = inf.person_bootstrap(lambda idx: model.vector(idx, idx.get(SEED_GROUP)), sizes, level=level,
                                n_resamples=n_resamples, seed=seed, se=model.se,
                                bounds=(0.0, 1.0))  # the studentised figures are rates
    out: dict[str, inf.Interval | None] = {}
    for i, n in enumerate(model.names):
        if n not in NOT_COMPARED:
            iv = boot.interval(i)
            out[n] = None if iv is None else replace(iv, k=_k_of(n, iv.k))
    return out


def compare_models(a: ModelFigures, b: ModelFigures, *, level: float = inf.LEVEL, n_resamples: int = 2000,
                   n_permutations: int = 1999, seed: int = 0,
                   labels: Mapping[str, str] | None = None) -> list[inf.Comparison]:
    """a - b on every compared figure: paired BCa interval over identities (and seeds),
    person-wise sign-flip p, TOST p at the metric's margin; verdicts not yet adjusted
    for multiplicity (:func:`fiubench.metrics.inference.decide` does that per table)."""
    if a.units != b.units:
        raise ConfigError("compare: the two models were evaluated on different identities")
    sizes = _seed_sizes(a.sizes(), seed_a=a.n_seeds, seed_b=b.n_seeds)

    def diff(idx: Mapping[str, np.ndarray]) -> np.ndarray:
        return a.vector(idx, idx.get("seed_a")) - b.vector(idx, idx.get("seed_b"))

    boot = inf.person_bootstrap(diff, sizes, level=level, n_resamples=n_resamples, seed=seed,
                                se=lambda idx: a.se(idx, b), bounds=(-1.0, 1.0))
    # A figure is unchanged by swaps of people it does not read: where its people are few
    # enough (2^k <= max(n_permutations, EXACT_SWAPS)) it gets the exact test over their swaps, the others
    # share one Monte Carlo run over everyone's swaps (the same test, estimated).
    p = np.full(len(a.names), np.nan)
    people = a.sizes()
    reads = {n: {g: k for g, k in _k_of(n, people).items() if g in GROUPS} for n in a.names}
    limit = max(n_permutations, EXACT_SWAPS)
    exact = {tuple(r) for r in reads.values() if 2 ** sum(r.values()) <= limit}
    for groups in [*exact, None]:
        which = [i for i, n in enumerate(a.names) if (tuple(reads[n]) == groups if groups else tuple(reads[n]) not in exact)]
        if which:
            sub = people if groups is None else {g: people[g] for g in groups}
            n_swaps = n_permutations if groups is None else max(n_permutations, 2 ** sum(sub.values()))
            p[which] = inf.sign_flip_p(lambda swap, w=which: a.mixed(b, swap)[w], sub,
                                       n_resamples=n_swaps, seed=seed)
    out = []
    for i, name in enumerate(a.names):
        hib = METRICS.get(name).higher_is_better if name in METRICS else None
        if name in NOT_COMPARED or hib is None:
            continue  # no direction (the MIA AUC itself: its FQ term is compared instead)
        c = inf.compare_boot(name, boot, float(p[i]), i=i, higher_is_better=hib, labels=labels)
        if c is not None:  # k: the people this figure reads; verdict again with it
            out.append(inf.decide([replace(c, k=_k_of(name, c.k))])[0])
    return out


def intervals_json(intervals: Mapping[str, inf.Interval | None]) -> dict[str, Any]:
    return {m: (None if iv is None else iv.as_dict()) for m, iv in intervals.items()}
