"""``fiubench methods``: list the unlearning methods (built-in and plugins), what each does,
its paper, its options and whether its defaults follow its reference (the method card,
:mod:`fiubench.methods.card`)."""

from __future__ import annotations

import argparse
import sys

HELP = "list the unlearning methods and their options"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("name", nargs="?", default=None, help="show one method in full")
    p.add_argument("--json", action="store_true", help="machine-readable output")


def describe() -> list[dict[str, object]]:
    from fiubench.methods import METHODS
    from fiubench.methods.card import card
    from fiubench.methods.plugins import source_of

    rows = []
    for name, cls in sorted(METHODS.items(), key=lambda kv: (source_of(kv[0]) != "built-in", kv[0])):
        doc = (sys.modules[cls.__module__].__doc__ or cls.__doc__ or "").strip()
        row = card(name, cls)
        row.update({
            "description": cls.description or (doc.splitlines()[0] if doc else ""),
            "source": source_of(name),
            "summary": doc.splitlines()[0] if doc else "",
            "doc": doc,
            "needs_reference": cls.needs_reference,
            "needs_refusal": cls.needs_refusal,
            "default_loss_threshold": cls.default_loss_threshold,
        })
        rows.append(row)
    return rows


def run(args: argparse.Namespace) -> int:
    import json

    from fiubench.errors import FiubenchError
    from fiubench.methods import BROKEN, METHODS
    from fiubench.methods.card import render

    rows = describe()
    if args.name is not None:
        name = args.name.lower()
        if name in BROKEN and name not in METHODS:
            raise FiubenchError(BROKEN[name])
        METHODS.get(name)  # did-you-mean on unknown names
        rows = [r for r in rows if r["name"] == name]
    else:
        for msg in BROKEN.values():  # reported, never fatal: the other methods still work
            print(f"fiubench methods: error: {msg}", file=sys.stderr)
    if args.json:
        print(json.dumps(rows, indent=2, default=str))
        return 0
    for r in rows:
        flags = [f for f, on in (("reference model", r["needs_reference"]), ("refusals", r["needs_refusal"])) if on]
        src = "" if r["source"] == "built-in" else f"  [plugin: {r['source']}]"
        print(f"{r['name']:12s} {r['description']}" + (f"  [uses: {', '.join(flags)}]" if flags else "") + src)
        if r["paper"]:
            print(f"{'':12s}   paper: {r['paper']}")
        if r["default_loss_threshold"] is not None:
            print(f"{'':12s}   early stop: loss < {r['default_loss_threshold']}")
        if args.name is not None:
            print("\n".join(f"{'':12s}   {line}" for line in render(r)))
            print()
            print(r["doc"])
            continue
        print(f"{'':12s}   defaults: {r['fidelity']}; trains: {r['updates']}")
        for o in r["options"]:  # type: ignore[union-attr]
            print(f"{'':12s}   --method-opt {o['name']}={o['default']}  ({o['type']})")
    return 0
