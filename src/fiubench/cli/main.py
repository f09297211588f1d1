"""`fiubench` entry point.

Each subcommand is a module in ``fiubench.cli`` exposing::

    HELP: str                                   # one line for `fiubench --help`
    def add_arguments(parser: argparse.ArgumentParser) -> None
    def run(args: argparse.Namespace) -> int    # exit status

Modules are imported only when their command runs, so `fiubench --help` stays fast
(torch and transformers take seconds to import).
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import os
import sys
from collections.abc import Sequence

from fiubench import __version__
from fiubench.errors import FiubenchError
from fiubench.utils.registry import did_you_mean

# command name -> (module, one-line help). Help is duplicated here so that --help
# does not import every module.
COMMANDS: dict[str, tuple[str, str]] = {
    "data": ("fiubench.cli.data", "build, download, validate and describe a FIUBench dataset"),
    "models": ("fiubench.cli.models", "list the supported VLM families"),
    "base": ("fiubench.cli.base", "build the embedded tiny base VLM"),
    "learn": ("fiubench.cli.learn", "stage 1: fine-tune a VLM on the identities (full or retain)"),
    "unlearn": ("fiubench.cli.unlearn", "stage 2: run an unlearning method on a forget split"),
    "methods": ("fiubench.cli.methods", "list the unlearning methods and their options"),
    "eval": ("fiubench.cli.eval", "evaluate a model: forget quality and model utility"),
    "attack": ("fiubench.cli.attack", "attack a model: does it still leak the forget identities?"),
    "run": ("fiubench.cli.run", "the whole benchmark in one command, with a report"),
    "sweep": ("fiubench.cli.sweep", "tune each method on validation identities, then run the chosen settings"),
    "config": ("fiubench.cli.config", "show or validate a run configuration"),
    "results": ("fiubench.cli.results", "list, filter, compare and export stored results"),
    "report": ("fiubench.cli.report", "write the report (HTML, Markdown, CSV, LaTeX)"),
}


def _available() -> dict[str, tuple[str, str]]:
    found = {}
    for name, (module, help_) in COMMANDS.items():
        if importlib.util.find_spec(module) is not None:
            found[name] = (module, help_)
    return found


def build_parser(commands: dict[str, tuple[str, str]], only: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fiubench",
        description="FIUBench: can a vision-language model really forget a person?",
    )
    parser.add_argument("--version", action="version", version=f"fiubench {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module, help_) in commands.items():
        p = sub.add_parser(name, help=help_, description=help_)
        if name == only:
            importlib.import_module(module).add_arguments(p)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    commands = _available()
    cmd = next((a for a in argv if not a.startswith("-")), None)
    if cmd is not None and cmd not in commands:
        print(
            f"fiubench: error: unknown command {cmd!r}.{did_you_mean(cmd, list(commands))} "
            f"Commands: {', '.join(commands)}.",
            file=sys.stderr,
        )
        return 2
    parser = build_parser(commands, only=cmd)
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    module = importlib.import_module(commands[args.command][0])
    try:
        return int(module.run(args) or 0)
    except FiubenchError as e:
        print(f"fiubench {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("fiubench: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # `fiubench results | head`: the reader went away; not an error of ours. Point
        # stdout at devnull so the interpreter's final flush does not raise again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
