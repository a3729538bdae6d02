"""The ``hybridsearch`` command: build and search indexes, evaluate on BEIR, run the demo.

argparse rather than typer: the standard library is enough for four subcommands, and it
keeps ``hybridsearch --help`` fast (nothing heavy is imported until a command runs).

Errors print one line (``error: ...``) and exit with status 1; ``--verbose`` shows the
traceback too.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hybridsearch.errors import HybridSearchError

if TYPE_CHECKING:
    from hybridsearch.index.hybrid_index import HybridIndex
    from hybridsearch.search.hits import Hits

DEMO_INDEX = Path("indexes") / "python-docs"
DEMO_QUERIES = (
    "how do I catch several exceptions at once",
    "difference between a list and a tuple",
    "what does the yield keyword do",
)
MODES = ("bm25", "dense", "hybrid")


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hybridsearch",
        description="Hybrid semantic + BM25 search: build an index, search it, evaluate it.",
    )
    parser.add_argument(
        "--verbose", action="store_true", help="show the full traceback when a command fails"
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    build = commands.add_parser(
        "build",
        help="build an index from a corpus",
        description="Build an index from a JSONL file, a BEIR dataset folder or a folder of "
        ".txt/.md files.",
    )
    build.add_argument("corpus", help="JSONL file, BEIR dataset folder, or folder of text files")
    build.add_argument("--index", required=True, help="where to write the index (a directory)")
    build.add_argument(
        "--model",
        help="sentence-transformers model folder or hub name "
        "(default: the bundled all-MiniLM-L6-v2)",
    )
    build.add_argument(
        "--passage-tokens",
        type=int,
        help="longest passage in tokens, prompt "
        "and special tokens included (default: the model's max length)",
    )
    build.add_argument(
        "--overlap",
        type=int,
        default=32,
        help="tokens repeated between consecutive passages (default 32)",
    )
    build.add_argument(
        "--bm25-variant",
        default="lucene",
        choices=("lucene", "okapi", "bm25l", "bm25plus"),
        help="BM25 scoring variant (default lucene)",
    )
    build.add_argument("--k1", type=float, default=1.5, help="BM25 k1 (default 1.5)")
    build.add_argument("--b", type=float, default=0.75, help="BM25 b (default 0.75)")
    build.add_argument(
        "--hnsw", action="store_true", help="approximate HNSW vector index instead of exact search"
    )
    build.add_argument("--batch-size", type=int, default=16, help="encoder batch size")
    build.add_argument(
        "--embedding-cache",
        help="folder that keeps passage vectors between "
        "builds, so an unchanged corpus is not encoded again",
    )
    build.add_argument("--no-progress", action="store_true", help="hide the progress bars")

    search = commands.add_parser("search", help="search an index")
    search.add_argument("query", help="the query text")
    _add_search_options(search)
    search.add_argument("--json", action="store_true", help="print the hits as JSON")
    search.add_argument(
        "--explain", action="store_true", help="print the plan and where the time went"
    )

    evaluate = commands.add_parser(
        "evaluate",
        help="evaluate an index on a BEIR dataset",
        description="nDCG@10, Recall@100 and MRR@10 (pytrec_eval) per mode, on the queries "
        "of one qrels split.",
    )
    evaluate.add_argument("--index", required=True, help="the index directory")
    _add_model_option(evaluate)
    evaluate.add_argument("--beir", required=True, help="the BEIR dataset folder")
    evaluate.add_argument("--split", default="test", help="qrels split (default test)")
    evaluate.add_argument(
        "--modes",
        nargs="+",
        default=list(MODES),
        choices=MODES,
        help="modes to evaluate (default all)",
    )
    evaluate.add_argument("--fusion", default="rrf", choices=("rrf", "convex"))
    evaluate.add_argument("--json", action="store_true", help="print the metrics as JSON")

    demo = commands.add_parser(
        "demo",
        help="search Python's own reference topics (built once into indexes/python-docs)",
    )
    demo.add_argument("query", nargs="?", help="a query (default: a few examples)")
    demo.add_argument("--index", default=str(DEMO_INDEX), help=f"default {DEMO_INDEX}")
    demo.add_argument("-k", type=int, default=5, help="results per query (default 5)")
    demo.add_argument("--mode", default="hybrid", choices=MODES)
    demo.add_argument("--rebuild", action="store_true", help="rebuild the demo index")
    return parser


def _add_model_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--model",
        help="the model folder the index was built with, if it "
        "moved (default: the one recorded in the index)",
    )


def _add_search_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--index", required=True, help="the index directory")
    _add_model_option(parser)
    parser.add_argument("-k", type=int, default=10, help="results wanted (default 10)")
    parser.add_argument("--mode", default="hybrid", choices=MODES)
    parser.add_argument("--unit", default="documents", choices=("documents", "passages"))
    parser.add_argument("--fusion", default="rrf", choices=("rrf", "convex"))


# -- commands -------------------------------------------------------------------------------


def _cmd_build(args: argparse.Namespace) -> int:
    from hybridsearch.corpus.documents import read_corpus

    _build_index(
        read_corpus(args.corpus),
        source=_corpus_source(Path(args.corpus)),
        index_path=Path(args.index),
        model=args.model,
        chunking={"passage_tokens": args.passage_tokens, "overlap": args.overlap},
        bm25={"variant": args.bm25_variant, "k1": args.k1, "b": args.b},
        vectors={"kind": "hnsw" if args.hnsw else "flat"},
        batch_size=args.batch_size,
        embedding_cache=args.embedding_cache,
        progress=not args.no_progress,
    )
    return 0


def _build_index(
    documents: Any,
    *,
    index_path: Path,
    model: str | None = None,
    chunking: dict[str, Any] | None = None,
    bm25: dict[str, Any] | None = None,
    vectors: dict[str, Any] | None = None,
    batch_size: int = 16,
    embedding_cache: str | None = None,
    progress: bool = True,
    source: dict[str, Any] | None = None,
) -> HybridIndex:
    """Read, build, save, and print a summary of each stage."""
    from hybridsearch.dense.encoder import Encoder
    from hybridsearch.index.hybrid_index import HybridIndex

    started = time.perf_counter()
    if progress:
        from tqdm.auto import tqdm

        documents = tqdm(documents, desc="reading", unit="doc")
    documents = list(documents)
    read_seconds = time.perf_counter() - started

    encoder = Encoder(model, batch_size=batch_size, progress=progress)
    index = HybridIndex.build(
        documents,
        model=encoder,
        chunking=chunking,
        bm25=bm25,
        vectors=vectors,
        progress=progress,
        embedding_cache=embedding_cache,
    )
    index.source = source
    started = time.perf_counter()
    index.save(index_path)
    save_seconds = time.perf_counter() - started

    report = index.chunking_report
    stages = dict(index.build_seconds)
    stages["read"] = read_seconds + stages.get("read", 0.0)
    stages["save"] = save_seconds
    size = sum(path.stat().st_size for path in index_path.rglob("*") if path.is_file())
    encode_seconds = stages.get("encode", 0.0)
    rate = f" ({index.num_passages / encode_seconds:.1f} passages/s)" if encode_seconds else ""
    print(
        f"built {index_path}: {index.num_documents} documents -> {index.num_passages} passages "
        f"({report.documents_split} documents split, {report.tokens_over_limit} tokens that "
        "whole-document encoding would have truncated)",
        file=sys.stderr,
    )
    print(
        "seconds: " + ", ".join(f"{stage} {value:.1f}" for stage, value in stages.items()) + rate,
        file=sys.stderr,
    )
    print(f"index size on disk: {size / 2**20:.1f} MiB", file=sys.stderr)
    return index


def _corpus_source(corpus: Path) -> dict[str, Any]:
    """Where a corpus came from, recorded in the manifest: its path, and sha256 for a file.

    Others (benchmarks/beir.py, the notebook) compare the digest to reuse an index.
    """
    from hybridsearch.index.storage import sha256_file

    corpus_file = corpus / "corpus.jsonl" if (corpus / "corpus.jsonl").is_file() else corpus
    source: dict[str, Any] = {"path": str(corpus_file.resolve())}
    if corpus_file.is_file():
        source["sha256"] = sha256_file(corpus_file)
    return source


def _load_index(path: str, model: str | None = None) -> HybridIndex:
    from hybridsearch.index.hybrid_index import HybridIndex

    return HybridIndex.load(path, model=model)


def _cmd_search(args: argparse.Namespace) -> int:
    index = _load_index(args.index, args.model)
    hits = index.search(args.query, args.k, mode=args.mode, unit=args.unit, fusion=args.fusion)
    if args.json:
        payload: dict[str, Any] = {"query": args.query, "hits": hits.to_dicts()}
        if args.explain:
            payload["plan"] = hits.plan.to_dict()
            payload["timings_ms"] = hits.timings
        print(json.dumps(payload, indent=2, ensure_ascii=False))
        return 0
    if args.explain:
        print(hits.plan.describe())
        print(hits.describe_timings())
        print()
    print(_format_hits(hits, color=_use_color()))
    return 0


def _use_color() -> bool:
    return (
        sys.stdout.isatty()
        and os.environ.get("NO_COLOR") is None
        and os.environ.get("TERM") != "dumb"
    )


def _format_hits(hits: Hits, *, color: bool, max_chars: int = 400) -> str:
    """A readable ranked list: rank, doc id, score, per-leg ranks, the passage."""
    from hybridsearch.display.html import highlight_spans, mark_spans

    if not hits:
        notes = "; ".join(hits.plan.notes) if hits.plan and hits.plan.notes else ""
        return "no results" + (f" ({notes})" if notes else "")
    terms = hits.plan.query_terms if hits.plan else ()
    lines = []
    for hit in hits:
        legs = (
            f"bm25 #{hit.bm25_rank if hit.bm25_rank is not None else '-'}  "
            f"dense #{hit.dense_rank if hit.dense_rank is not None else '-'}"
        )
        heading = f"{hit.rank:>2}. {hit.doc_id}  score {hit.score:.4f}  ({legs})"
        if hit.title and hit.title != hit.doc_id:
            heading += f"  {hit.title}"
        text = " ".join(hit.text.split())
        if len(text) > max_chars:
            text = text[:max_chars] + " ..."
        if color:
            spans = highlight_spans(text, terms, hits.analyzer)
            text = mark_spans(text, spans, escape=str, before="\033[1;33m", after="\033[0m")
            heading = f"\033[1m{heading}\033[0m"
        lines.append(heading)
        lines.append("    " + text)
        lines.append("")
    return "\n".join(lines).rstrip()


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from hybridsearch.eval.evaluation import evaluate_index, load_beir

    dataset = load_beir(args.beir, split=args.split)
    index = _load_index(args.index, args.model)
    results = {}
    for mode in args.modes:
        results[mode] = evaluate_index(index, dataset, mode=mode, fusion=args.fusion)
    if args.json:
        print(
            json.dumps(
                {
                    "index": args.index,
                    "dataset": args.beir,
                    "split": args.split,
                    "queries": len(dataset.queries),
                    "metrics": results,
                },
                indent=2,
            )
        )
        return 0
    print(f"{len(dataset.queries)} queries ({args.split} split of {args.beir})")
    metric_names = list(next(iter(results.values())))
    print(f"{'mode':<8}" + "".join(f"{name:>12}" for name in metric_names))
    for mode, metrics in results.items():
        print(f"{mode:<8}" + "".join(f"{metrics[name]:>12.4f}" for name in metric_names))
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from hybridsearch.corpus.demo import python_docs_documents

    index_path = Path(args.index)
    if args.rebuild or not (index_path / "manifest.json").is_file():
        print(
            f"building the demo index of Python's reference topics in {index_path} "
            "(once; later runs reuse it)",
            file=sys.stderr,
        )
        index = _build_index(python_docs_documents(), index_path=index_path)
    else:
        index = _load_index(str(index_path))
    queries = [args.query] if args.query else list(DEMO_QUERIES)
    for query in queries:
        hits = index.search(query, args.k, mode=args.mode)
        print(f"\n=== {query}\n")
        print(_format_hits(hits, color=_use_color(), max_chars=300))
    return 0


_COMMANDS = {
    "build": _cmd_build,
    "search": _cmd_search,
    "evaluate": _cmd_evaluate,
    "demo": _cmd_demo,
}


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    parser = _build_parser()
    args = parser.parse_args(argv)
    try:
        return _COMMANDS[args.command](args)
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
