"""Approximate dense search at scale: HNSW and IVF settings against exact search, vectors only.

The 1M scale run's HNSW graph (M 32, efConstruction 200) reached dense recall@10 .81 at
efSearch 128 on the noisy-copies vectors. This sweep tries the alternatives on the vectors
alone (no BM25, no documents), so many settings fit in the time one full scale run takes:

- ``hnsw``: FAISS IndexHNSWFlat, inner product, M / efConstruction / efSearch as given.
- ``ivf``: IndexIVFFlat (nlist cells, k-means on a sample), nprobe cells searched.
- ``ivf-sq8``: IndexIVFScalarQuantizer (8 bits per dimension), its candidates rescored with
  the float32 vectors (as the engine rescores every candidate exactly).

Each search asks for 100 rows (the depth the engine's dense leg asks for) at one thread, one
query at a time; recall@10 is that of the best 10 after exact rescoring against numpy brute
force over the same vectors. Filtered: a random 10% of rows pass (an ID selector bitmap);
HNSW's efSearch is then raised by 1/sqrt(0.1), as the engine does, and IVF's nprobe by the
``--filtered-nprobe-factor``. Vector modes: :mod:`benchmarks.synthetic_vectors`; queries: the
first 200 scifact test queries, encoded by the real model.

Usage::

    nice -n 19 python benchmarks/scale_ann.py --size 100000 --mode realistic \
        --hnsw 32:200 --ivf 1024 --name scale_ann_100k_realistic
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.append(str(Path(__file__).resolve().parents[1]))  # last: PYTHONPATH picks the package
from benchmarks._common import RESULTS_DIR, single_thread_environment, write_results
from benchmarks.synthetic_vectors import MODES, make_vectors, real_vector_pool

DEPTH = 100  # rows the engine's dense leg asks for
FILTER_SHARE = 0.1


def query_vectors(data: Path, cache: Path, count: int) -> np.ndarray:
    """The first ``count`` scifact test queries (sorted ids), encoded; cached in ``cache``."""
    path = cache / f"scale_ann_queries_{count}.npy"
    if path.is_file():
        return np.load(path)
    from benchmarks.scale import read_scifact
    from hybridsearch.dense.encoder import Encoder

    _, queries = read_scifact(data, count)
    vectors = np.asarray(Encoder(None).encode_queries(queries), dtype=np.float32)
    cache.mkdir(parents=True, exist_ok=True)
    np.save(path, vectors)
    return vectors


def exact_top10(vectors: np.ndarray, queries: np.ndarray, allowed: np.ndarray | None) -> list:
    """Brute-force top-10 row sets per query (numpy float32), over the allowed rows."""
    scores = np.empty((len(queries), len(vectors)), dtype=np.float32)
    for start in range(0, len(vectors), 100_000):
        scores[:, start : start + 100_000] = queries @ vectors[start : start + 100_000].T
    if allowed is not None:
        scores[:, ~allowed] = -np.inf
    top = np.argpartition(-scores, 10, axis=1)[:, :10]
    return [set(row.tolist()) for row in top]


def rescored_top10(vectors: np.ndarray, query: np.ndarray, rows: np.ndarray) -> set[int]:
    """The 10 best of ``rows`` by exact inner product (the engine rescores the same way)."""
    rows = rows[rows >= 0]
    scores = vectors[rows] @ query
    return set(rows[np.argsort(-scores, kind="stable")[:10]].tolist())


def timed_search(
    index: Any, vectors: np.ndarray, queries: np.ndarray, truth: list, params: Any
) -> dict[str, float]:
    """p50/p95 ms per query (search + rescoring) and mean recall@10."""
    times, found = [], 0
    for number, query in enumerate(queries):
        started = time.perf_counter()
        _, ids = index.search(query[None, :], DEPTH, params=params)
        best = rescored_top10(vectors, query, ids[0])
        times.append((time.perf_counter() - started) * 1000)
        found += len(best & truth[number])
    return {
        "p50_ms": round(float(np.percentile(times, 50)), 2),
        "p95_ms": round(float(np.percentile(times, 95)), 2),
        "recall_at_10": round(found / (10 * len(queries)), 4),
    }


def hnsw_rows(
    spec: str,
    vectors: np.ndarray,
    queries: np.ndarray,
    truths: dict,
    bitmap: np.ndarray,
    ef_values: list[int],
) -> list[dict]:
    """Build one graph (``M:efConstruction``) and search it at each efSearch."""
    import faiss

    m, ef_construction = (int(part) for part in spec.split(":"))
    index = faiss.IndexHNSWFlat(vectors.shape[1], m, faiss.METRIC_INNER_PRODUCT)
    index.hnsw.efConstruction = ef_construction
    started = time.perf_counter()
    index.add(vectors)
    build = round(time.perf_counter() - started, 1)
    rows = []
    for ef in ef_values:
        for filtered in (False, True):
            params = faiss.SearchParametersHNSW()
            params.efSearch = max(
                int(np.ceil(ef / np.sqrt(FILTER_SHARE))) if filtered else ef, DEPTH
            )
            if filtered:
                params.sel = faiss.IDSelectorBitmap(bitmap)
            row = {
                "method": "hnsw",
                "M": m,
                "ef_construction": ef_construction,
                "ef_search": int(params.efSearch),
                "filtered": filtered,
                "build_s": build,
            }
            row |= timed_search(index, vectors, queries, truths[filtered], params)
            print(json.dumps(row), flush=True)
            rows.append(row)
    return rows


def ivf_rows(
    spec: str,
    vectors: np.ndarray,
    queries: np.ndarray,
    truths: dict,
    bitmap: np.ndarray,
    nprobes: list[int],
    factor: float,
) -> list[dict]:
    """Train and fill one IVF index (``nlist`` or ``nlist:sq8``), search at each nprobe."""
    import faiss

    parts = spec.split(":")
    nlist, coding = int(parts[0]), (parts[1] if len(parts) > 1 else "flat")
    quantizer = faiss.IndexFlatIP(vectors.shape[1])
    if coding == "sq8":
        index = faiss.IndexIVFScalarQuantizer(
            quantizer,
            vectors.shape[1],
            nlist,
            faiss.ScalarQuantizer.QT_8bit,
            faiss.METRIC_INNER_PRODUCT,
        )
    else:
        index = faiss.IndexIVFFlat(quantizer, vectors.shape[1], nlist, faiss.METRIC_INNER_PRODUCT)
    index.cp.niter = 10  # as hybridsearch.dense.ivf trains
    sample = np.random.default_rng(1).choice(
        len(vectors), min(len(vectors), 40 * nlist), replace=False
    )
    started = time.perf_counter()
    index.train(vectors[np.sort(sample)])
    trained = time.perf_counter() - started
    index.add(vectors)
    build = round(time.perf_counter() - started, 1)
    rows = []
    for nprobe in nprobes:
        for filtered in (False, True):
            params = faiss.SearchParametersIVF()
            params.nprobe = min(nlist, round(nprobe * (factor if filtered else 1)))
            if filtered:
                params.sel = faiss.IDSelectorBitmap(bitmap)
            row = {
                "method": f"ivf-{coding}",
                "nlist": nlist,
                "nprobe": int(params.nprobe),
                "filtered": filtered,
                "train_s": round(trained, 1),
                "build_s": build,
            }
            row |= timed_search(index, vectors, queries, truths[filtered], params)
            print(json.dumps(row), flush=True)
            rows.append(row)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=100_000)
    parser.add_argument("--mode", choices=MODES, default="realistic")
    parser.add_argument("--hnsw", nargs="*", default=[], help="M:efConstruction ...")
    parser.add_argument("--ef", type=int, nargs="*", default=[128, 256, 512])
    parser.add_argument("--ivf", nargs="*", default=[], help="nlist or nlist:sq8 ...")
    parser.add_argument("--nprobe", type=int, nargs="*", default=[8, 16, 32, 64])
    parser.add_argument("--filtered-nprobe-factor", type=float, default=2.0)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument(
        "--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared/beir/scifact"
    )
    parser.add_argument("--cache", type=Path, default=Path(__file__).parent / "cache")
    parser.add_argument("--work", type=Path, default=Path("/tmp/scale_ann"))
    parser.add_argument("--name", default="scale_ann")
    args = parser.parse_args()
    single_thread_environment()
    import faiss

    faiss.omp_set_num_threads(1)
    unique = np.load(args.cache / "scale_unique.npz", allow_pickle=False)
    base = unique["vectors"].astype(np.float32)
    pool = real_vector_pool(args.cache) if args.mode == "realistic" else None
    own = np.arange(args.size, dtype=np.int64) % len(base)
    vectors = make_vectors(args.mode, own, base, pool, seed=args.size)
    queries = query_vectors(args.data, args.work, args.queries)
    allowed = np.random.default_rng(7).random(args.size) < FILTER_SHARE
    bitmap = np.packbits(allowed, bitorder="little")
    truths = {
        False: exact_top10(vectors, queries, None),
        True: exact_top10(vectors, queries, allowed),
    }
    rows: list[dict] = []
    for spec in args.ivf:
        rows += ivf_rows(
            spec, vectors, queries, truths, bitmap, args.nprobe, args.filtered_nprobe_factor
        )
    for spec in args.hnsw:
        rows += hnsw_rows(spec, vectors, queries, truths, bitmap, args.ef)
    payload = {
        "setup": {
            "size": args.size,
            "mode": args.mode,
            "queries": len(queries),
            "vectors": make_vectors.__module__ + f" mode {args.mode!r} (NOT encoded passages)",
            "depth": DEPTH,
            "filter": f"random {FILTER_SHARE:.0%} of rows (ID selector bitmap)",
            "threads": 1,
            "machine_load": "2 shared cores; other jobs ran beside this one",
        },
        "rows": rows,
    }
    write_results(args.name, payload)
    lines = [
        f"# {args.name}: {args.size} vectors, mode {args.mode} (busy 2-core machine)",
        "",
        "| method | setting | filtered | build s | p50 / p95 ms | recall@10 |",
        "|---|---|---|---|---|---|",
    ]
    for row in rows:
        setting = (
            f"M {row['M']} efC {row['ef_construction']} efS {row['ef_search']}"
            if row["method"] == "hnsw"
            else f"nlist {row['nlist']} nprobe {row['nprobe']}"
        )
        lines.append(
            f"| {row['method']} | {setting} | {row['filtered']} | {row['build_s']} | "
            f"{row['p50_ms']} / {row['p95_ms']} | {row['recall_at_10']} |"
        )
    (RESULTS_DIR / f"{args.name}.md").write_text("\n".join(lines) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
