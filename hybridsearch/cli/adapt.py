"""``hybridsearch adapt``: adapt an index's encoder to its corpus, with no labels.

Pairs are mined from the index's own documents (a title -> its text, a sentence -> the rest
of its document), each with a BM25-mined hard negative; the encoder is trained on them with
in-batch negatives (MultipleNegativesRankingLoss), written as a sentence-transformers model
folder, and the documents are re-encoded into a new index (``--query-only``: only a query
model is trained, against the stored passage vectors, and paired with a copy of the index).
With ``--dev-queries/--dev-qrels`` the adapted model is kept only if it wins there.

The options shared with ``finetune`` are defined here.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

SOURCES = ("title", "sentence")


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``adapt`` and its options to ``subparsers``."""
    parser = subparsers.add_parser(
        "adapt",
        help="adapt the encoder to an index's corpus (no labels needed)",
        description="Train the encoder on pairs mined from the index's documents (title -> "
        "text, sentence -> rest of its document) with BM25 hard negatives, write the model "
        "as a sentence-transformers folder and an index encoded by it.",
    )
    add_training_options(parser)
    parser.add_argument(
        "--sources",
        nargs="+",
        default=list(SOURCES),
        choices=SOURCES,
        help="pair miners (default both)",
    )
    return parser


def add_training_options(parser: argparse.ArgumentParser) -> None:
    """The options ``adapt`` and ``finetune`` share."""
    parser.add_argument("--index", required=True, help="the index to adapt (left unchanged)")
    parser.add_argument("--output", required=True, help="where to write the adapted index")
    parser.add_argument(
        "--model-output", required=True, help="where to write the trained model folder (new)"
    )
    parser.add_argument(
        "--query-only",
        action="store_true",
        help="train only a query encoder against the stored passage vectors (no re-encoding)",
    )
    parser.add_argument(
        "--max-pairs", type=int, help="train on at most this many pairs (a seeded sample)"
    )
    parser.add_argument("--no-hard-negatives", action="store_true", help="in-batch negatives only")
    parser.add_argument("--batch-size", type=int, default=32, help="pairs per step (default 32)")
    parser.add_argument("--epochs", type=int, default=1, help="passes over the pairs (default 1)")
    parser.add_argument(
        "--learning-rate", type=float, default=2e-5, help="peak learning rate (default 2e-5)"
    )
    parser.add_argument(
        "--max-seq-length", type=int, default=128, help="tokens per text while training (128)"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of sampling and batching")
    parser.add_argument(
        "--device", default="auto", help='"auto" (CUDA when present, else CPU), "cpu", "cuda"'
    )
    parser.add_argument("--dev-queries", help="labelled dev queries (BEIR queries.jsonl)")
    parser.add_argument("--dev-qrels", help="their judgements (BEIR qrels TSV)")
    parser.add_argument("--embedding-cache", help="passage-vector cache folder for re-encoding")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")


def run(args: argparse.Namespace) -> int:
    """Mine pairs from the index's documents, train, write; print what was done."""
    return run_adaptation(args, pairs_file=None, sources=args.sources)


def run_adaptation(args: argparse.Namespace, *, pairs_file: str | None, sources: Any) -> int:
    """Run an adaptation from parsed options and print its report (what checked it, or not)."""
    from hybridsearch.index.adaptation import adapt_index

    report = adapt_index(
        args.index,
        output=args.output,
        model_output=args.model_output,
        pairs_file=pairs_file,
        sources=sources,
        max_pairs=args.max_pairs,
        hard_negatives=not args.no_hard_negatives,
        settings={
            "batch_size": args.batch_size,
            "epochs": args.epochs,
            "learning_rate": args.learning_rate,
            "max_seq_length": args.max_seq_length,
            "seed": args.seed,
            "device": args.device,
            "query_only": args.query_only,
        },
        dev_queries=args.dev_queries,
        dev_qrels=args.dev_qrels,
        progress=not args.quiet,
        embedding_cache=args.embedding_cache,
    )
    print(report.describe(), file=sys.stderr)
    return 0
