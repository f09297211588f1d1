"""Utility-vs-forget-quality curves from the unlearning checkpoints (PNG, matplotlib Agg)."""

from __future__ import annotations

import io
from collections.abc import Sequence

from fiubench.report.entries import Entry
from fiubench.report.tables import curves


def curve_png(entries: Sequence[Entry], split: str, ratios: Sequence[float] = (0.8, 0.6)) -> bytes | None:
    """One line per unlearning run: x = model utility, y = forget quality, checkpoints as dots.

    The fine-tuned model (start of every line) and the retain model (the target)
    are marked; dotted verticals show the matched-utility budgets. None when no
    run on ``split`` has any (MU, FQ) point.
    """
    import matplotlib

    matplotlib.use("Agg")  # headless; must precede pyplot
    import matplotlib.pyplot as plt

    lines = {
        label: [(m, f) for _, m, f in pts if m is not None and f is not None]
        for label, (_, pts) in curves(entries, split).items()
    }
    lines = {k: v for k, v in lines.items() if v}
    if not lines:
        return None
    fig, ax = plt.subplots(figsize=(6.4, 4.6), dpi=110)
    try:
        for label, pts in sorted(lines.items()):
            xs, ys = zip(*pts, strict=True)
            ax.plot(xs, ys, marker="o", markersize=3.5, linewidth=1.5, label=label)
        ft = next((e for e in entries if e.role == "finetuned" and e.forget_split == split), None)
        rt = next((e for e in entries if e.role == "retain" and e.forget_split == split), None)
        if ft and ft.get("model_utility") is not None and ft.get("forget_quality") is not None:
            mu = ft.get("model_utility")
            ax.scatter([mu], [ft.get("forget_quality")], marker="s", s=60, c="black", zorder=5, label="Fine-tuned")
            for r in ratios:
                ax.axvline(r * mu, linestyle=":", color="grey", linewidth=1)
                ax.text(r * mu, 0.01, f" {r:.0%} of fine-tuned MU", transform=ax.get_xaxis_transform(),
                        fontsize=7, color="grey", va="bottom")
        if rt and rt.get("model_utility") is not None and rt.get("forget_quality") is not None:
            ax.scatter([rt.get("model_utility")], [rt.get("forget_quality")], marker="*", s=160,
                       c="gold", edgecolors="black", zorder=6, label="Retain (target)")
        ax.set_xlabel("model utility (retain side)")
        ax.set_ylabel("forget quality")
        ax.set_title(f"Utility vs forget quality along unlearning, {split}", fontsize=10)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="best")
        fig.tight_layout()
        buf = io.BytesIO()
        fig.savefig(buf, format="png")
        return buf.getvalue()
    finally:
        plt.close(fig)
