"""``hybridsearch compact``: merge every segment of an index into one, dropping deleted
documents for good, then commit. Search results do not change; searches get a little faster
and the files of deleted documents are freed."""

from __future__ import annotations

import argparse
import time
from typing import Any

from hybridsearch.cli.options import add_model_option, commit_and_report, open_index


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``compact`` and its options to ``subparsers``."""
    parser = subparsers.add_parser(
        "compact",
        help="merge an index's segments into one",
        description="Merge every segment into one, dropping deleted documents, and commit. "
        "Search results are unchanged.",
    )
    parser.add_argument("--index", required=True, help="the index directory")
    add_model_option(parser)
    return parser


def run(args: argparse.Namespace) -> int:
    """Compact, commit, print the segments before and after (stderr)."""
    with open_index(args.index, args.model) as index:
        before = index.num_segments
        start = time.perf_counter()
        index.compact()
        commit_and_report(index, f"compacted {before} -> {index.num_segments} segments", start)
    return 0
