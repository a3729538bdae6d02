"""``hybridsearch finetune --pairs FILE``: adapt an index's encoder from the user's own pairs.

The same as ``adapt`` (training, model folder, new index, dev check, ``--query-only``), with
(query, relevant passage) pairs from a JSONL file instead of pairs mined from the documents:
``{"query": ..., "passage": ...}`` or ``{"query": ..., "doc_id": ...}`` per line.
"""

from __future__ import annotations

import argparse
from typing import Any

from hybridsearch.cli.adapt import add_training_options, run_adaptation


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``finetune`` and its options to ``subparsers``."""
    parser = subparsers.add_parser(
        "finetune",
        help="fine-tune the encoder on your (query, passage) pairs",
        description="Train the encoder on (query, relevant passage) pairs from a JSONL file "
        '({"query": ..., "passage": ...} or {"query": ..., "doc_id": ...} per line), with '
        "BM25 hard negatives from the index, and write the model and an index encoded by it.",
    )
    parser.add_argument("--pairs", required=True, help="the JSONL file of pairs")
    add_training_options(parser)
    return parser


def run(args: argparse.Namespace) -> int:
    """Train on the file's pairs, write; print what was done."""
    return run_adaptation(args, pairs_file=args.pairs, sources=())
