"""The ``hybridsearch`` command: build, change and search indexes, evaluate on BEIR, run the
demo.

Each command is a module of this package with ``add_parser(subparsers)`` and
``run(args) -> int``; this one assembles the parser and runs the command chosen.

argparse rather than typer: the standard library is enough for a few subcommands, and it
keeps ``hybridsearch --help`` fast (nothing heavy is imported until a command runs).

Errors print one line (``error: ...``) and exit with status 1; ``--verbose`` shows the
traceback too.
"""

from __future__ import annotations

import argparse
import sys
import traceback
from collections.abc import Sequence

from hybridsearch.cli import (
    adapt,
    add,
    build,
    compact,
    delete,
    demo,
    evaluate,
    finetune,
    search,
    serve,
    tune,
)
from hybridsearch.errors import HybridSearchError

#: The commands, in the order ``--help`` lists them.
COMMANDS = (build, add, delete, compact, search, serve, evaluate, tune, adapt, finetune, demo)


def build_parser() -> argparse.ArgumentParser:
    """The parser of the whole command line; each command's ``run`` is its ``run`` default."""
    parser = argparse.ArgumentParser(
        prog="hybridsearch",
        description="Hybrid semantic + BM25 search: build an index, keep it up to date, "
        "search it, evaluate it.",
    )
    parser.add_argument(
        "--verbose", action="store_true", help="show the full traceback when a command fails"
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS:
        command.add_parser(subparsers).set_defaults(run=command.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except (HybridSearchError, OSError) as error:
        if args.verbose:
            traceback.print_exc()
        print(f"error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
