"""``hybridsearch demo``: search Python's own reference topics (``pydoc_data``, shipped with
Python). The index is built into ``indexes/python-docs`` on the first run and reused after."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from hybridsearch.cli.options import MODES
from hybridsearch.display.terminal import format_hits, use_color
from hybridsearch.display.width import printable

DEMO_INDEX = Path("indexes") / "python-docs"
DEMO_QUERIES = (
    "how do I catch several exceptions in one except clause",
    "difference between a list and a tuple",
    "what does the yield keyword do",
)


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``demo`` and its options to ``subparsers``."""
    parser = subparsers.add_parser(
        "demo",
        help="search Python's own reference topics (built once into indexes/python-docs)",
    )
    parser.add_argument("query", nargs="?", help="a query (default: a few examples)")
    parser.add_argument("--index", default=str(DEMO_INDEX), help=f"default {DEMO_INDEX}")
    parser.add_argument("-k", type=int, default=5, help="results per query (default 5)")
    parser.add_argument("--mode", default="hybrid", choices=MODES)
    parser.add_argument("--rebuild", action="store_true", help="rebuild the demo index")
    return parser


def run(args: argparse.Namespace) -> int:
    """Open (or build) the demo index and print the hits of each query."""
    from hybridsearch import HybridIndex  # loads torch: only when the command runs
    from hybridsearch.corpus.demo import python_docs_documents
    from hybridsearch.index.storage import check_index_destination

    # Before the demo corpus is read and encoded: a file there fails now, not minutes later.
    index_path = check_index_destination(args.index)
    if args.rebuild or not (index_path / "manifest.json").is_file():
        # Only a hint of the wait ahead; open_or_build decides and says what it did.
        print(
            f"building the demo index of Python's reference topics in {index_path} "
            "(once; later runs reuse it)",
            file=sys.stderr,
        )
    rebuild = {"rebuild": True} if args.rebuild else {}
    index = HybridIndex.open_or_build(index_path, python_docs_documents(), progress=True, **rebuild)
    print(index.origin, file=sys.stderr)
    queries = [args.query] if args.query else list(DEMO_QUERIES)
    for query in queries:
        hits = index.search(query, args.k, mode=args.mode)
        print(f"\n=== {printable(query)}\n")
        print(format_hits(hits, color=use_color()))
    return 0
