"""``hybridsearch delete``: delete documents by id, then commit.

An id the index does not hold fails the whole command (exit 1, the unknown ids named) and
nothing is deleted, so a typo never passes for a success.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from hybridsearch.cli.options import add_model_option, commit_and_report, counted, open_index
from hybridsearch.errors import InvalidInputError


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``delete`` and its options to ``subparsers``."""
    parser = subparsers.add_parser(
        "delete",
        help="delete documents from an index by id",
        description="Delete documents by id and commit. If any id is not in the index, "
        "nothing is deleted and the unknown ids are named.",
    )
    parser.add_argument("ids", nargs="*", metavar="ID", help="ids of the documents to delete")
    parser.add_argument("--index", required=True, help="the index directory")
    parser.add_argument("--ids-file", help="a file of ids to delete, one per line")
    add_model_option(parser)
    return parser


def run(args: argparse.Namespace) -> int:
    """Delete the ids given, commit, print the summary (stderr)."""
    ids = list(args.ids)
    if args.ids_file is not None:
        ids.extend(read_ids(Path(args.ids_file)))
    if not ids:
        raise InvalidInputError("no ids to delete: name them, or pass --ids-file FILE")
    with open_index(args.index, args.model) as index:
        start = time.perf_counter()
        deleted = index.delete(ids)
        commit_and_report(index, f"deleted {counted(deleted, 'document')}", start)
    return 0


def read_ids(path: Path) -> list[str]:
    """The ids in a file, one per line; blank lines are skipped, spaces around ids dropped."""
    with open(path, encoding="utf-8") as lines:
        return [line.strip() for line in lines if line.strip()]
