"""The report's sequential-requests section (``unlearn.requests: R``; ``pipeline.sequential``).

Per forget split and method: forget quality and utility after each of the R requests, the
single-batch run on the same people as the reference, and the *sequential penalty*
(single-batch - after-R, person-level interval; positive = sequential requests forgot worse
or kept less utility). One plot: FQ on the people removed so far, and MU, against the number
of requests, with the single-batch values as dashed reference lines.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

from fiubench.report.entries import METHOD_NAMES, Entry
from fiubench.report.table_base import Column, Table, finals

VARIANT = "requests"


def request_variant(i: int, n: int, base: str = "") -> str:
    """The variant label of request ``i`` of ``n`` (after the sweep variant ``base``)."""
    return ",".join(p for p in (base, f"{VARIANT}={i}of{n}") if p)


def parse_variant(variant: str) -> tuple[int, int, str] | None:
    """(i, R, the rest of the variant) of a ``requests=<i>of<R>`` variant, None for any other."""
    rest, found = [], None
    for part in variant.split(","):
        key, _, val = part.partition("=")
        if key == VARIANT and "of" in val:
            i, n = val.split("of", 1)
            found = (int(i), int(n))
        elif part:
            rest.append(part)
    return None if found is None else (*found, ",".join(rest))


def chains(entries: Sequence[Entry], split: str) -> dict[tuple[str, str], tuple[Entry | None, list[Entry]]]:
    """(method, base variant) -> (single-batch final entry, request entries by request)."""
    out: dict[tuple[str, str], tuple[Entry | None, list[Entry]]] = {}
    fin = [e for e in finals(entries) if e.role == "unlearned" and e.forget_split == split]
    for e in fin:
        parsed = parse_variant(e.variant)
        if parsed is not None:
            key = (e.method or "?", parsed[2])
            single = next((s for s in fin if s.method == e.method and s.variant == parsed[2]), None)
            out.setdefault(key, (single, []))[1].append(e)
    return {k: (s, sorted(rs, key=lambda e: parse_variant(e.variant)[0])) for k, (s, rs) in out.items()}  # type: ignore[index]


def _name(method: str, base: str) -> str:
    name = METHOD_NAMES.get(method, method.upper())
    return f"{name} [{base}]" if base else name


def _penalty(e: Entry, which: str) -> str | None:
    est = e.get(f"seq.penalty_{which}")
    if est is None:
        return None
    lo, hi = e.get(f"seq.penalty_{which}_low"), e.get(f"seq.penalty_{which}_high")
    iv = "" if lo is None or hi is None else f" [{lo * 100:+.1f}, {hi * 100:+.1f}]"
    return f"{est * 100:+.1f}{iv}"


def sequential_table(entries: Sequence[Entry], split: str) -> Table | None:
    ch = chains(entries, split)
    if not ch:
        return None
    n = max(len(rs) for _, rs in ch.values())
    cols = [Column("requests done", scale=1.0, decimals=0),
            Column("FQ, people removed so far", higher_is_better=True),
            Column("FQ, whole split", higher_is_better=True), Column("MU", higher_is_better=True),
            *[Column(f"FQ, request {j} people", higher_is_better=True) for j in range(1, n + 1)],
            Column("sequential penalty FQ (single - after R)"), Column("sequential penalty MU")]
    t = Table(f"sequential_{split}", f"Sequential deletion requests, {split}", cols, row_header="method")
    for (method, base), (single, reqs) in ch.items():
        if single is not None:
            t.rows.append((f"{_name(method, base)}, single batch", [
                None, single.get("forget_quality"), single.get("forget_quality"), single.get("model_utility"),
                *[None] * n, None, None]))
        for e in reqs:
            i = int(e.get("seq.request") or parse_variant(e.variant)[0])  # type: ignore[index]
            last = i == len(reqs)
            t.rows.append((f"{_name(method, base)}, after request {i}", [
                float(i), e.get("seq.removed.forget_quality"), e.get("forget_quality"), e.get("model_utility"),
                *[e.get(f"seq.req{j}.forget_quality") if j <= i else None for j in range(1, n + 1)],
                _penalty(e, "fq") if last else None, _penalty(e, "mu") if last else None]))
    t.notes.append(
        "Each request removes disjoint people, unlearned from the previous request's model with the method's "
        "own budget. 'FQ, request j people': whether forgetting of an earlier request holds or is undone. "
        "Penalty = single batch - after the last request, x100, person-level 95 % interval (positive: the "
        "sequential requests did worse)."
    )
    return t


def sequential_png(entries: Sequence[Entry], split: str) -> bytes | None:
    """FQ (people removed so far) and MU against requests done; single batch dashed."""
    ch = chains(entries, split)
    if not ch:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(9.6, 4.0), dpi=110)
    try:
        for k, ((method, base), (single, reqs)) in enumerate(sorted(ch.items())):
            color = f"C{k % 10}"
            xs = [int(e.get("seq.request") or 0) for e in reqs]
            for ax, metric, own in ((axes[0], "seq.removed.forget_quality", "forget_quality"),
                                    (axes[1], "model_utility", "model_utility")):
                ys = [e.get(metric) for e in reqs]
                pts = [(x, y) for x, y in zip(xs, ys, strict=True) if y is not None]
                if pts:
                    ax.plot(*zip(*pts, strict=True), marker="o", color=color, label=_name(method, base))
                if single is not None and single.get(own) is not None:
                    ax.axhline(single.get(own), color=color, linestyle="--", linewidth=1)
        from matplotlib.ticker import MaxNLocator

        for ax, label in ((axes[0], "forget quality (people removed so far)"), (axes[1], "model utility")):
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            ax.set_xlabel("deletion requests done")
            ax.set_ylabel(label)
            ax.grid(alpha=0.3)
        axes[0].legend(fontsize=7, title="dashed: single batch", title_fontsize=7)
        fig.suptitle(f"Sequential deletion requests, {split}", fontsize=10)
        fig.tight_layout()
        buf = io.BytesIO()
        fig.savefig(buf, format="png")
        return buf.getvalue()
    finally:
        plt.close(fig)
