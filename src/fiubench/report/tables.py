"""The report's tables, built from evaluation entries (renderer-independent).

* learning-stage table (the paper's Table 1): base model before fine-tuning vs
  fine-tuned vs retain -- ROUGE-L, judge, exact match; the base must know nobody;
* main table (the paper's Table 2 layout), one per forget split:
  model utility side ``ROUGE, judge, truth ratio, ACC, MU`` | forget side
  ``KS log10 p, EM, MIA, APE, FQ`` for retain, fine-tuned and every method;
* per-metric detail: every stored metric for every final model;
* forget quality at matched utility (see :mod:`fiubench.report.matched`).

Scores in [0, 1] are shown x100 like the paper; KS is shown as log10 p.
"""

from __future__ import annotations

from collections.abc import Sequence

from fiubench.report.entries import Entry, judge_backends, parent
from fiubench.report.matched import MatchedPoint, matched_utility
from fiubench.report.robustness import robust_columns
from fiubench.report.store import ComparisonRow
from fiubench.report.table_base import AtMost, Column, Table, finals, ordered
from fiubench.report.uncertainty import IntervalIndex


def _judge_header(entries: Sequence[Entry]) -> str:
    backends = judge_backends(entries)
    return f"judge ({'; '.join(backends)})" if backends else "judge"


def _value(entry: Entry, col: Column) -> float | None:
    for m in col.metrics:
        v = entry.get(m)
        if v is not None:
            return v
    return None


def forget_splits(entries: Sequence[Entry]) -> list[str]:
    """Forget splits in natural order (forget1, forget5, forget10), "full" excluded."""
    names = {e.forget_split for e in entries if e.forget_split and e.forget_split != "full"}

    def key(s: str) -> tuple[int, str]:
        digits = "".join(ch for ch in s if ch.isdigit())
        return (int(digits) if digits else 10**6, s)

    return sorted(names, key=key)


def main_columns(judge_header: str) -> list[Column]:
    """The paper's Table 2 columns."""
    return [
        Column("ROUGE", ("retain.rouge_l",), higher_is_better=True, group="Model utility (retain)"),
        Column(judge_header, ("retain.judge",), higher_is_better=True, group="Model utility (retain)"),
        Column("Truth", ("retain.truth_ratio",), higher_is_better=True, group="Model utility (retain)"),
        Column("ACC", ("visual.acc", "mme.acc", "pope.acc"), higher_is_better=True, group="Model utility (retain)"),
        Column("MU", ("model_utility",), higher_is_better=True, group="Model utility (retain)"),
        Column("KS log p", ("forget.ks_log10_p",), scale=1.0, decimals=2, higher_is_better=True, group="Forget quality (forget)"),
        Column("KS D", ("forget.ks_d",), higher_is_better=False, group="Forget quality (forget)"),
        Column("EM", ("forget.exact_match",), higher_is_better=False, group="Forget quality (forget)"),
        Column("MIA AUC", ("mia.auc_min_k_pp", "mia.auc_min_k", "mia.auc_loss"), group="Forget quality (forget)"),
        Column("APE", ("forget.ape",), higher_is_better=False, group="Forget quality (forget)"),
        Column("FQ", ("forget_quality",), higher_is_better=True, group="Forget quality (forget)"),
    ]


def seed_groups(entries: Sequence[Entry]) -> list[list[Entry]]:
    """Entries that differ only by their seed settings, in first-appearance order."""
    from fiubench.report.uncertainty import seedless

    groups: dict[tuple, list[Entry]] = {}
    for e in entries:
        groups.setdefault((e.role, e.method, e.forget_split, seedless(e.variant)), []).append(e)
    return list(groups.values())


def main_table(entries: Sequence[Entry], split: str, methods: Sequence[str] | None = None,
               intervals: IntervalIndex | None = None) -> Table:
    """The paper's Table 2 layout for one forget split (final models only).

    Runs that differ only by their seed are one row (the mean over seeds); every cell
    with a bootstrap interval in ``intervals`` shows it.
    """
    from fiubench.report.uncertainty import seedless

    rows = [e for e in finals(entries) if e.forget_split == split and e.role != "base"]
    cols = with_k(main_columns(_judge_header(rows)) + robust_columns(rows), intervals, split)
    t = Table(
        name=f"main_{split}",
        title=f"Main results, {split} (paper's Table 2 layout)",
        columns=cols,
        ci=[] if intervals else None,
    )
    n_seeds = 1
    for group in seed_groups(ordered(rows, methods)):
        e = group[0]
        variant = seedless(e.variant)
        label = _seedless_label(e)
        if len(group) > 1:
            n_seeds = max(n_seeds, len(group))
            label += f" ({len(group)} seeds)"
        cells: list[float | str | None] = []
        cis: list[tuple[float, float] | None] = []
        for c in cols:
            iv = intervals.get(e.role, e.method, split, variant, c.metrics) if intervals else None
            vals = [v for v in (_value(x, c) for x in group) if v is not None]
            cells.append(iv[0] if iv else (sum(vals) / len(vals) if vals else None))
            cis.append(iv[1:] if iv and iv[1] is not None else None)
        t.rows.append((label, cells))
        if t.ci is not None:
            t.ci.append(cis)
    t.notes.append(
        "Scores x100. KS log p = log10 p-value of the KS test between this model's and the "
        "retain model's forget truth ratios (0 = indistinguishable from retain; FQ's KS term is "
        "clip(1 + log p / 26, 0, 1)); KS D = that test's distance between the two distributions "
        "(0 = the retain model's; the effect size, with an interval over people; "
        "docs/metrics-uncertainty.md). "
        "MIA AUC = membership-inference AUC on forget vs never-trained identities (Min-K%++ "
        "by default; 50 = chance is best: an AUC below 50 is reverse detectability, as "
        "detectable as its mirror above 50; FQ uses 1 - 2|AUC - 0.5|). EM and APE: lower = "
        "more forgotten. TPR at low FPR and the privacy leak vs the retain model: MIA table."
    )
    if intervals:
        t.notes.append(
            "[low, high]: 95 % bootstrap interval over identities, studentised on the rates, BCa on MU, KS D, AUC and FQ (people resampled, not answers"
            + (f"; seeds resampled too, values are means over {n_seeds} seeds" if n_seeds > 1 else "")
            + "); k in a header = the people that column's intervals rest on. No interval on KS log p: "
            "intervals go on effect sizes (KS D), not on p-values. Verdicts: the comparisons table."
        )
    return t


def with_k(cols: list[Column], intervals: IntervalIndex | None, split: str) -> list[Column]:
    """Columns whose intervals are known get the k they rest on in their header ("EM (k=10)")."""
    from dataclasses import replace

    if not intervals:
        return cols
    out = []
    for c in cols:
        k = intervals.k(split, c.metrics)
        out.append(replace(c, header=f"{c.header} ({k})") if k else c)
    return out


def _seedless_label(e: Entry) -> str:
    from fiubench.report.uncertainty import seedless

    saved = e.variant
    e.variant = seedless(saved)
    try:
        return e.label
    finally:
        e.variant = saved


_ATTACKS = (("loss", "LOSS"), ("zlib", "zlib"), ("min_k", "Min-K%"), ("min_k_pp", "Min-K%++"))


def mia_table(entries: Sequence[Entry], split: str, methods: Sequence[str] | None = None) -> Table:
    """Every MIA attack of every final model: AUC, TPR at 1 % / 5 % FPR, privacy leak vs retain."""
    rows = [e for e in finals(entries) if e.forget_split == split and e.role != "base"]
    cols: list[Column] = []
    for a, name in _ATTACKS:
        cols += [
            Column("AUC", (f"mia.auc_{a}",), group=name),
            Column("TPR@1%", (f"mia.tpr1_{a}",), higher_is_better=False, group=name),
            Column("TPR@5%", (f"mia.tpr5_{a}",), higher_is_better=False, group=name),
            Column("leak %", (f"mia.leak_{a}",), group=name),
        ]
    t = Table(name=f"mia_{split}", title=f"Membership inference, {split} (forget vs never-seen identities)",
              columns=cols)
    from fiubench.metrics.mia import TPR_FPRS, tpr_unavailable

    for e in ordered(rows, methods):
        cells: list[float | str | None] = []
        n = e.get("mia.nonmembers")
        for c in cols:
            v = _value(e, c)
            fpr = next((f for t, f in TPR_FPRS.items() if c.metrics[0].startswith(f"mia.{t}_")), None)
            why = tpr_unavailable(int(n), fpr) if v is None and fpr is not None and n is not None else None
            cells.append(why or v)
        t.rows.append((e.label, cells))
    t.notes.append(
        "x100. AUC: 50 = chance (best); TPR@x%: forget QA detected while at most x% of never-seen QA "
        "are flagged, reported only with >= 10/x never-seen answers (1,000 for 1 %, 200 for 5 %: "
        "counted as answers, which come from fewer people; the uncertainty step's interval on it "
        "resamples people); leak % = (AUC - AUC_retain) / AUC_retain on the same attack (0 = as the "
        "retain model, negative = reverse detectability)."
    )
    return t


def learning_table(entries: Sequence[Entry]) -> Table:
    """Learning stage (paper's Table 1): what the base, fine-tuned and retain models know.

    ROUGE-L, judge and exact match on the identities of every forget split and on
    the retain identities (the retain-side sample of the first split's evaluation).
    Expected: the base knows nobody, the fine-tuned model knows everyone, the retain
    model knows the retain identities only.
    """
    learn = [e for e in entries if e.role in ("base", "finetuned", "retain")]
    jh = _judge_header(learn)
    splits = forget_splits(learn)
    cols: list[Column] = []
    for s in [*splits, "retain"]:
        side = "retain" if s == "retain" else "forget"
        at = splits[0] if s == "retain" and splits else s
        grp = "retain identities" if s == "retain" else f"{s} identities"
        cols += [
            Column("ROUGE-L", (f"@{at}:{side}.rouge_l",), higher_is_better=True, group=grp),
            Column(jh, (f"@{at}:{side}.judge",), higher_is_better=True, group=grp),
            Column("EM", (f"@{at}:{side}.exact_match",), higher_is_better=True, group=grp),
        ]
    t = Table(name="learning", title="Learning stage (paper's Table 1)", columns=cols)
    for role in ("base", "finetuned", "retain"):
        mine = [e for e in learn if e.role == role]
        for variant in sorted({e.variant for e in mine}):
            same = [e for e in mine if e.variant == variant]
            by_split = {e.forget_split: e for e in same}
            cells: list[float | str | None] = []
            for c in cols:
                s, name = c.metrics[0][1:].split(":", 1)
                cells.append(by_split[s].get(name) if s in by_split else None)
            t.rows.append((same[0].label, cells))
    t.notes.append(
        "Scores x100. Before fine-tuning the base model should know nobody (near 0); the "
        "fine-tuned model knows every identity; the retain model only the retain identities."
    )
    return t


def detail_table(entries: Sequence[Entry], split: str, methods: Sequence[str] | None = None) -> Table:
    """Every stored metric (rows) for every final model (columns) on one forget split."""
    models = ordered([e for e in finals(entries) if e.forget_split == split], methods)
    metrics = sorted({m for e in models for m in e.metrics})
    t = Table(
        name=f"detail_{split}",
        title=f"Per-metric detail, {split}",
        columns=[Column(e.label, (), scale=1.0, decimals=3) for e in models],
        row_header="metric",
    )
    for m in metrics:
        hib = next((e.higher_is_better.get(m) for e in models if e.higher_is_better.get(m) is not None), None)
        arrow = "" if hib is None else (" ↑" if hib else " ↓")
        t.rows.append((m + arrow, [_at_floor(e, m) for e in models]))
    t.notes.append("Raw values (not x100); ↑ higher is better, ↓ lower is better.")
    if any(isinstance(v, AtMost) for _, cells in t.rows for v in cells):
        t.notes.append(
            "≤ p: a permutation p-value at its floor (forget.ks_perm_p: 2/2^k over k forget identities, "
            "forget.ks_perm_p_floor), i.e. the smallest p the test can give with these people: it says "
            "'at most', so it cannot order methods; read KS D (with its interval, when the run has intervals).")
    return t


# p-value -> the metric holding its floor (the smallest p its test can give)
P_FLOORS = {"forget.ks_perm_p": "forget.ks_perm_p_floor"}


def _at_floor(e: Entry, metric: str) -> float | None:
    """``e``'s value of ``metric``; an :class:`AtMost` when it is a p-value at its floor."""
    v, floor = e.get(metric), e.get(P_FLOORS[metric]) if metric in P_FLOORS else None
    return AtMost(v) if v is not None and floor is not None and v <= floor * (1 + 1e-9) else v


def curve_points(entry_group: Sequence[Entry], finetuned: Entry | None) -> list[tuple[float, float | None, float | None]]:
    """(step, MU, FQ) of one unlearning run in step order, starting at the fine-tuned model.

    The final model is a point too when it is not also a saved checkpoint.
    """
    pts: dict[tuple[int, int], tuple[float, float | None, float | None]] = {}
    for e in entry_group:
        pts[(e.step, int(e.final))] = (float(e.step), e.get("model_utility"), e.get("forget_quality"))
    in_order = [pts[k] for k in sorted(pts)]
    # The final model duplicates the last checkpoint when training ended on a save.
    dedup: list[tuple[float, float | None, float | None]] = []
    for p in in_order:
        if dedup and dedup[-1][0] == p[0] and dedup[-1][1:] == p[1:]:
            continue
        dedup.append(p)
    if finetuned is not None and not any(p[0] == 0 for p in dedup):
        dedup.insert(0, (0.0, finetuned.get("model_utility"), finetuned.get("forget_quality")))
    return dedup


def curves(entries: Sequence[Entry], split: str) -> dict[str, tuple[Entry | None, list[tuple[float, float | None, float | None]]]]:
    """label -> (fine-tuned reference, curve points) for every unlearning run on ``split``."""
    groups: dict[tuple, list[Entry]] = {}
    for e in entries:
        if e.role == "unlearned" and e.forget_split == split:
            groups.setdefault(e.curve_key, []).append(e)
    out = {}
    for group in groups.values():
        ft = parent(group[0], entries, "finetuned")
        # No final model yet: the run stopped (or is still running) mid-way.
        label = next((e.label for e in group if e.final), f"{group[0].label} (incomplete)")
        out[label] = (ft, curve_points(group, ft))
    return out


def matched_table(
    entries: Sequence[Entry], split: str, ratios: Sequence[float] = (0.8, 0.6)
) -> tuple[Table, dict[str, dict[float, MatchedPoint | None]]]:
    """FQ at matched utility (FQ@r) per unlearning run on one forget split."""
    cols: list[Column] = []
    for r in ratios:
        cols.append(Column(f"FQ @ MU>={r:.0%}", (), group=f"{r:.0%}"))
        cols.append(Column("at step", (), scale=1.0, decimals=1, group=f"{r:.0%}"))
    t = Table(
        name=f"matched_{split}",
        title=f"Forget quality at matched utility, {split}",
        columns=cols,
        row_header="method",
    )
    found: dict[str, dict[float, MatchedPoint | None]] = {}
    for label, (ft, pts) in sorted(curves(entries, split).items()):
        ref = ft.get("model_utility") if ft else None
        res = matched_utility(pts, ref, ratios)
        found[label] = res
        cells: list[float | str | None] = []
        for r in ratios:
            p = res[r]
            cells.extend([None, None] if p is None else [p.forget_quality, p.step])
        t.rows.append((label, cells))
    t.notes.append(
        "FQ@r: the best forget quality along the method's checkpoint curve (linearly "
        "interpolated between checkpoints) while model utility stays >= r x the fine-tuned "
        "model's. FQ x100."
    )
    return t, found


def mark_incomplete(table: Table, missing: Sequence[tuple[str, int]]) -> None:
    """Append a row per planned model without a final evaluation: (label, checkpoints evaluated)."""
    for label, n in missing:
        done = f"{n} checkpoint(s) evaluated" if n else "not evaluated yet"
        table.rows.append((f"{label} (incomplete: {done})", [None] * len(table.columns)))
    if missing:
        table.notes.append(
            f"{len(missing)} model(s) of this run have not finished (marked incomplete): the report "
            "was built from a run that stopped or is still running; `fiubench run` resumes it."
        )


def comparison_columns(judge_header: str) -> list[Column]:
    """The figures compared between models: effect sizes (KS D, not the KS p-value; the MIA
    FQ term, whose best is 1, not the AUC, whose best is 0.5 in the middle)."""
    out = []
    for c in main_columns(judge_header):
        if c.metrics[0] == "forget.ks_log10_p":
            continue
        if c.metrics[0].startswith("mia.auc_"):
            c = Column("MIA term", ("mia.fq_term",), higher_is_better=True, group=c.group)
        out.append(c)
    return out


def comparisons_table(comparisons: Sequence[ComparisonRow], entries: Sequence[Entry], split: str) -> Table | None:
    """Each method (and the fine-tuned model) vs the retain model, and each method vs the
    best method by FQ: a - b with its paired interval over identities, k, and the verdict
    (better / worse / ≈ equivalent within the metric's margin / undecided) after Holm's
    adjustment within (family, metric). Every pair is in ``comparisons_all_<split>.csv``."""
    from fiubench.report.uncertainty import VERDICT_MARKS, comparison_rows

    pairs = comparison_rows(comparisons, split)
    if not pairs:
        return None
    cols = comparison_columns(_judge_header([e for e in entries if e.forget_split == split]))
    ks = {m: r.k for _a, _b, d in pairs for m, r in d.items() if r.k}
    cols = [replace_header(c, f"{c.header} ({ks[c.metrics[0]]})") if c.metrics[0] in ks else c for c in cols]
    t = Table(name=f"comparisons_{split}", title=f"Verdicts: differences with 95 % intervals, {split}",
              columns=cols, row_header="a − b")
    margins: dict[str, float] = {}
    for a, b, by_metric in pairs:
        cells: list[float | str | None] = []
        for c in cols:
            r = next((by_metric[m] for m in c.metrics if m in by_metric and by_metric[m].estimate is not None), None)
            if r is None or r.low is None or r.high is None:
                cells.append(None)
                continue
            text = (f"{r.estimate * c.scale:+.{c.decimals}f} [{r.low * c.scale:+.{c.decimals}f}, "
                    f"{r.high * c.scale:+.{c.decimals}f}]")
            if r.verdict is None:  # an older run: only whether the interval includes 0
                cells.append(text + (" ≈" if r.indistinguishable else ""))
                continue
            if r.margin is not None:
                margins[c.header.split(" (")[0]] = r.margin * c.scale
            cells.append(f"{text} {VERDICT_MARKS.get(r.verdict, r.verdict)}")
        family = next((r.family for r in by_metric.values() if r.family), None)
        t.rows.append((f"{_group_label(a)} − {_group_label(b)}" + (f" ({family})" if family else ""), cells))
    t.notes.append(
        "Scores x100; a − b, paired: both models resampled with the same people (and seeds), 95 % "
        "interval over identities (studentised on rates, BCa on MU, KS D, FQ); k in a header = the people it rests on. Verdict per cell: "
        "better / worse = a person-wise sign-flip permutation test rejects 'no difference' "
        "(Holm-adjusted p < 0.05 within the column's family: vs retain, vs best) and the interval excludes 0; ≈ = equivalent: "
        "two one-sided tests put the difference inside ±margin"
        + (" (" + ", ".join(f"{h} ±{m:g}" for h, m in margins.items()) + ")" if margins else "")
        + ", with >= 8 people in each group it reads; undecided = neither, said plainly: these "
        "people cannot tell. 'better' on a forget "
        "figure vs retain means beyond the retain model (e.g. EM below it), not closer to it. "
        "The best method is picked by FQ from these data, so its row's differences are optimistic. "
        "Every pair, with raw and adjusted p-values: comparisons_all_" + split + ".csv."
    )
    return t


def replace_header(c: Column, header: str) -> Column:
    from dataclasses import replace

    return replace(c, header=header)


def _group_label(model: str) -> str:
    from fiubench.report.entries import METHOD_NAMES, ROLE_NAMES

    head, _, rest = model.partition("/")
    if head in ROLE_NAMES:
        name = ROLE_NAMES[head]
        return f"{name} [{rest}]" if rest else name
    method = METHOD_NAMES.get(head, head.upper())
    _split, _, variant = rest.partition("/")
    return f"{method} [{variant}]" if variant else method


def visual_table(entries: Sequence[Entry], intervals: IntervalIndex | None = None,
                 methods: Sequence[str] | None = None) -> Table | None:
    """Can the models still see? Visual accuracy on never-trained (holdout) faces.

    One forget split's evaluations (the first) suffice: the holdout faces are the same in
    every evaluation. Unlearned models: their final models on that split.
    """
    from fiubench.report.uncertainty import seedless

    splits = forget_splits(entries)
    if not splits:
        return None
    split = splits[0]
    rows = [e for e in finals(entries) if e.forget_split == split]
    if not any(e.get("visual.acc_holdout") is not None for e in rows):
        return None
    cols = [
        Column("yes/no ACC (unseen faces)", ("visual.acc_holdout",), higher_is_better=True, group="holdout faces"),
        Column("open EM (unseen faces)", ("visual.open_em_holdout",), higher_is_better=True, group="holdout faces"),
        Column("yes/no ACC (all faces)", ("visual.acc",), higher_is_better=True, group="all evaluated faces"),
    ]
    cols = with_k(cols, intervals, split)
    t = Table(name="visual", title=f"Visual ability on unseen faces (holdout identities; {split} evaluations)",
              columns=cols, ci=[] if intervals else None)
    for group in seed_groups(ordered(rows, methods)):
        e = group[0]
        cells: list[float | str | None] = []
        cis: list[tuple[float, float] | None] = []
        for c in cols:
            vals = [v for v in (_value(x, c) for x in group) if v is not None]
            iv = intervals.get(e.role, e.method, split, seedless(e.variant), c.metrics) if intervals else None
            cells.append(iv[0] if iv else (sum(vals) / len(vals) if vals else None))
            cis.append(iv[1:] if iv and iv[1] is not None else None)
        t.rows.append((_seedless_label(e) + (f" ({len(group)} seeds)" if len(group) > 1 else ""), cells))
        if t.ci is not None:
            t.ci.append(cis)
    t.notes.append(
        "Visual-attribute questions about the faces of holdout identities, which no model was "
        "trained on (yes/no chance 50; open chance ~23). The base row is the model before "
        "stage 1. x100; [low, high]: 95 % bootstrap interval over identities."
    )
    return t
