"""`fiubench models`: list the supported VLM families."""

from __future__ import annotations

import argparse
import json

HELP = "list the supported VLM families"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="machine-readable output")


def run(args: argparse.Namespace) -> int:
    from fiubench.models.families import list_families

    fams = list_families()
    if args.json:
        print(json.dumps([
            {"family": f.name, "default_checkpoint": f.default_checkpoint, "class": f.model_class,
             "end_of_turn": f.end_of_turn, "description": f.description}
            for f in fams
        ], indent=2))
        return 0
    rows = [("family", "default checkpoint", "transformers class", "end of turn")]
    rows += [(f.name, f.default_checkpoint, f.model_class, f.end_of_turn) for f in fams]
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())
    print("\nUse: model.name_or_path = a checkpoint dir or Hub id; model.family is detected from "
          "config.json (set it to override). 'tiny' is the embedded base shipped with fiubench.")
    return 0
