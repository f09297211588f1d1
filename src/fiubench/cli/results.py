"""`fiubench results`: list, filter, compare and export stored results.

    fiubench results [--db PATH] [--method ga ...] [--split forget5 ...] [--metric ...]
                     [--role ...] [--all-steps] [--compare A B] [--csv OUT]

Without --compare: one line per evaluated model (final models unless --all-steps)
and metric. --compare A B: the metrics of two models side by side with B - A (A
and B are model labels such as "finetuned", "retain", "ga/forget5", or
RUN:LABEL when the database holds several runs). Results of different metrics
versions (``fiubench.metrics.version``) are never compared: --compare refuses them and
a listing that mixes them says so.
"""

from __future__ import annotations

import argparse
from pathlib import Path

HELP = "list, filter, compare and export stored results"

DEFAULT_METRICS = ("model_utility", "forget_quality", "forget.ks_log10_p", "forget.exact_match",
                   "forget.ape", "retain.rouge_l")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--db", type=Path, default=Path("runs/tiny/results.sqlite"),
                   help="results database (default runs/tiny/results.sqlite)")
    p.add_argument("--run", nargs="+", help="only these runs")
    p.add_argument("--method", nargs="+", help="only these unlearning methods")
    p.add_argument("--split", nargs="+", help="only these forget splits")
    p.add_argument("--metric", nargs="+", help="only these metrics (default: the headline ones; 'all')")
    p.add_argument("--role", nargs="+", choices=["base", "finetuned", "retain", "unlearned"])
    p.add_argument("--all-steps", action="store_true", help="every checkpoint, not only final models")
    p.add_argument("--compare", nargs=2, metavar=("A", "B"), help="two model labels side by side")
    p.add_argument("--csv", type=Path, help="write the selected rows as CSV")


def _fmt(v: float | None) -> str:
    return "—" if v is None else f"{v:.4f}"


def run(args: argparse.Namespace) -> int:
    from fiubench.errors import FiubenchError
    from fiubench.report.store import ResultsStore, rows_to_csv
    from fiubench.utils.registry import did_you_mean

    metric = None if args.metric == ["all"] else (args.metric or (None if args.csv else list(DEFAULT_METRICS)))
    with ResultsStore(args.db, create=False) as st:
        if args.metric and args.metric != ["all"]:
            known = st.distinct("metric")
            for m in args.metric:
                if m not in known:
                    raise FiubenchError(f"--metric: no metric {m!r} in {args.db}.{did_you_mean(m, known)}")
        rows = st.rows(run=args.run, method=args.method, forget_split=args.split, metric=metric, role=args.role)
    rows = [r for r in rows if args.all_steps or args.compare or r.role != "unlearned" or r.final]
    if args.compare:
        return _compare(rows, *args.compare, multi_run=len({r.run for r in rows}) > 1)
    versions = sorted({r.metrics_version or 1 for r in rows})
    if len(versions) > 1:
        print(f"WARNING: these rows mix metrics versions {', '.join(map(str, versions))}: their numbers are "
              "not comparable (see the metrics_version column of --csv; rerun the older evaluations)")
    if args.csv:
        rows_to_csv(rows, args.csv)
        print(f"wrote {len(rows)} row(s) to {args.csv}")
        return 0
    if not rows:
        print("no results match")
        return 0
    print(f"{'run':14s} {'model':28s} {'split':9s} {'step':>6s} {'metric':22s} {'value':>8s}")
    for r in rows:
        step = f"{r.step}{'*' if r.final else ''}" if r.role == "unlearned" else ""
        model = r.model + (f" [{r.variant}]" if r.variant else "")
        print(f"{r.run[:14]:14s} {model[:28]:28s} {(r.forget_split or '')[:9]:9s} {step:>6s} "
              f"{r.metric[:22]:22s} {_fmt(r.value):>8s}")
    print("(* = final model)" if any(r.role == "unlearned" for r in rows) else "", end="")
    return 0


def _compare(rows: list, a: str, b: str, multi_run: bool) -> int:
    from fiubench.errors import FiubenchError
    from fiubench.utils.registry import did_you_mean

    def key(r) -> str:  # noqa: ANN001
        label = r.model + (f" [{r.variant}]" if r.variant else "")
        return f"{r.run}:{label}" if multi_run else label

    finals = [r for r in rows if r.role != "unlearned" or r.final]
    labels = sorted({key(r) for r in finals})
    for x in (a, b):
        if x not in labels:
            raise FiubenchError(f"--compare: no model {x!r}.{did_you_mean(x, labels)} Models: {', '.join(labels)}.")
    vers: dict[str, set[int]] = {}
    for r in finals:
        if key(r) in (a, b):
            vers.setdefault(key(r), set()).add(r.metrics_version or 1)
    va_, vb_ = vers.get(a, set()), vers.get(b, set())
    if len(va_ | vb_) > 1:
        raise FiubenchError(
            f"--compare: {a!r} was evaluated with metrics version {'/'.join(map(str, sorted(va_)))} and {b!r} "
            f"with {'/'.join(map(str, sorted(vb_)))}; results of different metric definitions are not "
            "comparable (rerun `fiubench run`: evaluations of an older version are redone)"
        )
    table: dict[tuple[str | None, str], dict[str, float | None]] = {}
    for r in finals:
        k = key(r)
        if k in (a, b):
            table.setdefault((r.forget_split, r.metric), {})[k] = r.value
    print(f"{'split':9s} {'metric':24s} {a[:14]:>14s} {b[:14]:>14s} {'B - A':>9s}")
    for (split, m), vals in sorted(table.items(), key=lambda kv: (kv[0][0] or "", kv[0][1])):
        va, vb = vals.get(a), vals.get(b)
        diff = "—" if va is None or vb is None else f"{vb - va:+.4f}"
        print(f"{(split or '')[:9]:9s} {m[:24]:24s} {_fmt(va):>14s} {_fmt(vb):>14s} {diff:>9s}")
    return 0
