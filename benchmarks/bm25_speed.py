"""BM25 leg benchmark: hybridsearch's BM25Index against bm25s and rank-bm25, side by side.

All three engines index the same tokens (our Analyzer: regex tokens, Lucene stopwords, Snowball
English stems), single-threaded. For each dataset it measures indexing time, top-10 queries per
second on the test queries, peak memory while indexing (tracemalloc: Python and numpy
allocations), nDCG@10, and the score parity of the okapi/bm25l/bm25plus variants with
rank-bm25.

Usage (from the repository root):
    python benchmarks/bm25_speed.py                       # scifact and nfcorpus
    python benchmarks/bm25_speed.py --data ../shared/beir/scifact
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    BeirData,
    default_data_path,
    load_beir,
    ndcg_at_10,
    single_thread_environment,
    write_results,
)

single_thread_environment()  # before numpy is imported

import numpy as np  # noqa: E402

TOP_K = 10
MIN_TIMED_SECONDS = 2.0
# nDCG@10 targets: bm25s reaches .686 (scifact) and .321 (nfcorpus) with the same setup.
NDCG_TARGETS = {"scifact": 0.68, "nfcorpus": 0.32}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--data",
        action="append",
        type=Path,
        help="a BEIR dataset folder; repeat for several (default: scifact and nfcorpus "
        "under ../shared/beir)",
    )
    parser.add_argument(
        "--rank-bm25-queries",
        type=int,
        default=30,
        help="queries timed for rank-bm25, which is ~100x slower (default 30)",
    )
    parser.add_argument(
        "--parity-queries",
        type=int,
        default=None,
        help="test queries used for the rank-bm25 parity check (default: all)",
    )
    args = parser.parse_args(argv)
    data_dirs = args.data or [default_data_path("scifact"), default_data_path("nfcorpus")]

    datasets = []
    for data_dir in data_dirs:
        print(f"\n=== {data_dir} ===", flush=True)
        datasets.append(run_dataset(load_beir(data_dir), args))
    path = write_results(
        "bm25_speed",
        {
            "description": (
                "BM25 top-10 search: hybridsearch BM25Index (lucene variant, k1=1.5, b=0.75) vs "
                "bm25s (method='lucene', same k1/b) vs rank-bm25 (BM25Okapi, its only close "
                "equivalent) on identical tokens, single-threaded. Index seconds are the best of 3 "
                "builds. Memory is the tracemalloc "
                "peak while indexing (Python and numpy allocations, tokens excluded)."
            ),
            "top_k": TOP_K,
            "datasets": datasets,
        },
    )
    print(f"\nwrote {path}")
    return 0


def run_dataset(data: BeirData, args: argparse.Namespace) -> dict[str, Any]:
    import bm25s
    import rank_bm25

    from hybridsearch.sparse.analysis import Analyzer
    from hybridsearch.sparse.bm25 import BM25Index, BM25Settings

    analyzer = Analyzer()
    started = time.perf_counter()
    corpus_tokens = analyzer.analyze_many(data.doc_texts)
    analysis_seconds = time.perf_counter() - started
    query_tokens = analyzer.analyze_many(data.query_texts)
    print(
        f"{len(corpus_tokens)} passages, {sum(map(len, corpus_tokens))} tokens analysed in "
        f"{analysis_seconds:.2f} s; {len(query_tokens)} test queries"
    )

    settings = BM25Settings(variant="lucene", k1=1.5, b=0.75)

    def build_ours() -> BM25Index:
        return BM25Index.build(corpus_tokens, settings)

    def build_bm25s() -> Any:
        retriever = bm25s.BM25(method="lucene", k1=1.5, b=0.75)
        retriever.index(corpus_tokens, show_progress=False)
        return retriever

    def build_rank_bm25() -> Any:
        return rank_bm25.BM25Okapi(corpus_tokens)

    ours, ours_build_s, ours_peak = measure_build(build_ours)
    theirs, bm25s_build_s, bm25s_peak = measure_build(build_bm25s)
    rank, rank_build_s, rank_peak = measure_build(build_rank_bm25)
    check_same_tokens(ours, theirs, query_tokens)

    def search_ours(queries: list[list[str]]) -> None:
        ours.search_batch(queries, TOP_K)

    def search_bm25s(queries: list[list[str]]) -> None:
        theirs.retrieve(queries, k=TOP_K, show_progress=False, n_threads=0)

    def search_rank_bm25(queries: list[list[str]]) -> None:
        for query in queries:
            scores = rank.get_scores(query)
            top = np.argpartition(scores, -TOP_K)[-TOP_K:]
            top[np.argsort(-scores[top])]

    rank_queries = query_tokens[: args.rank_bm25_queries]
    engines = {
        "hybridsearch": {
            "index_seconds": ours_build_s,
            "index_peak_mib": ours_peak,
            "queries_per_second": queries_per_second(search_ours, query_tokens),
            "queries_timed": len(query_tokens),
        },
        "bm25s": {
            "index_seconds": bm25s_build_s,
            "index_peak_mib": bm25s_peak,
            "queries_per_second": queries_per_second(search_bm25s, query_tokens),
            "queries_timed": len(query_tokens),
        },
        "rank_bm25": {
            "index_seconds": rank_build_s,
            "index_peak_mib": rank_peak,
            "queries_per_second": queries_per_second(search_rank_bm25, rank_queries),
            "queries_timed": len(rank_queries),
        },
    }
    ours_qps = engines["hybridsearch"]["queries_per_second"]
    for figures in engines.values():
        figures["qps_ratio_hybridsearch_over_this"] = ours_qps / figures["queries_per_second"]

    ndcg = {
        "hybridsearch_lucene": ndcg_at_10(data.qrels, run_ours(ours, data, query_tokens)),
        "bm25s_lucene": ndcg_at_10(data.qrels, run_bm25s(theirs, data, query_tokens)),
    }
    target = NDCG_TARGETS.get(data.name)
    parity_queries = query_tokens[: args.parity_queries] if args.parity_queries else query_tokens
    parity = rank_bm25_parity(corpus_tokens, parity_queries)

    print_table(data.name, engines, ndcg, target, parity, len(parity_queries))
    return {
        "dataset": data.name,
        "num_passages": len(corpus_tokens),
        "num_tokens": int(sum(map(len, corpus_tokens))),
        "num_queries": len(query_tokens),
        "analysis_seconds": analysis_seconds,
        "engines": engines,
        "ndcg_at_10": ndcg,
        "ndcg_target": target,
        "ndcg_target_met": None if target is None else ndcg["hybridsearch_lucene"] >= target,
        "rank_bm25_parity": {"queries": len(parity_queries), "max_relative_difference": parity},
    }


def measure_build(build: Callable[[], Any], repeats: int = 3) -> tuple[Any, float, float]:
    """Best of ``repeats`` timed builds (untraced: tracemalloc slows Python code), then one
    traced build for the peak memory."""
    seconds = float("inf")
    for _ in range(repeats):
        gc.collect()
        started = time.perf_counter()
        built = build()
        seconds = min(seconds, time.perf_counter() - started)
        del built
    gc.collect()
    tracemalloc.start()
    built = build()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return built, seconds, peak / 2**20


def queries_per_second(
    search: Callable[[list[list[str]]], None], queries: list[list[str]]
) -> float:
    """Repeat the query set until at least MIN_TIMED_SECONDS have passed (after one warm-up)."""
    search(queries[:5])
    done = 0
    started = time.perf_counter()
    while True:
        search(queries)
        done += len(queries)
        elapsed = time.perf_counter() - started
        if elapsed >= MIN_TIMED_SECONDS:
            return done / elapsed


def check_same_tokens(ours: Any, theirs: Any, query_tokens: list[list[str]]) -> None:
    """Fail loudly unless bm25s indexed exactly our terms and scores as our lucene variant."""
    bm25s_terms = set(theirs.vocab_dict) - {""}  # bm25s adds an empty token of its own
    if bm25s_terms != set(ours.vocabulary):
        raise SystemExit("bm25s did not index the same terms as hybridsearch")
    worst = 0.0
    for query in query_tokens[:50]:
        if not ours.known_terms(query):
            continue
        expected = ours.get_scores(query)
        got = theirs.get_scores(query).astype(np.float64)  # bm25s keeps float32 scores
        worst = max(worst, float(np.max(np.abs(got - expected)) / np.max(np.abs(expected))))
    if worst > 1e-4:
        raise SystemExit(f"bm25s and hybridsearch lucene scores differ by {worst:.2e}")
    print(f"bm25s indexed the same {len(bm25s_terms)} terms; score difference {worst:.1e}")


def run_ours(index: Any, data: BeirData, query_tokens: list[list[str]]) -> dict:
    run = {}
    for query_id, (passage_ids, scores) in zip(
        data.query_ids, index.search_batch(query_tokens, TOP_K), strict=True
    ):
        run[query_id] = {
            data.doc_ids[p]: float(s) for p, s in zip(passage_ids, scores, strict=True)
        }
    return run


def run_bm25s(retriever: Any, data: BeirData, query_tokens: list[list[str]]) -> dict:
    positions, scores = retriever.retrieve(query_tokens, k=TOP_K, show_progress=False, n_threads=0)
    run = {}
    for query_id, row_positions, row_scores in zip(data.query_ids, positions, scores, strict=True):
        # bm25s pads with zero-score passages when fewer than k match; they carry no weight.
        run[query_id] = {
            data.doc_ids[p]: float(s)
            for p, s in zip(row_positions, row_scores, strict=True)
            if s > 0
        }
    return run


def rank_bm25_parity(
    corpus_tokens: list[list[str]], query_tokens: list[list[str]]
) -> dict[str, float]:
    """Largest relative score difference to rank-bm25 per variant (over nonzero scores)."""
    import rank_bm25

    from hybridsearch.sparse.bm25 import BM25Index, BM25Settings

    oracles = {
        "okapi": rank_bm25.BM25Okapi,
        "bm25l": rank_bm25.BM25L,
        "bm25plus": rank_bm25.BM25Plus,
    }
    worst = {}
    for variant, oracle_class in oracles.items():
        index = BM25Index.build(corpus_tokens, BM25Settings(variant=variant))
        oracle = oracle_class(corpus_tokens)
        largest = 0.0
        for query in query_tokens:
            expected = oracle.get_scores(query)
            got = index.get_scores(query)
            nonzero = expected != 0
            if np.any(got[~nonzero] != 0):
                largest = float("inf")  # a score where rank-bm25 has exactly zero
            if nonzero.any():
                relative = np.abs(got[nonzero] - expected[nonzero]) / np.abs(expected[nonzero])
                largest = max(largest, float(relative.max()))
        worst[variant] = largest
    return worst


def print_table(
    name: str,
    engines: dict[str, dict[str, Any]],
    ndcg: dict[str, float],
    target: float | None,
    parity: dict[str, float],
    parity_queries: int,
) -> None:
    print(f"\n{name}: top-{TOP_K}, single-threaded (shared machine: timings are noisy)")
    header = (
        f"{'engine':<14}{'index s':>9}{'peak MiB':>10}{'queries/s':>12}{'timed q':>9}"
        f"{'ours / this':>13}"
    )
    print(header)
    print("-" * len(header))
    for engine, figures in engines.items():
        print(
            f"{engine:<14}{figures['index_seconds']:>9.3f}{figures['index_peak_mib']:>10.1f}"
            f"{figures['queries_per_second']:>12,.0f}{figures['queries_timed']:>9}"
            f"{figures['qps_ratio_hybridsearch_over_this']:>12.2f}x"
        )
    verdict = (
        ""
        if target is None
        else (
            f"  (target {target}: {'met' if ndcg['hybridsearch_lucene'] >= target else 'MISSED'})"
        )
    )
    print(
        f"nDCG@10: hybridsearch {ndcg['hybridsearch_lucene']:.4f}, "
        f"bm25s {ndcg['bm25s_lucene']:.4f}{verdict}"
    )
    print(
        f"parity with rank-bm25 ({parity_queries} queries), max relative difference: "
        + ", ".join(f"{variant} {value:.1e}" for variant, value in parity.items())
    )


if __name__ == "__main__":
    sys.exit(main())
