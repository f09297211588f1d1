"""``fiubench methods``: list the unlearning methods, their options and defaults."""

from __future__ import annotations

import argparse

HELP = "list the unlearning methods and their options"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("name", nargs="?", default=None, help="show one method in full")
    p.add_argument("--json", action="store_true", help="machine-readable output")


def describe() -> list[dict[str, object]]:
    import sys

    from fiubench.methods import METHODS

    rows = []
    for name, cls in METHODS.items():
        doc = (sys.modules[cls.__module__].__doc__ or "").strip()
        rows.append({
            "name": name,
            "summary": doc.splitlines()[0] if doc else "",
            "doc": doc,
            "needs_reference": cls.needs_reference,
            "needs_refusal": cls.needs_refusal,
            "default_loss_threshold": cls.default_loss_threshold,
            "options": [{"name": n, "type": t, "default": d} for n, t, d in cls.option_table()],
        })
    return rows


def run(args: argparse.Namespace) -> int:
    import json

    from fiubench.methods import METHODS

    rows = describe()
    if args.name is not None:
        METHODS.get(args.name.lower())  # did-you-mean on unknown names
        rows = [r for r in rows if r["name"] == args.name.lower()]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    for r in rows:
        flags = [f for f, on in (("reference model", r["needs_reference"]), ("refusals", r["needs_refusal"])) if on]
        print(f"{r['name']:8s} {r['summary']}" + (f"  [uses: {', '.join(flags)}]" if flags else ""))
        if r["default_loss_threshold"] is not None:
            print(f"{'':8s}   early stop: loss < {r['default_loss_threshold']}")
        for o in r["options"]:  # type: ignore[union-attr]
            print(f"{'':8s}   --method-opt {o['name']}={o['default']}  ({o['type']})")
        if args.name is not None:
            print()
            print(r["doc"])
    return 0
