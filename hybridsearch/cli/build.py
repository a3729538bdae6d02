"""``hybridsearch build``: index a corpus (JSONL, BEIR folder, or folder of text files).

The index is reused when the one already at ``--index`` was built from the same corpus with
the same settings, else built and saved (:meth:`HybridIndex.open_or_build`); the summary says
which, then what chunking did, where the time went and the size on disk.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from hybridsearch.errors import InvalidInputError

if TYPE_CHECKING:
    from hybridsearch import HybridIndex

BM25_VARIANTS = ("lucene", "okapi", "bm25l", "bm25plus")


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``build`` and its options to ``subparsers``."""
    parser = subparsers.add_parser(
        "build",
        help="build an index from a corpus",
        description="Build an index from a JSONL file, a BEIR dataset folder or a folder of "
        ".txt/.md files. An index already there, built from the same corpus with the same "
        "settings, is reused.",
    )
    parser.add_argument("corpus", help="JSONL file, BEIR dataset folder, or folder of text files")
    parser.add_argument("--index", required=True, help="where to write the index (a directory)")
    parser.add_argument(
        "--model",
        help="sentence-transformers model folder or hub name "
        "(default: the bundled all-MiniLM-L6-v2)",
    )
    parser.add_argument(
        "--passage-tokens",
        type=int,
        help="longest passage in tokens, prompt "
        "and special tokens included (default: the model's max length)",
    )
    parser.add_argument(
        "--overlap",
        type=int,
        default=32,
        help="tokens repeated between consecutive passages (default 32)",
    )
    parser.add_argument(
        "--bm25-variant",
        default="lucene",
        choices=BM25_VARIANTS,
        help="BM25 scoring variant (default lucene)",
    )
    parser.add_argument("--k1", type=float, default=1.5, help="BM25 k1 (default 1.5)")
    parser.add_argument("--b", type=float, default=0.75, help="BM25 b (default 0.75)")
    parser.add_argument(
        "--title-weight",
        type=int,
        default=1,
        help="BM25F: count each passage's carried title this many times against its body "
        "(default 1: plain BM25 over title + body)",
    )
    parser.add_argument(
        "--hnsw", action="store_true", help="approximate HNSW vector index instead of exact search"
    )
    parser.add_argument("--batch-size", type=int, help="encoder batch size (default 16)")
    parser.add_argument(
        "--embedding-cache",
        help="folder that keeps passage vectors between "
        "builds, so an unchanged corpus is not encoded again",
    )
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bars")
    parser.add_argument(
        "--shards",
        type=int,
        default=1,
        help="split the index into this many shards, built and served by Ray (default 1: "
        "one ordinary index)",
    )
    parser.add_argument(
        "--ray-address",
        help="the Ray cluster to build on (default: start a local Ray instance); implies a "
        "sharded index",
    )
    return parser


def run(args: argparse.Namespace) -> int:
    """Open or build the index, then print the summary (on stderr)."""
    from hybridsearch import HybridIndex  # loads torch: only when the command runs

    index_path = Path(args.index)
    if args.shards < 1:
        raise InvalidInputError(f"--shards must be >= 1, got {args.shards}")
    if args.shards > 1 or args.ray_address is not None:
        return run_sharded(args, index_path)
    # Only when asked: the encoder's own default is the 16 the help text names.
    encoder_options = {"batch_size": args.batch_size} if args.batch_size is not None else {}
    index = HybridIndex.open_or_build(
        index_path,
        Path(args.corpus),
        model=args.model,
        chunking={"passage_tokens": args.passage_tokens, "overlap": args.overlap},
        bm25=_bm25_settings(args),
        vectors={"kind": "hnsw" if args.hnsw else "flat"},
        embedding_cache=args.embedding_cache,
        progress=not args.no_progress,
        **encoder_options,
    )
    print_summary(index, index_path)
    return 0


def _bm25_settings(args: argparse.Namespace) -> dict[str, Any]:
    """The BM25 settings asked for; the title weight only when given (1 is the default)."""
    settings: dict[str, Any] = {"variant": args.bm25_variant, "k1": args.k1, "b": args.b}
    if args.title_weight != 1:
        settings["title_weight"] = args.title_weight
    return settings


def run_sharded(args: argparse.Namespace, index_path: Path) -> int:
    """Build a sharded index on Ray and print its counts (on stderr)."""
    from hybridsearch import read_corpus
    from hybridsearch.distributed.sharded_index import ShardedIndex

    with ShardedIndex.build(
        read_corpus(Path(args.corpus)),
        index_path,
        shards=args.shards,
        model=args.model,
        ray_address=args.ray_address,
        embedding_cache=args.embedding_cache,
        batch_size=args.batch_size,
        chunking={"passage_tokens": args.passage_tokens, "overlap": args.overlap},
        bm25=_bm25_settings(args),
        vectors={"kind": "hnsw" if args.hnsw else "flat"},
    ) as index:
        print(
            f"built {index_path}: {index.num_documents} documents -> {index.num_passages} "
            f"passages in {index.num_shards} shards",
            file=sys.stderr,
        )
    return 0


def print_summary(index: HybridIndex, index_path: Path, file: TextIO | None = None) -> None:
    """Where the index came from, what chunking did, the build's seconds, the size on disk."""
    file = sys.stderr if file is None else file
    report = index.build_info.chunking_report
    stages = dict(index.build_info.seconds)
    encode_seconds = stages.get("encode", 0.0)
    rate = f" ({index.num_passages / encode_seconds:.1f} passages/s)" if encode_seconds else ""
    size = sum(path.stat().st_size for path in index_path.rglob("*") if path.is_file())
    print(index.origin, file=file)
    print(
        f"{index.num_documents} documents -> {index.num_passages} passages "
        f"({report.documents_split} documents split, {report.tokens_over_limit} tokens that "
        "whole-document encoding would have truncated)",
        file=file,
    )
    if stages:
        seconds = ", ".join(f"{stage} {value:.1f}" for stage, value in stages.items())
        print(f"build seconds: {seconds}{rate}", file=file)
    print(f"index size on disk: {size / 2**20:.1f} MiB", file=file)
