"""The "Stability across data draws" report of ``fiubench run --data-seeds N``.

From ``<out>/stability.json`` (:mod:`fiubench.pipeline.data_seeds`): per forget split,
the share of draws in which each method ranks first on FQ (and MU), Kendall's tau
between the draws' rankings, and per model the headline figures over draws: mean,
between-draw SD, within-draw SE and the interval with the between-draw variance
folded in. Links to each draw's own report.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

from fiubench.report.render import to_csv, to_html, to_markdown
from fiubench.report.table_base import Column, Table
from fiubench.utils.io import atomic_dir, atomic_write_text

SHOWN = ("forget_quality", "model_utility", "forget.exact_match", "forget.ks_d")
TITLE = "Stability across data draws"


def _tau(t: float | None) -> str:
    return "—" if t is None else f"{t:+.2f}"


def ranking_table(metric: str, split: str, r: dict[str, Any], n: int) -> Table:
    t = Table(f"stability_rank_{metric}_{split}", f"Which method ranks first on {metric}? ({split}, {n} draws)",
              [Column("P(ranks first) %", (), scale=100.0, decimals=0)], row_header="method")
    for m in r["models"]:
        t.rows.append((m, [r["p_first"][m]]))
    taus = ", ".join(f"{'/'.join(x['draws'])}: {_tau(x['tau'])}"
                     for x in r["kendall_tau"])
    t.notes.append(f"Kendall tau between the draws' rankings: mean {_tau(r['mean_tau'])} ({taus}). 1: same order in every draw.")
    return t


def figures_table(split: str, figs: list[dict[str, Any]]) -> Table:
    t = Table(f"stability_figures_{split}", f"Figures over data draws ({split}): the draw-to-draw spread vs the intervals",
              [Column("mean", (), scale=100.0), Column("between-draw SD", (), scale=100.0),
               Column("within-draw SE", (), scale=100.0), Column("SD / SE", (), scale=1.0, decimals=2),
               Column("per draw", ())], row_header="model, figure")
    t.ci = []
    for f in sorted(figs, key=lambda f: (f["role"], f["model"], SHOWN.index(f["metric"]))):
        t.rows.append((f"{f['model']}, {f['metric']}", [f["mean"], f["between_sd"], f["within_se"], f["ratio"],
                                                        ", ".join(f"{100 * x:.1f}" for x in f["estimates"])]))
        t.ci.append([(f["low"], f["high"]), None, None, None, None])
    t.notes.append("Mean over draws with its 95 % interval mean ± 1.96 sqrt(max(B, W) / N): B the between-draw "
                   "variance, W the mean squared within-draw SE (each draw's 95 % interval over identities). "
                   "SD / SE > 1: the figures move between draws of people more than one run's interval says.")
    return t


def stability_tables(res: dict[str, Any]) -> list[Table]:
    n = len(res["draws"])
    out = []
    for metric, per in res["ranking"].items():
        out += [ranking_table(metric, split, r, n) for split, r in per.items()]
    splits = sorted({f["forget_split"] for f in res["figures"]})
    for s in splits:
        figs = [f for f in res["figures"] if f["forget_split"] == s and f["metric"] in SHOWN]
        if figs:
            out.append(figures_table(s, figs))
    return out


def write_stability_report(res: dict[str, Any], out: Path) -> Path:
    """``out/index.html`` and ``out/report.md``: the stability section and links to the draws."""
    tables = stability_tables(res)
    links_md = ", ".join(f"[{d}](../{d}/report/index.html)" for d in res["draws"])
    md = [f"# {TITLE}", "", f"{len(res['draws'])} draws of people and splits: {links_md}.", ""]
    md += [f"## {TITLE}", ""] + [to_markdown(t) for t in tables]
    links = ", ".join(f'<a href="../{html.escape(d)}/report/index.html">{html.escape(d)}</a>' for d in res["draws"])
    body = [f"<h1>{TITLE}</h1>", f"<p>{len(res['draws'])} draws of people and splits: {links}.</p>",
            f'<h2 id="stability">{TITLE}</h2>'] + [to_html(t) for t in tables]
    with atomic_dir(out, overwrite=True) as tmp:
        atomic_write_text(tmp / "report.md", "\n".join(md))
        atomic_write_text(tmp / "index.html", '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
                          f"<title>{TITLE}</title></head><body>\n" + "\n".join(body) + "\n</body></html>\n")
        for t in tables:
            atomic_write_text(tmp / "tables" / f"{t.name}.csv", to_csv(t))
    return out / "index.html"
