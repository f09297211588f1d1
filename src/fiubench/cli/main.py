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
    "plan": ("fiubench.cli.plan", "estimate a run's steps, GPUs, GPU-hours and checkpoint storage before running it"),
    "sweep": ("fiubench.cli.sweep", "tune each method on validation identities, then run the chosen settings"),
    "config": ("fiubench.cli.config", "show or validate a run configuration"),
    "results": ("fiubench.cli.results", "list, filter, compare and export stored results"),
    "report": ("fiubench.cli.report", "write the report (HTML, Markdown, CSV, LaTeX)"),
    "audit": ("fiubench.cli.audit", "statistical audit of a run: interval coverage, false verdicts, calibration, power"),
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
    from fiubench.utils.secrets import scrub

    try:
        return int(module.run(args) or 0)
    except FiubenchError as e:
        print(scrub(f"fiubench {args.command}: error: {e}"), file=sys.stderr)
        return 2
    except BrokenPipeError:
        # `fiubench results | head`: the reader went away; not an error of ours. Point
        # stdout at devnull so the interpreter's final flush does not raise again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Exception as e:  # noqa: BLE001 - disk full is the user's to fix; a bug keeps its traceback
        full = disk_full(e)
        if full is not None:
            print(scrub(f"fiubench {args.command}: error: no space left on device{full}. Nothing was "
                        "half-written: free some space and rerun the same command (finished steps are "
                        "kept and a killed step resumes)."), file=sys.stderr)
            return 2
        import traceback

        # Secrets echoed by a library (an HTTP 401 body) never reach the terminal or a log.
        print(scrub("".join(traceback.format_exception(e))), file=sys.stderr, end="")
        return 1
    except KeyboardInterrupt:
        print("fiubench: interrupted", file=sys.stderr)
        return 130


def disk_full(e: BaseException) -> str | None:
    """" while writing PATH" when ``e`` (or what caused it) is a full disk or quota; else None."""
    import errno

    seen: set[int] = set()
    cur: BaseException | None = e
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        if isinstance(cur, OSError) and cur.errno in (errno.ENOSPC, errno.EDQUOT):
            return f" while writing {cur.filename}" if cur.filename else ""
        text = str(cur)
        if "No space left on device" in text or "disk is full" in text or "StorageFull" in text:
            return ""
        cur = cur.__cause__ or cur.__context__
    return None


if __name__ == "__main__":
    sys.exit(main())
