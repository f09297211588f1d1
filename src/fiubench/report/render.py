"""Renderers for :class:`~fiubench.report.tables.Table`: Markdown, CSV, LaTeX, HTML."""

from __future__ import annotations

import csv
import html
import io
from collections.abc import Sequence

from fiubench.report.tables import Column, Table


def _groups(cols: Sequence[Column]) -> list[tuple[str, int]]:
    """Consecutive runs of columns with the same group: (group, span)."""
    out: list[tuple[str, int]] = []
    for c in cols:
        if out and out[-1][0] == c.group:
            out[-1] = (c.group, out[-1][1] + 1)
        else:
            out.append((c.group, 1))
    return out


def _arrow(c: Column) -> str:
    return "" if c.higher_is_better is None else (" ↑" if c.higher_is_better else " ↓")


def flat_headers(t: Table) -> list[str]:
    """Column headers, prefixed with their group where headers repeat (flat formats)."""
    names = [c.header for c in t.columns]
    if len(set(names)) == len(names):
        return names
    return [f"{c.group} {c.header}" if c.group else c.header for c in t.columns]


def to_markdown(t: Table) -> str:
    head = [t.row_header] + [h + _arrow(c) for h, c in zip(flat_headers(t), t.columns, strict=True)]
    lines = [f"### {t.title}", "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for i, (label, _cells) in enumerate(t.rows):
        texts = t.cell_texts(i)
        lines.append("| " + " | ".join([label.replace("|", "\\|"), *texts]) + " |")
    for n in t.notes:
        lines += ["", f"_{n}_"]
    return "\n".join(lines) + "\n"


def to_csv(t: Table) -> str:
    """Raw (unscaled) values so that the CSV is exact; headers name the column."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    heads = flat_headers(t)
    if t.ci is not None:  # raw values, then each interval's bounds as two more columns
        heads = heads + [f"{h} {b}" for h in heads for b in ("low", "high")]
    w.writerow([t.row_header, *heads])
    for i, (label, cells) in enumerate(t.rows):
        extra: list[object] = []
        if t.ci is not None:
            row_ci = t.ci[i] if i < len(t.ci) else [None] * len(cells)
            for iv in row_ci:
                extra += ["", ""] if iv is None else [iv[0], iv[1]]
        w.writerow([label] + ["" if v is None else v for v in cells] + extra)
    return buf.getvalue()


_LATEX_ESCAPE = {
    "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{", "}": r"\}",
    "~": r"\textasciitilde{}", "^": r"\textasciicircum{}", "\\": r"\textbackslash{}",
    "↑": r"$\uparrow$", "↓": r"$\downarrow$", "—": "--", ">=": r"$\geq$",
    "≤": r"$\leq$",
}


def latex_escape(s: str) -> str:
    out = s.replace(">=", "\x00")
    out = "".join(_LATEX_ESCAPE.get(ch, ch) for ch in out)
    return out.replace("\x00", r"$\geq$")


def to_latex(t: Table) -> str:
    """A booktabs ``table`` with group headers (needs ``\\usepackage{booktabs}``)."""
    n = len(t.columns)
    groups = _groups(t.columns)
    lines = [
        r"\begin{table}[t]", r"\centering", r"\small",
        rf"\caption{{{latex_escape(t.title)}}}",
        r"\begin{tabular}{l" + "r" * n + "}", r"\toprule",
    ]
    if any(g for g, _ in groups):
        cells, rules, col = [""], [], 2
        for g, span in groups:
            cells.append(rf"\multicolumn{{{span}}}{{c}}{{{latex_escape(g)}}}" if span > 1 else latex_escape(g))
            if g:
                rules.append(rf"\cmidrule(lr){{{col}-{col + span - 1}}}")
            col += span
        lines += [" & ".join(cells) + r" \\", " ".join(rules)]
    lines.append(" & ".join([latex_escape(t.row_header)] + [latex_escape(c.header + _arrow(c)) for c in t.columns]) + r" \\")
    lines.append(r"\midrule")
    for i, (label, _cells) in enumerate(t.rows):
        texts = [latex_escape(x) for x in t.cell_texts(i)]
        lines.append(" & ".join([latex_escape(label), *texts]) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}"]
    if t.notes:
        lines.append(r"\par\smallskip\footnotesize " + latex_escape(" ".join(t.notes)))
    lines += [r"\end{table}", ""]
    return "\n".join(lines)


def to_html(t: Table) -> str:
    esc = html.escape
    parts = [f'<table class="results" id="{esc(t.name)}">', f"<caption>{esc(t.title)}</caption>", "<thead>"]
    groups = _groups(t.columns)
    if any(g for g, _ in groups):
        parts.append("<tr><th></th>" + "".join(
            f'<th colspan="{span}" class="group">{esc(g)}</th>' for g, span in groups
        ) + "</tr>")
    parts.append("<tr><th>" + esc(t.row_header) + "</th>" + "".join(
        f"<th>{esc(c.header + _arrow(c))}</th>" for c in t.columns
    ) + "</tr></thead><tbody>")
    for i, (label, _cells) in enumerate(t.rows):
        tds = "".join(f'<td class="num">{esc(x)}</td>' for x in t.cell_texts(i))
        parts.append(f"<tr><th scope=\"row\">{esc(label)}</th>{tds}</tr>")
    parts.append("</tbody></table>")
    for n in t.notes:
        parts.append(f'<p class="note">{esc(n)}</p>')
    return "\n".join(parts)
