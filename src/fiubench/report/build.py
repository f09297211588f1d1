"""Write the whole report of a run: one self-contained HTML page plus Markdown, CSV, LaTeX.

Layout of the report directory (replaced atomically as a whole)::

    index.html              self-contained (CSS inline, plots as base64 <img>)
    report.md               all tables, plots linked from plots/
    tables/<name>.csv       raw values (not x100)
    tables/<name>.tex       booktabs tables (x100 like the paper)
    plots/curves_<split>.png
    provenance.json
"""

from __future__ import annotations

import base64
import html
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from fiubench.errors import FiubenchError
from fiubench.metrics.version import METRICS_VERSION
from fiubench.report.audit import audit_tables, load_audit
from fiubench.report.calibration import calibration_table
from fiubench.report.entries import (
    Entry,
    incomplete,
    judge_backends,
    load_entries,
    metric_definitions,
    plan_label,
)
from fiubench.report.plots import curve_png
from fiubench.report.render import to_csv, to_html, to_latex, to_markdown
from fiubench.report.robustness import robustness_tables
from fiubench.report.selection import load_selection, selection_table
from fiubench.report.sequential import sequential_png, sequential_table
from fiubench.report.stage1 import stage1_section
from fiubench.report.store import ComparisonRow, IntervalRow, ResultsStore
from fiubench.report.tables import (
    Table,
    comparisons_table,
    detail_table,
    forget_splits,
    learning_table,
    main_table,
    mark_incomplete,
    matched_table,
    mia_table,
    visual_table,
)
from fiubench.report.uncertainty import IntervalIndex, all_comparisons_csv
from fiubench.utils.io import atomic_dir, atomic_write_bytes, atomic_write_json, atomic_write_text
from fiubench.utils.provenance import provenance

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2em auto;max-width:1250px;color:#222;padding:0 1em}
h1{font-size:1.6em}h2{border-bottom:2px solid #ddd;padding-bottom:.2em;margin-top:1.6em}
table.results{border-collapse:collapse;margin:1em 0;font-size:.9em}
table.results caption{text-align:left;font-weight:600;padding:.3em 0}
table.results th,table.results td{border:1px solid #ccc;padding:.25em .6em}
table.results thead th{background:#f2f4f7}th.group{text-align:center}
td.num{text-align:right;font-variant-numeric:tabular-nums}
tbody tr:nth-child(even){background:#fafafa}
p.note{color:#555;font-size:.85em;max-width:70em}
img.plot{max-width:100%;border:1px solid #ddd}
.meta{color:#666;font-size:.85em}
.warning{color:#a40000;font-weight:600}
"""


class Report:
    """The assembled tables and plots of one run, ready to render."""

    def __init__(
        self, entries: Sequence[Entry], methods: Sequence[str] | None = None, title: str = "FIUBench report",
        selection: list[dict[str, Any]] | None = None,
        plan: Sequence[dict] = (),
        intervals: Sequence[IntervalRow] = (), comparisons: Sequence[ComparisonRow] = (),
        config: Any = None,
        audit: dict[str, Any] | None = None,
    ) -> None:
        if not entries:
            raise FiubenchError("nothing to report: the results database holds no evaluations")
        self.entries = list(entries)
        self.title = title
        self.splits = forget_splits(self.entries)
        self.incomplete = incomplete(self.entries, plan)
        self.splits += [s for s in dict.fromkeys(p["forget_split"] for p, _, _ in self.incomplete)
                        if s and s not in self.splits]
        self.learning: Table = learning_table(self.entries)
        self.selection: Table | None = selection_table(selection) if selection else None
        self.calibration: Table = calibration_table(self.entries)
        index = IntervalIndex(intervals)
        self.main: dict[str, Table] = {s: main_table(self.entries, s, methods, index) for s in self.splits}
        self.comparisons: dict[str, Table] = {}
        for s in self.splits:
            ct = comparisons_table(comparisons, self.entries, s)
            if ct is not None:
                self.comparisons[s] = ct
        self.visual: Table | None = visual_table(self.entries, index, methods)
        # informative FQ terms and the fraction stage 1 learnt, next to every FQ figure
        self.stage1: dict[str, list[Table]] = {}
        for s in self.splits:
            self.stage1[s] = stage1_section(self.entries, comparisons, s, config, methods, self.main[s])
        # sequential deletion requests (unlearn.requests > 1): table and plot per split
        self.sequential = {s: t for s in self.splits if (t := sequential_table(self.entries, s)) is not None}
        self.sequential_plots = {s: p for s in self.sequential if (p := sequential_png(self.entries, s))}
        self.matched: dict[str, Table] = {s: matched_table(self.entries, s)[0] for s in self.splits}
        self.mia: dict[str, Table] = {s: mia_table(self.entries, s, methods) for s in self.splits}
        self.detail: dict[str, Table] = {s: detail_table(self.entries, s, methods) for s in self.splits}
        # robustness, utility under attack, hidden-state probes (those with data)
        self.robustness: dict[str, list[Table]] = {s: robustness_tables(self.entries, s, methods)
                                                   for s in self.splits}
        multi = len({e.run for e in self.entries}) > 1
        for s in self.splits:
            mark_incomplete(self.main[s], [(plan_label(p, multi), n) for p, _, n in self.incomplete
                                           if p["forget_split"] == s and p["role"] != "base"])
        base_missing = [(plan_label(p, multi), n) for p, _, n in self.incomplete if p["role"] == "base"]
        mark_incomplete(self.learning, list(dict.fromkeys(base_missing)))
        self.audit: list[Table] = audit_tables(audit)  # `fiubench audit` (RUN_DIR/audit.json)
        self.plots: dict[str, bytes] = {}
        for s in self.splits:
            png = curve_png(self.entries, s)
            if png is not None:
                self.plots[s] = png

    def tables(self) -> list[Table]:
        out = [self.learning, self.calibration] + ([self.selection] if self.selection is not None else [])
        if self.visual is not None:
            out.append(self.visual)
        for s in self.splits:
            out += [self.main[s], *self.stage1[s], self.matched[s], self.mia[s]]
            out += [self.sequential[s]] if s in self.sequential else []
            out += self.robustness[s]
            if s in self.comparisons:
                out.append(self.comparisons[s])
        out += [self.detail[s] for s in self.splits]
        return out + self.audit

    def definitions_lines(self) -> list[str]:
        """How the numbers are defined; a loud warning when the entries mix versions."""
        versions, defs = metric_definitions(self.entries)
        tr = {"geometric": "geometric mean of the perturbed probabilities (TOFU/FIUBench code)",
              "arithmetic": "arithmetic mean of the perturbed probabilities"}
        mia = {"two_sided": "1 - 2|AUC - 0.5| (two-sided)", "one_sided": "1 - AUC (one-sided, paper)"}
        lines = [
            f"Metrics version {', '.join(map(str, versions))} (this fiubench: {METRICS_VERSION}). "
            f"Truth ratio: {'; '.join(tr.get(d, d) for d in defs.get('truth_ratio', ['not recorded']))}. "
            f"MIA term of FQ: {'; '.join(mia.get(d, d) for d in defs.get('mia_term', ['not recorded']))}. "
            f"KS term of FQ: {'; '.join(defs.get('ks_term', ['not recorded']))}. "
            f"Exact match: {'; '.join(defs.get('exact_match', ['not recorded']))}."
        ]
        if len(versions) > 1 or any(len(v) > 1 for k, v in defs.items() if k in ("truth_ratio", "mia_term")):
            lines.append(
                "WARNING: these results mix metric definitions (versions "
                f"{', '.join(map(str, versions))}); numbers across them are not comparable. Rerun the "
                "older evaluations (`fiubench run` redoes evaluations of an older metrics version)."
            )
        return lines

    def markdown(self) -> str:
        parts = [f"# {self.title}", "", self._meta_line(), ""]
        for line in self.definitions_lines():
            parts += [f"**{line}**" if line.startswith("WARNING") else line, ""]
        parts += ["## Learning stage", "", to_markdown(self.learning)]
        if self.selection is not None:
            parts += ["## Hyperparameter selection", "", to_markdown(self.selection)]
        parts += ["## Calibration of the instrument", "", to_markdown(self.calibration)]
        if self.visual is not None:
            parts += ["## Can the models still see?", "", to_markdown(self.visual)]
        for s in self.splits:
            parts += [f"## Forget split {s}", "", to_markdown(self.main[s])]
            parts += [to_markdown(t) for t in self.stage1[s]] + [to_markdown(self.matched[s])]
            if s in self.sequential:
                parts.append(to_markdown(self.sequential[s]))
            if s in self.sequential_plots:
                parts += [f"![sequential deletion requests, {s}](plots/sequential_{s}.png)", ""]
            parts += [to_markdown(t) for t in self.robustness[s]]
            if s in self.comparisons:
                parts.append(to_markdown(self.comparisons[s]))
            if s in self.plots:
                parts += [f"![utility vs forget quality, {s}](plots/curves_{s}.png)", ""]
            parts += [to_markdown(self.mia[s])]
        parts += ["## Per-metric detail", ""]
        parts += [to_markdown(self.detail[s]) for s in self.splits]
        if self.audit:
            parts += ["## Statistical audit", ""] + [to_markdown(t) for t in self.audit]
        return "\n".join(parts)

    def html(self) -> str:
        esc = html.escape
        body = [f"<h1>{esc(self.title)}</h1>", f'<p class="meta">{esc(self._meta_line())}</p>']
        for line in self.definitions_lines():
            cls = "warning" if line.startswith("WARNING") else "meta"
            body.append(f'<p class="{cls}" id="definitions">{esc(line)}</p>')
        body += ["<h2>Learning stage</h2>", to_html(self.learning)]
        if self.selection is not None:
            body += ['<h2 id="selection">Hyperparameter selection</h2>', to_html(self.selection)]
        body += ['<h2 id="calibration">Calibration of the instrument</h2>', to_html(self.calibration)]
        if self.visual is not None:
            body += ["<h2>Can the models still see?</h2>", to_html(self.visual)]
        for s in self.splits:
            body += [f'<h2 id="split-{esc(s)}">Forget split {esc(s)}</h2>', to_html(self.main[s])]
            body += [to_html(t) for t in self.stage1[s]]
            if s in self.sequential:
                body.append(to_html(self.sequential[s]))
            if s in self.sequential_plots:
                b64 = base64.b64encode(self.sequential_plots[s]).decode("ascii")
                body.append(f'<figure><img class="plot" id="sequential_{esc(s)}" alt="sequential deletion requests, '
                            f'{esc(s)}" src="data:image/png;base64,{b64}"><figcaption class="note">Forget quality on '
                            "the people removed so far and model utility after each request; dashed: the single "
                            "batch.</figcaption></figure>")
            if s in self.plots:
                b64 = base64.b64encode(self.plots[s]).decode("ascii")
                body.append(
                    f'<figure><img class="plot" id="curves_{esc(s)}" alt="utility vs forget quality, {esc(s)}" '
                    f'src="data:image/png;base64,{b64}"><figcaption class="note">One line per method: '
                    "checkpoints in step order from the fine-tuned model (square); the star is the retain "
                    "model.</figcaption></figure>"
                )
            body.append(to_html(self.matched[s]))
            body += [to_html(t) for t in self.robustness[s]]
            body.append(to_html(self.mia[s]))
            if s in self.comparisons:
                body.append(to_html(self.comparisons[s]))
        body.append("<h2>Per-metric detail</h2>")
        body += [to_html(self.detail[s]) for s in self.splits]
        if self.audit:
            body += ['<h2 id="audit">Statistical audit</h2>'] + [to_html(t) for t in self.audit]
        return (
            '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f"<title>{esc(self.title)}</title><style>{_CSS}</style></head><body>\n"
            + "\n".join(body)
            + "\n</body></html>\n"
        )

    def _meta_line(self) -> str:
        judges = judge_backends(self.entries)
        runs = sorted({e.run for e in self.entries})
        parts = [f"Run(s): {', '.join(runs)}.", f"Judge backend: {'; '.join(judges) or 'none'}."]
        malformed = self.judge_malformed()
        if malformed:
            parts.append(malformed)
        if self.incomplete:
            parts.append(f"INCOMPLETE: {len(self.incomplete)} planned model(s) have not finished "
                         "(marked in the tables); `fiubench run` resumes the run.")
        parts.append(f"Generated {datetime.now(timezone.utc).isoformat(timespec='seconds')}.")
        return " ".join(parts)

    def judge_malformed(self) -> str:
        """"N of M judge replies malformed (GA: n of m, ...)", or "" when none was."""
        total = replies = 0
        per: dict[str, list[int]] = {}
        for e in self.entries:
            bad, n = e.get("judge.malformed"), e.get("judge.replies")
            if bad is None or n is None:
                continue
            total += int(bad)
            replies += int(n)
            acc = per.setdefault(e.label, [0, 0])
            acc[0] += int(bad)
            acc[1] += int(n)
        if not total:
            return ""
        detail = ", ".join(f"{k}: {b} of {n}" for k, (b, n) in per.items() if b)
        return (f"{total} of {replies} judge replies malformed ({detail}); malformed replies are excluded "
                "from judge means, never scored 0.")


def write_report(
    db: str | Path,
    out: str | Path,
    *,
    run: str | None = None,
    methods: Sequence[str] | None = None,
    title: str = "FIUBench report",
    config: Any = None,
) -> Path:
    """Build the report from ``db`` (results.sqlite) into directory ``out``; returns ``out/index.html``."""
    with ResultsStore(db, create=False) as store:
        entries = load_entries(store, run)
        plan = store.plan(run)
        intervals, comparisons = store.intervals(run), store.comparisons(run)
    rep = Report(entries, methods, title, selection=load_selection(Path(db).parent), plan=plan, intervals=intervals,
                 comparisons=comparisons, config=config, audit=load_audit(Path(db).parent))
    out = Path(out)
    with atomic_dir(out, overwrite=True) as tmp:
        atomic_write_text(tmp / "index.html", rep.html())
        atomic_write_text(tmp / "report.md", rep.markdown())
        for t in rep.tables():
            atomic_write_text(tmp / "tables" / f"{t.name}.csv", to_csv(t))
            atomic_write_text(tmp / "tables" / f"{t.name}.tex", to_latex(t))
        for s in rep.splits:  # every pair of models with its verdict, raw and adjusted p (not rendered)
            text = all_comparisons_csv(comparisons, s)
            if text is not None:
                atomic_write_text(tmp / "tables" / f"comparisons_all_{s}.csv", text)
        for s, png in rep.plots.items():
            atomic_write_bytes(tmp / "plots" / f"curves_{s}.png", png)
        for s, png in rep.sequential_plots.items():
            atomic_write_bytes(tmp / "plots" / f"sequential_{s}.png", png)
        atomic_write_json(
            tmp / "provenance.json",
            provenance({"db": str(db), "run": run, "methods": list(methods or []), "run_config": config}),
        )  # provenance() redacts secrets (a run config may hold judge.api_key)
        atomic_write_json(
            tmp / "status.json",
            {"complete": not rep.incomplete,
             "incomplete": [{**p, "checkpoints_evaluated": n} for p, _, n in rep.incomplete]},
        )
    return out / "index.html"
