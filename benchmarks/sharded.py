"""Sharded build and search: Ray on this machine, and the coordinator's merge cost.

Part 1 (local Ray, ``--ray-shards``, default 1 2 4): scifact (``--documents``: its first N)
built as a sharded index (each shard a Ray task: chunk, analyse, encode through the embedding
cache, save), then the first ``--queries`` train queries searched one at a time (hybrid, RRF,
k=10; BM25 and dense alone too), against one in-process HybridIndex of the same corpus. Build
seconds, p50/p95 query ms, and whether every result list equals the single index's.

Part 2 (in-process, no Ray, ``--simulated-shards``, default 1 2 4 8 16 32): the first
``--simulated-documents`` scifact documents split over up to 32 shards served by
:class:`~hybridsearch.index.sharded_build.LocalShardGroup`; per shard count, the coordinator's
merge of the shards' candidate lists (:func:`~hybridsearch.index.sharding.merge_candidates`,
depth 100, both legs) and the whole in-process search, p50 ms.

Passage vectors come from an embedding cache: pass ``--cache`` (copied to a temporary folder
first, so the original is only read); without it, passages are encoded once here.

Usage::

    python benchmarks/sharded.py --cache /work/main/benchmarks/cache
"""

from __future__ import annotations

import argparse
import itertools
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.append(str(Path(__file__).resolve().parents[1]))  # last: PYTHONPATH picks the package
from benchmarks._common import RESULTS_DIR, default_data_path, write_results


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (nearest rank) of ``values``."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


def load(data: Path, queries: int, limit: int | None) -> tuple[list[Any], list[str]]:
    from hybridsearch import read_corpus
    from hybridsearch.eval.beir import load_beir

    documents = list(itertools.islice(read_corpus(data), limit))
    texts = list(load_beir(data, split="train").queries.values())[:queries]
    return documents, texts


def key(hits: Any) -> list[tuple]:
    return [(hit.doc_id, hit.start, hit.end, hit.score) for hit in hits]


class PrecomputedQueries:
    """A query encoder serving vectors encoded once up front, so the latencies below are the
    search's (the coordinator encodes a query once whatever the shard count; that cost is
    reported on its own)."""

    def __init__(self, encoder: Any, queries: list[str]) -> None:
        started = time.perf_counter()
        self.vectors = {query: encoder.encode_queries([query])[0] for query in queries}
        self.encode_ms_per_query = (time.perf_counter() - started) * 1000 / len(queries)
        self.identity = encoder.identity

    def encode_queries(self, texts: Any) -> Any:
        import numpy as np

        return np.stack([self.vectors[text] for text in texts])


def time_queries(index: Any, queries: list[str], **options: Any) -> tuple[list[float], list]:
    """Milliseconds per query (one at a time) and the hits."""
    times, results = [], []
    for query in queries:
        started = time.perf_counter()
        results.append(index.search(query, k=10, **options))
        times.append((time.perf_counter() - started) * 1000)
    return times, results


def ray_part(documents, queries, cache, shard_counts, workdir, single, fixed) -> list[dict]:
    from hybridsearch.distributed.cluster import ensure_ray
    from hybridsearch.distributed.sharded_index import ShardedIndex

    ensure_ray()
    rows = []
    for shards in shard_counts:
        started = time.perf_counter()
        index = ShardedIndex.build(
            documents, workdir / f"ray-{shards}", shards=shards, embedding_cache=cache
        )
        build_seconds = time.perf_counter() - started
        index.coordinator.encoder = fixed
        row: dict[str, Any] = {"shards": shards, "build_seconds": round(build_seconds, 1)}
        with index:
            for mode in ("hybrid", "bm25", "dense"):
                times, results = time_queries(index, queries, mode=mode)
                expected = [single.search(q, k=10, mode=mode) for q in queries]
                row[mode] = {
                    "p50_ms": round(statistics.median(times), 2),
                    "p95_ms": round(percentile(times, 95), 2),
                    "equal_to_single_index": all(
                        key(a) == key(b) for a, b in zip(expected, results, strict=True)
                    ),
                }
        rows.append(row)
        print(row, flush=True)
    return rows


def simulated_part(documents, queries, encoder, cache, shard_counts, workdir, fixed) -> list[dict]:
    import numpy as np

    from hybridsearch.index.sharded_build import (
        build_sharded,
        build_shards_in_process,
        open_coordinator,
    )
    from hybridsearch.index.sharding import ShardedSource, merge_candidates

    rows = []
    for shards in shard_counts:
        path = workdir / f"simulated-{shards}"
        build_sharded(
            documents,
            path,
            shards,
            build_shards_in_process(encoder),
            build_options={"embedding_cache": cache},
        )
        coordinator = open_coordinator(path, model=encoder)
        coordinator.encoder = fixed
        vectors = fixed.encode_queries(queries)
        merge_ms, search_ms = [], []
        for query, vector in zip(queries, vectors, strict=True):
            source = ShardedSource(coordinator)
            terms = coordinator.analyzer(query)
            statistics_ = coordinator.term_statistics(source.doc_freqs(terms))
            for answers in (
                source.fan_out("bm25", terms, 100, statistics_, None),
                source.fan_out("dense", np.asarray(vector), 100, None),
            ):
                started = time.perf_counter()
                merge_candidates(answers, 100, shards)
                merge_ms.append((time.perf_counter() - started) * 1000)
            started = time.perf_counter()
            coordinator.search_batch([query], 10, {})
            search_ms.append((time.perf_counter() - started) * 1000)
        row = {
            "shards": shards,
            "merge_p50_ms_per_leg": round(statistics.median(merge_ms), 3),
            "search_p50_ms": round(statistics.median(search_ms), 2),
            "candidates_merged_per_leg": 100 * shards,
        }
        rows.append(row)
        print(row, flush=True)
    return rows


def markdown(result: dict) -> str:
    lines = [
        "# Sharded build and search (benchmarks/sharded.py)",
        "",
        f"Busy machine: {result['machine_note']}",
        "",
        f"## Local Ray, scifact ({result['documents']} documents, {result['passages']} passages)",
        "",
        f"Query encoding (once per query, in the coordinator, not in the latencies below): "
        f"{result['query_encode_ms']} ms per query.",
        "",
        f"Single in-process index: hybrid p50 {result['single']['hybrid_p50_ms']} ms, "
        f"bm25 {result['single']['bm25_p50_ms']} ms, dense {result['single']['dense_p50_ms']} ms.",
        "",
        "| shards | build s | hybrid p50 / p95 ms | bm25 p50 ms | dense p50 ms | equal |",
        "|---:|---:|---:|---:|---:|:---|",
    ]
    for row in result["ray"]:
        equal = all(row[mode]["equal_to_single_index"] for mode in ("hybrid", "bm25", "dense"))
        lines.append(
            f"| {row['shards']} | {row['build_seconds']} | {row['hybrid']['p50_ms']} / "
            f"{row['hybrid']['p95_ms']} | {row['bm25']['p50_ms']} | {row['dense']['p50_ms']} | "
            f"{'yes' if equal else 'NO'} |"
        )
    lines += [
        "",
        f"## Coordinator merge cost, simulated in-process shards "
        f"({result['simulated_documents']} documents)",
        "",
        "| shards | candidates merged per leg | merge p50 ms per leg | whole search p50 ms |",
        "|---:|---:|---:|---:|",
    ]
    for row in result["simulated"]:
        lines.append(
            f"| {row['shards']} | {row['candidates_merged_per_leg']} | "
            f"{row['merge_p50_ms_per_leg']} | {row['search_p50_ms']} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=default_data_path("scifact"))
    parser.add_argument("--cache", type=Path, help="an embedding cache to copy and read")
    parser.add_argument("--queries", type=int, default=50)
    parser.add_argument("--documents", type=int, help="only the first N documents (default all)")
    parser.add_argument("--ray-shards", type=int, nargs="*", default=[1, 2, 4])
    parser.add_argument("--simulated-shards", type=int, nargs="*", default=[1, 2, 4, 8, 16, 32])
    parser.add_argument("--simulated-documents", type=int, default=1000)
    args = parser.parse_args()

    from hybridsearch import HybridIndex
    from hybridsearch.dense.encoder import Encoder

    documents, queries = load(args.data, args.queries, args.documents)
    with tempfile.TemporaryDirectory(prefix="sharded-bench-") as temporary:
        workdir = Path(temporary)
        cache = workdir / "cache"
        if args.cache is not None:
            shutil.copytree(args.cache, cache)
        encoder = Encoder()
        single = HybridIndex.build(documents, model=encoder, embedding_cache=cache)
        fixed = PrecomputedQueries(encoder, queries)
        single.encoder = fixed
        single_times = {
            mode: statistics.median(time_queries(single, queries, mode=mode)[0])
            for mode in ("hybrid", "bm25", "dense")
        }
        ray_rows = ray_part(documents, queries, cache, args.ray_shards, workdir, single, fixed)
        simulated = simulated_part(
            list(itertools.islice(documents, args.simulated_documents)),
            queries,
            encoder,
            cache,
            args.simulated_shards,
            workdir,
            fixed,
        )
        result = {
            "documents": single.num_documents,
            "passages": single.num_passages,
            "queries": len(queries),
            "machine_note": "2 shared CPU cores, other jobs running (load average above 10 "
            "during the run); Ray local with every CPU; timings are busy-machine figures.",
            "query_encode_ms": round(fixed.encode_ms_per_query, 2),
            "single": {f"{mode}_p50_ms": round(ms, 2) for mode, ms in single_times.items()},
            "ray": ray_rows,
            "simulated_documents": min(args.simulated_documents, len(documents)),
            "simulated": simulated,
        }
    write_results("sharded", result)
    (RESULTS_DIR / "sharded.md").write_text(markdown(result), encoding="utf-8")
    print(markdown(result))


if __name__ == "__main__":
    main()
