"""``hybridsearch add``: add a corpus's documents to an index, or with ``--update`` replace
the ones whose ids it already holds, then commit.

The corpus is read in full before the index is opened, so a malformed file fails before the
write lock is taken; the add and the commit either both happen or, on an error, nothing does.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from hybridsearch.cli.options import add_model_option, commit_and_report, counted, open_index


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``add`` and its options to ``subparsers``."""
    parser = subparsers.add_parser(
        "add",
        help="add documents to an index (or replace them, with --update)",
        description="Add the documents of a JSONL file, a BEIR dataset folder or a folder of "
        ".txt/.md files to an index, and commit. Ids already in the index are refused unless "
        "--update is given, which replaces those documents.",
    )
    parser.add_argument("corpus", help="JSONL file, BEIR dataset folder, or folder of text files")
    parser.add_argument("--index", required=True, help="the index directory")
    parser.add_argument(
        "--update",
        action="store_true",
        help="replace the documents whose ids are already in the index (default: refuse them)",
    )
    add_model_option(parser)
    parser.add_argument("--batch-size", type=int, help="encoder batch size (default 16)")
    parser.add_argument(
        "--embedding-cache",
        help="folder that keeps passage vectors between runs, so a text seen before is not "
        "encoded again",
    )
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bars")
    return parser


def run(args: argparse.Namespace) -> int:
    """Read the corpus, add (or update) its documents, commit, print the summary (stderr)."""
    from hybridsearch import read_corpus

    documents = list(read_corpus(args.corpus))
    progress = not args.no_progress
    # Only when asked: the encoder's own default is the 16 the help text names.
    options = {"batch_size": args.batch_size} if args.batch_size is not None else {}
    with open_index(
        args.index, args.model, embedding_cache=args.embedding_cache, **options
    ) as index:
        index.encoder.progress = progress
        start = time.perf_counter()
        before = index.num_documents
        if args.update:
            index.update(documents, progress=progress)
        else:
            index.add(documents, progress=progress)
        # update() replaces the ids it holds and adds the others: the growth is what is new.
        added = index.num_documents - before
        done = f"added {counted(added, 'document')}"
        if args.update:
            done += f", updated {len(documents) - added}"
        commit_and_report(index, done, start)
    return 0
