"""Scale benchmark: the living index at 100k and 1M passages, and the frozen index beside it.

Corpus: scifact's documents (title + text) repeated with new ids (``<id>-r<n>``) until the
chunker's passages reach the size asked for; each document gets ``{"bucket": n % 10}`` so the
filter ``{"bucket": 3}`` selects 10% of the documents. Queries: the first 200 scifact test
queries, encoded by the real query encoder at search time (their encoding is in the timings).

**Passage vectors are not encoded.** Each distinct scifact passage is encoded once (read from
``benchmarks/cache`` when there) and every repeat gets a vector made from it
(:mod:`benchmarks.synthetic_vectors`, ``--vectors``): ``noisy-copies`` (the default, the first
runs) that vector plus Gaussian noise (``--noise``, relative norm), renormalised, so copies of
one passage are near-duplicates; ``realistic`` a normalised mixture of it and one or two other
real passage vectors plus small noise (a labelled synthetic mode: distinct vectors spread like
real embeddings, but not real data). The benchmark swaps the package's
``encode_passages_cached`` for that lookup, so the build's ``encode`` stage is a lookup, not a
model run. Chunking is real at the sizes below ``--memo-chunking-above``; above it a repeated
document reuses the spans the real chunker gave its first copy (the output is identical), and
the result records the per-document chunking rate so the full cost can be extrapolated.

The dense leg is exact, or HNSW (``--hnsw-sizes``) or IVF (``--ivf-sizes``) per size.
``--queries-only`` reuses the indexes a previous run left in ``--work`` (load, queries and
recall only; ``--probe-values`` / ``--ef-values`` then sweep IVF nprobe / HNSW efSearch).

Usage::

    python benchmarks/scale.py --sizes 100000 1000000 --frozen-sizes 100000
    nice -n 19 python benchmarks/scale.py --sizes 1000000 --ivf-sizes 1000000 \
        --vectors realistic --name scale_ivf_1m_realistic
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.append(str(Path(__file__).resolve().parents[1]))  # last: PYTHONPATH picks the package
from benchmarks._common import (
    RESULTS_DIR,
    default_data_path,
    single_thread_environment,
    write_results,
)
from benchmarks.synthetic_vectors import MODES as VECTOR_MODES
from benchmarks.synthetic_vectors import make_vectors, real_vector_pool

FILTER = {"bucket": 3}
MODES = ("bm25", "dense", "hybrid")
MODEL = None  # the package default (all-MiniLM-L6-v2), as benchmarks/cache holds


# -- corpus ---------------------------------------------------------------------------------


def read_scifact(data: Path, queries: int) -> tuple[list[dict], list[str]]:
    """scifact's documents as dicts and the first ``queries`` test queries (sorted ids)."""
    with open(data / "corpus.jsonl", encoding="utf-8") as handle:
        documents = [json.loads(line) for line in handle if line.strip()]
    texts = {}
    with open(data / "queries.jsonl", encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                record = json.loads(line)
                texts[str(record["_id"])] = record["text"]
    with open(data / "qrels" / "test.tsv", encoding="utf-8") as handle:
        ids = sorted({line.split("\t")[0] for line in handle if line[:1].isdigit()}, key=int)
    return documents, [texts[query_id] for query_id in ids[:queries]]


def as_documents(documents: list[dict], document_class: Any = None) -> list:
    """Documents of :func:`repeated` as Document objects (``document_class``: the frozen
    checkout's, which lives in another module; None: this checkout's)."""
    if document_class is None:
        from hybridsearch.corpus.documents import Document as document_class
    return [document_class(d["id"], d["text"], d["title"], d["metadata"]) for d in documents]


def repeated(base: list[dict], counts: list[int], passages: int, extra: float,
             then: int = 0) -> tuple:
    """Documents repeated with new ids until ``passages``; then ``extra`` of that for add();
    then ``then`` more documents (a third list)."""
    main, more, beyond, total, number = [], [], [], 0, 0
    while total < passages * (1 + extra) or len(beyond) < then:
        record = base[number % len(base)]
        document = {
            "id": f"{record['_id']}-r{number // len(base)}",
            "title": record.get("title") or "",
            "text": record["text"],
            "metadata": {"bucket": number % 10},
        }
        if total < passages * (1 + extra):
            (main if total < passages else more).append(document)
            total += counts[number % len(base)]
        else:
            beyond.append(document)
        number += 1
    return main, more, beyond


def frozen_layout() -> bool:
    """Whether the hybridsearch imported is the frozen one (PYTHONPATH=<--frozen-checkout>).

    Asked of the file layout, not by a failed import: the editable install of the living
    package would answer ``hybridsearch.corpus`` even beside the frozen package.
    """
    import hybridsearch

    return not (Path(hybridsearch.__file__).parent / "corpus").is_dir()


# -- the living index -----------------------------------------------------------------------


class StoredVectors:
    """Passage texts -> a vector made from the stored vector of that text (replaces encoding).

    ``mode`` (:mod:`benchmarks.synthetic_vectors`): ``noisy-copies`` (that vector plus noise)
    or ``realistic`` (a mixture of it and other real vectors from ``pool``, plus small noise).
    """

    def __init__(self, texts: list[str], vectors: np.ndarray, noise: float, seed: int,
                 mode: str = "noisy-copies", pool: np.ndarray | None = None) -> None:
        self.row_of = {text: row for row, text in enumerate(texts)}
        self.base = vectors.astype(np.float32)
        self.noise = noise if mode == "noisy-copies" else None  # realistic: its own default
        self.seed, self.mode, self.pool = seed, mode, pool
        self.made: list[np.ndarray] = []  # every matrix handed out, in order (for recall)

    def __call__(self, encoder: Any, texts: list[str], cache: Any = None) -> np.ndarray:
        rows = np.fromiter((self.row_of[text] for text in texts), np.int64, len(texts))
        out = make_vectors(self.mode, rows, self.base, self.pool, self.seed + len(self.made),
                           self.noise)
        self.made.append(out)
        return out


def chunk_memo(chunker_class: Any) -> None:
    """Make repeated documents reuse the first copy's spans (identical output, no tokenizer)."""
    if frozen_layout():
        from hybridsearch.documents import Passage
    else:
        from hybridsearch.corpus.documents import Passage

    if getattr(chunker_class, "memoised", False):
        return
    chunker_class.memoised = True
    original = chunker_class.chunk_document
    memo: dict[tuple[str, str], tuple] = {}

    def chunk_document(self: Any, document: Any, *, first_passage_id: int = 0) -> tuple:
        key = (document.title, document.text)
        if key not in memo:
            memo[key] = original(self, document, first_passage_id=0)
        passages, report = memo[key]
        return [
            Passage(first_passage_id + n, document.id, p.indexed_text, p.start, p.end, p.title)
            for n, p in enumerate(passages)
        ], report

    def frozen_chunk_document(self: Any, document: Any, *, first_passage_id: int = 0,
                              report: Any = None) -> list:
        # The frozen chunker returns passages and counts into ``report`` (first copy only).
        key = (document.title, document.text)
        if key not in memo:
            memo[key] = (original(self, document, first_passage_id=0, report=report), None)
        return [
            Passage(first_passage_id + n, document.id, p.text, p.start, p.end, p.title)
            for n, p in enumerate(memo[key][0])
        ]

    chunker_class.chunk_document = frozen_chunk_document if frozen_layout() else chunk_document


def timed_queries(index: Any, queries: list[str], **options: Any) -> dict[str, Any]:
    """p50/p95 ms of one search per query (after 5 warm-up searches); hits kept."""
    for query in queries[:5]:
        index.search(query, k=10, **options)
    times, encode, hits = [], [], []
    for query in queries:
        started = time.perf_counter()
        result = index.search(query, k=10, **options)
        times.append((time.perf_counter() - started) * 1000)
        encode.append(result.timings.get("encode", 0.0))
        hits.append([hit.passage_id for hit in result])
    row = {
        "p50_ms": round(float(np.percentile(times, 50)), 2),
        "p95_ms": round(float(np.percentile(times, 95)), 2),
        "query_encode_p50_ms": round(float(np.percentile(encode, 50)), 2),
        # What the index does, without the query encoder (the part 2 busy cores slow most).
        "p50_ms_without_encode": round(float(np.percentile(np.subtract(times, encode), 50)), 2),
    }
    plan = getattr(result, "plan", None)
    if plan is not None and hasattr(plan, "describe"):
        row["plan"] = plan.describe()
    return row | {"_hits": hits}


def passage_hits(index: Any, queries: list[str], **options: Any) -> list[list[int]]:
    """The dense leg's top-10 passages per query (unit passages), for recall."""
    return [[hit.passage_id for hit in index.search(query, k=10, mode="dense", unit="passages",
                                                    **options)] for query in queries]


def dense_recall(hits: list[list[int]], vectors: np.ndarray, queries: np.ndarray,
                 allowed: np.ndarray | None) -> float:
    """Mean recall@10 of the engine's dense hits against exact brute force (numpy)."""
    found = 0
    for start in range(0, len(queries), 50):
        scores = queries[start : start + 50] @ vectors.T
        if allowed is not None:
            scores[:, ~allowed] = -np.inf
        top = np.argpartition(-scores, 10, axis=1)[:, :10]
        for n, exact in enumerate(top):
            found += len(set(exact.tolist()) & set(hits[start + n]))
    return round(found / (10 * len(queries)), 4)


def disk_bytes(path: Path) -> int:
    """Bytes of every file under ``path``."""
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


#: A checkout of the first release (8d443fc), for the frozen-index rows: set by --frozen-checkout.
FROZEN_CHECKOUT = {"path": ""}


def load_probe(path: Path, verify: bool, frozen: bool, data: Path) -> dict[str, Any]:
    """Load time and RSS growth over a loaded encoder, measured in a fresh process."""
    env = dict(os.environ)
    if frozen:
        env["PYTHONPATH"] = FROZEN_CHECKOUT["path"]
    code = 2 if verify == "background" else int(verify)
    command = [sys.executable, __file__, "--probe", str(path), "--verify", str(code),
               "--data", str(data)]
    output = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
    return json.loads(output.stdout.strip().splitlines()[-1])


def _probe(path: str, verify: bool | str, queries: list[str]) -> None:
    import psutil

    if frozen_layout():
        from hybridsearch.encoder import Encoder
    else:
        from hybridsearch.dense.encoder import Encoder
    from hybridsearch import HybridIndex

    process = psutil.Process()
    encoder = Encoder(MODEL)
    encoder.encode_queries(["warm up"])
    before = process.memory_info().rss
    started = time.perf_counter()
    index = HybridIndex.load(path, model=encoder, verify_checksums=verify)
    seconds = time.perf_counter() - started
    after = process.memory_info().rss
    extra = {}
    if verify == "background":
        extra["verified_after_s"] = round(time.perf_counter() - started, 3)
        index.wait_for_verification()
        extra["verified_after_s"] = round(time.perf_counter() - started, 3)
    # Loaded again in this process: modules imported, files in the page cache. What is left
    # is the index's own part of a load (the first load also imports nltk, faiss, ...).
    started = time.perf_counter()
    HybridIndex.load(path, model=encoder, verify_checksums=False)
    extra["second_load_no_verify_s"] = round(time.perf_counter() - started, 3)
    for query in queries[:20]:
        index.search(query, k=10)
    searched = process.memory_info().rss
    print(json.dumps({
        "load_s": round(seconds, 3),
        "rss_after_load_mb": round((after - before) / 2**20, 1),
        "rss_after_20_hybrid_queries_mb": round((searched - before) / 2**20, 1),
        "rss_encoder_only_mb": round(before / 2**20, 1),
    } | extra))


def run_size(args: argparse.Namespace, base: list[dict], queries: list[str], passages: int,
             unique: tuple, encoder: Any) -> dict[str, Any]:
    """Build, save, load, query, add and delete at one size; the figures."""
    import hybridsearch.dense.embedding_cache as embedding_cache
    from hybridsearch import HybridIndex

    counts, texts, vectors, chunk_rate = unique
    # Then 10,000 more documents (the target: adding 10k documents to a 1M index).
    main, more, ten_thousand = repeated(base, counts, passages, 0.01, then=10_000)
    documents = as_documents(main)
    stored = StoredVectors(texts, vectors, args.noise, seed=passages, mode=args.vectors,
                           pool=real_vector_pool(Path(args.cache)))
    embedding_cache.encode_passages_cached = stored
    kind = vector_kind(args, passages)
    memo = passages > args.memo_chunking_above
    if memo:
        from hybridsearch.corpus.chunking import Chunker

        chunk_memo(Chunker)
    result: dict[str, Any] = {
        "passages": passages, "documents": len(main), "vector_kind": kind,
        "vector_settings": vector_settings(args, kind), "vector_mode": args.vectors,
        "chunking": "memoised (repeats reuse the first copy's spans)" if memo else "real",
    }
    print(f"== {passages} passages, {len(main)} documents, {kind}", flush=True)
    started = time.perf_counter()
    index = HybridIndex.build(documents, model=encoder, vectors=vector_settings(args, kind))
    result["build_s"] = round(time.perf_counter() - started, 2)
    result["build_stages_s"] = {k: round(v, 2) for k, v in index.build_info.seconds.items()}
    result["build_stages_note"] = (
        f"encode = stored-vector lookup, {args.vectors} (no model run); vectors = metadata "
        "columns" + {"hnsw": " + HNSW graph", "ivf": " + IVF index"}.get(kind, "")
    )
    if memo:
        result["chunk_s_extrapolated_real"] = round(chunk_rate * len(main), 1)
    folder = Path(args.work) / f"living_{passages}"
    shutil.rmtree(folder, ignore_errors=True)
    started = time.perf_counter()
    index.save(folder)
    result["save_s"] = round(time.perf_counter() - started, 2)
    del index, documents
    gc.collect()
    result["disk_mb"] = round(disk_bytes(folder) / 2**20, 1)
    result["vectors_mb"] = round(stored.made[0].nbytes / 2**20, 1)
    del stored
    gc.collect()
    print(json.dumps(result), flush=True)
    result |= measure_saved(args, folder, queries, encoder)
    result["updates"] = update_figures(folder, more, main, encoder, ten_thousand)
    return result


def vector_kind(args: argparse.Namespace, passages: int) -> str:
    """The dense index kind at this size: hnsw, ivf, or flat (exact)."""
    if passages in args.hnsw_sizes:
        return "hnsw"
    return "ivf" if passages in args.ivf_sizes else "flat"


def vector_settings(args: argparse.Namespace, kind: str) -> dict[str, Any]:
    """The VectorSettings fields this run builds with."""
    return {"kind": kind, "hnsw_m": args.hnsw_m, "ef_construction": args.ef_construction,
            "ef_search": args.ef_search, "ivf_lists": args.ivf_lists, "ivf_probe": args.ivf_probe,
            "ivf_codes": args.ivf_codes}


def measure_saved(args: argparse.Namespace, folder: Path, queries: list[str],
                  encoder: Any) -> dict[str, Any]:
    """Load probes (fresh processes), then query figures (and any nprobe/ef sweep)."""
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    result: dict[str, Any] = {"vector_settings": manifest["settings"]["vectors"]}
    for verify in (False, True, "background"):
        result[f"load_verify_{verify}"] = load_probe(folder, verify, frozen=False, data=args.data)
    print(json.dumps(result), flush=True)
    if int(folder.name.rsplit("_", 1)[-1]) >= 500_000:  # living_<passages>
        queries = queries[: args.queries_large]
    result["queries_run"] = len(queries)
    result["queries"] = query_figures(folder, queries, encoder)
    sweep = [("ivf_probe", value) for value in args.probe_values]
    sweep += [("ef_search", value) for value in args.ef_values]
    if sweep:
        result["search_sweep"] = [
            {name: value} | query_figures(folder, queries, encoder, override=(name, value),
                                          modes=("dense", "hybrid"))
            for name, value in sweep
        ]
    print(json.dumps(result), flush=True)
    return result


def query_figures(folder: Path, queries: list[str], encoder: Any,
                  override: tuple[str, int] | None = None,
                  modes: tuple[str, ...] = MODES) -> dict[str, Any]:
    """p50/p95 per mode, unfiltered and filtered, and dense recall@10 against exact search.

    The exact answer comes from the index's own vectors and live and filtered passages (its
    snapshot), so it holds for a reused index after updates as well. ``override``: search
    with another ``ivf_probe`` or ``ef_search`` than the manifest's (a benchmark-only swap
    of the snapshot's setting before its vector search is first made).
    """
    from hybridsearch import HybridIndex
    from hybridsearch.search.filters import parse_filter

    index = HybridIndex.load(folder, model=encoder, verify_checksums=False)
    snapshot = index.snapshot
    if override is not None:
        setattr(snapshot, override[0], override[1])
        snapshot.__dict__.pop("vectors", None)  # a cached_property: rebuilt with the override
    # Hits show live-order passage ids: the exact answer ranks the live rows in that order.
    live = np.concatenate(snapshot.live_passages)
    vectors = np.concatenate([np.asarray(segment.vectors) for segment in snapshot.segments])[live]
    passing = np.concatenate(snapshot.allowed(parse_filter(FILTER))[0])[live]
    query_vectors = np.asarray(encoder.encode_queries(queries), dtype=np.float32)
    figures: dict[str, Any] = {}
    for filter_spec in (None, FILTER):
        for mode in modes:
            options = {"mode": mode} | ({"filter": filter_spec} if filter_spec else {})
            row = timed_queries(index, queries, **options)
            row.pop("_hits")
            if mode == "dense":
                extra = {"filter": filter_spec} if filter_spec else {}
                hits = passage_hits(index, queries, **extra)
                allowed = None if filter_spec is None else passing
                row["recall_at_10_vs_exact"] = dense_recall(hits, vectors, query_vectors, allowed)
            name = f"{mode}{'_filtered' if filter_spec else ''}"
            figures[name] = row
            print(name, {k: v for k, v in row.items() if k != "plan"}, flush=True)
    return figures


def update_figures(folder: Path, more: list[dict], main: list[dict], encoder: Any,
                   ten_thousand: list[dict] | None = None) -> dict:
    """Add 1% more documents + commit, then delete 1% + commit (stored vectors again); then
    add ``ten_thousand`` more documents + commit."""
    from hybridsearch import HybridIndex

    figures: dict[str, Any] = {}
    started = time.perf_counter()
    index = HybridIndex.open(folder, model=encoder)
    figures["open_for_writing_s"] = round(time.perf_counter() - started, 3)
    new = as_documents(more)
    started = time.perf_counter()
    index.add(new)
    figures["add_s"] = round(time.perf_counter() - started, 2)
    started = time.perf_counter()
    index.commit()
    figures["add_commit_s"] = round(time.perf_counter() - started, 2)
    figures["added_documents"] = len(new)
    rng = np.random.default_rng(0)
    doomed = [main[n]["id"] for n in rng.choice(len(main), len(main) // 100, replace=False)]
    started = time.perf_counter()
    index.delete(doomed)
    figures["delete_s"] = round(time.perf_counter() - started, 2)
    started = time.perf_counter()
    index.commit()
    figures["delete_commit_s"] = round(time.perf_counter() - started, 2)
    figures["deleted_documents"] = len(doomed)
    figures["segments_after"] = index.num_segments
    if ten_thousand:
        passages_before = index.num_passages
        started = time.perf_counter()
        index.add(as_documents(ten_thousand))
        index.commit()
        figures["add_10k_documents_and_commit_s"] = round(time.perf_counter() - started, 2)
        figures["add_10k_documents"] = len(ten_thousand)
        figures["add_10k_passages"] = index.num_passages - passages_before
        figures["segments_after_10k"] = index.num_segments
    index.close()
    return figures


# -- the frozen index -----------------------------------------------------------------------


def run_frozen(args: argparse.Namespace, base: list[dict], queries: list[str], passages: int,
               unique: tuple) -> dict[str, Any]:
    """(Run under PYTHONPATH=<--frozen-checkout>) the same corpus through today's frozen index."""
    from hybridsearch.chunking import Chunker
    from hybridsearch.documents import Document
    from hybridsearch.encoder import Encoder

    import hybridsearch.index as frozen_index
    from hybridsearch import HybridIndex

    counts, texts, vectors, rate = unique
    main, _, _ = repeated(base, counts, passages, 0.01)
    memo = passages > args.memo_chunking_above
    if memo:
        chunk_memo(Chunker)
    stored = StoredVectors(texts, vectors, args.noise, seed=passages)
    frozen_index._encode_passages = stored
    encoder = Encoder(MODEL)
    documents = as_documents(main, Document)
    started = time.perf_counter()
    index = HybridIndex.build(documents, model=encoder)
    result = {"passages": passages, "documents": len(main),
              "build_s": round(time.perf_counter() - started, 2),
              "build_stages_s": {k: round(v, 2) for k, v in index.build_seconds.items()},
              "chunking": "memoised (repeats reuse the first copy's spans)" if memo else "real"}
    if memo:
        result["chunk_s_extrapolated_real"] = round(rate * len(main), 1)
    folder = Path(args.work) / f"frozen_{passages}"
    shutil.rmtree(folder, ignore_errors=True)
    started = time.perf_counter()
    index.save(folder)
    result["save_s"] = round(time.perf_counter() - started, 2)
    del index
    gc.collect()
    result["disk_mb"] = round(disk_bytes(folder) / 2**20, 1)
    for verify in (False, True):
        result[f"load_verify_{verify}"] = load_probe(folder, verify, frozen=True, data=args.data)
    index = HybridIndex.load(folder, model=encoder, verify_checksums=False)
    query_vectors = np.asarray(encoder.encode_queries(queries), dtype=np.float32)
    result["queries"] = {}
    for mode in MODES:
        row = timed_queries(index, queries, mode=mode)
        row.pop("_hits")
        if mode == "dense":
            hits = passage_hits(index, queries)
            row["recall_at_10_vs_exact"] = dense_recall(hits, stored.made[0], query_vectors, None)
        result["queries"][mode] = row
    result["cannot"] = "filter, add, delete (the frozen index has neither)"
    return result


# -- driver ---------------------------------------------------------------------------------


def unique_passages(base: list[dict], cache: Path) -> tuple:
    """Chunk each distinct document once (timed); its passages' stored vectors."""
    if frozen_layout():  # read what the living run stored
        data = np.load(Path(cache) / "scale_unique.npz", allow_pickle=False)
        return (data["counts"].tolist(), data["texts"].tolist(), data["vectors"],
                float(data["rate"]))
    from hybridsearch.corpus.chunking import Chunker, ChunkingSettings
    from hybridsearch.corpus.documents import Document
    from hybridsearch.dense.embedding_cache import encode_passages_cached
    from hybridsearch.dense.encoder import Encoder

    encoder = Encoder(MODEL)
    chunker = Chunker.for_encoder(encoder, ChunkingSettings())
    documents = [Document(d["_id"], d["text"], d.get("title") or "") for d in base]
    started = time.perf_counter()
    passages, _ = chunker.chunk(documents)
    rate = (time.perf_counter() - started) / len(documents)
    counts_of: dict[str, int] = {}
    for passage in passages:
        counts_of[passage.doc_id] = counts_of.get(passage.doc_id, 0) + 1
    texts = list(dict.fromkeys(p.indexed_text for p in passages))
    vectors = encode_passages_cached(encoder, texts, cache)
    counts = [counts_of[d["_id"]] for d in base]
    np.savez(Path(cache) / "scale_unique.npz", counts=np.array(counts), texts=np.array(texts),
             vectors=vectors, rate=rate)
    return counts, texts, vectors, rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=default_data_path("scifact"))
    parser.add_argument("--sizes", type=int, nargs="*", default=[100_000, 1_000_000])
    parser.add_argument("--frozen-sizes", type=int, nargs="*", default=[100_000])
    parser.add_argument(
        "--frozen-checkout",
        default="",
        help="a checkout of the first release for the frozen rows "
        "(git worktree add DIR 8d443fc); without it --frozen-sizes is skipped",
    )
    parser.add_argument("--hnsw-sizes", type=int, nargs="*", default=[])
    parser.add_argument("--ivf-sizes", type=int, nargs="*", default=[])
    parser.add_argument("--hnsw-m", type=int, default=32)
    parser.add_argument("--ef-construction", type=int, default=200)
    parser.add_argument("--ef-search", type=int, default=128)
    parser.add_argument("--ivf-lists", type=int, default=2048)
    parser.add_argument("--ivf-probe", type=int, default=64)
    parser.add_argument("--ivf-codes", choices=("sq8", "flat"), default="sq8")
    parser.add_argument("--vectors", choices=VECTOR_MODES, default="noisy-copies")
    parser.add_argument("--queries-only", action="store_true",
                        help="reuse the indexes in --work: load, queries and recall only")
    parser.add_argument("--probe-values", type=int, nargs="*", default=[],
                        help="also search with each IVF nprobe (queries, recall)")
    parser.add_argument("--ef-values", type=int, nargs="*", default=[],
                        help="also search with each HNSW efSearch (queries, recall)")
    parser.add_argument("--memo-chunking-above", type=int, default=0)
    parser.add_argument("--noise", type=float, default=0.3)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--queries-large", type=int, default=50, help="queries at >= 500k")
    parser.add_argument("--work", default="/tmp/scale_bench")
    parser.add_argument("--cache", default=str(Path(__file__).parent / "cache"))
    parser.add_argument("--name", default="scale")
    parser.add_argument("--frozen-only", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--probe", help=argparse.SUPPRESS)
    parser.add_argument("--verify", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    FROZEN_CHECKOUT["path"] = args.frozen_checkout
    if not args.frozen_checkout and not args.frozen_only:
        args.frozen_sizes = []  # no checkout of the first release to run the frozen rows with
    single_thread_environment()  # before torch and faiss load: no pools fighting 2 cores
    base, queries = read_scifact(args.data, args.queries)
    if args.probe:
        _probe(args.probe, {0: False, 1: True, 2: "background"}[args.verify], queries)
        return
    Path(args.work).mkdir(parents=True, exist_ok=True)
    unique = unique_passages(base, Path(args.cache))
    if args.frozen_only:
        for size in args.frozen_sizes:
            print(json.dumps(run_frozen(args, base, queries, size, unique)), flush=True)
        return
    results_path = Path(args.work) / f"{args.name}_partial.json"
    payload: dict[str, Any] = {"setup": setup_note(args, unique), "living": [], "frozen": []}
    from hybridsearch.dense.encoder import Encoder

    encoder = Encoder(MODEL)
    for size in args.sizes:
        if args.queries_only:
            folder = Path(args.work) / f"living_{size}"
            row = {"passages": size, "reused_index": str(folder)}
            payload["living"].append(row | measure_saved(args, folder, queries, encoder))
        else:
            payload["living"].append(run_size(args, base, queries, size, unique, encoder))
        results_path.write_text(json.dumps(payload, indent=1))
        write_results(args.name, payload)
    for size in args.frozen_sizes:
        env = dict(os.environ, PYTHONPATH=FROZEN_CHECKOUT["path"])
        command = [sys.executable, __file__, "--frozen-only", "--frozen-sizes", str(size),
                   "--frozen-checkout", args.frozen_checkout,
                   "--memo-chunking-above", str(args.memo_chunking_above),
                   "--noise", str(args.noise), "--work", args.work, "--cache", args.cache,
                   "--data", str(args.data)]
        output = subprocess.run(command, env=env, capture_output=True, text=True)
        if output.returncode:
            payload["frozen"].append({"passages": size, "error": output.stderr[-2000:]})
        else:
            payload["frozen"].append(json.loads(output.stdout.strip().splitlines()[-1]))
        write_results(args.name, payload)
    write_markdown(payload, RESULTS_DIR / f"{args.name}.md")
    print(json.dumps(payload, indent=1))


def write_markdown(payload: dict[str, Any], path: Path) -> None:
    """A short table of the figures (benchmarks/results/<name>.md), and any search sweep."""
    lines = [
        "# Scale benchmark (benchmarks/scale.py)", "",
        f"Passage vectors NOT encoded: {payload['setup']['vectors']}. Chunking memoised for "
        "repeated texts (real rate extrapolated). "
        f"{payload['setup']['machine_load']}. Details in the .json beside this file.", "",
        "| index | passages | dense index | build s (chunk / bm25 / encode-lookup / vectors) "
        "| chunk s if real | add 1% + commit s | delete 1% + commit s "
        "| load s (no verify / verify) | RSS after load MB | disk MB | p50/p95 ms bm25 | dense "
        "| hybrid | filtered bm25 | dense | hybrid | dense recall@10 (filtered) |",
        "|" + "---|" * 17,
    ]
    sweeps, ten_thousands = [], []
    for name, rows in (("living", payload["living"]), ("frozen", payload["frozen"])):
        for row in rows:
            if "error" not in row:
                lines.append(_markdown_row(name, row))
                sweeps += [(row["passages"], entry) for entry in row.get("search_sweep", [])]
                updates = row.get("updates", {})
                if "add_10k_documents_and_commit_s" in updates:
                    ten_thousands.append(
                        f"At {row['passages']} passages, adding {updates['add_10k_documents']} "
                        f"documents ({updates['add_10k_passages']} passages) + commit took "
                        f"{updates['add_10k_documents_and_commit_s']} s."
                    )
    if ten_thousands:
        lines += ["", *ten_thousands]
    if sweeps:
        lines += ["", "Search-time sweep (same index; p50/p95 ms; dense recall@10 vs exact):", "",
                  "| passages | setting | dense | hybrid | filtered dense | filtered hybrid "
                  "| recall@10 (filtered) |", "|---|---|---|---|---|---|---|"]
        for passages, entry in sweeps:
            setting = ", ".join(f"{k} {v}" for k, v in entry.items() if k not in _FIGURES)
            cells = [f"{entry[k]['p50_ms']:.0f}/{entry[k]['p95_ms']:.0f}" for k in _FIGURES]
            lines.append(
                f"| {passages} | {setting} | " + " | ".join(cells)
                + f" | {entry['dense']['recall_at_10_vs_exact']} "
                f"({entry['dense_filtered']['recall_at_10_vs_exact']}) |"
            )
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


_FIGURES = ("dense", "hybrid", "dense_filtered", "hybrid_filtered")


def _markdown_row(name: str, row: dict[str, Any]) -> str:
    """One index's line of the table (n/a where a figure was not measured)."""
    stages = row.get("build_stages_s")
    queries = row["queries"]
    updates = row.get("updates", {})

    def cell(key: str) -> str:
        if key not in queries:
            return "n/a"
        return f"{queries[key]['p50_ms']:.0f}/{queries[key]['p95_ms']:.0f}"

    recall = queries.get("dense", {}).get("recall_at_10_vs_exact", "n/a")
    recall_f = queries.get("dense_filtered", {}).get("recall_at_10_vs_exact", "n/a")
    add = f"{updates['add_s'] + updates['add_commit_s']:.1f}" if updates else "n/a"
    delete = f"{updates['delete_s'] + updates['delete_commit_s']:.2f}" if updates else "n/a"
    build = "reused" if stages is None else (
        f"{row['build_s']:.0f} ("
        + " / ".join(f"{stages.get(k, 0):.1f}" for k in ("chunk", "bm25", "encode"))
        + f" / {stages.get('vectors', stages.get('faiss', 0)):.1f})"
    )
    settings = row.get("vector_settings", {})
    kind = settings.get("kind", row.get("vector_kind", "flat"))
    dense = {"hnsw": f"hnsw M {settings.get('hnsw_m')} efC {settings.get('ef_construction')} "
                     f"efS {settings.get('ef_search')}",
             "ivf": f"ivf {settings.get('ivf_codes', 'flat')} nprobe {settings.get('ivf_probe')}",
             }.get(kind, "exact")
    return (
        f"| {name} | {row['passages']} | {dense} | {build} "
        f"| {row.get('chunk_s_extrapolated_real', 'n/a')} | {add} | {delete} "
        f"| {row['load_verify_False']['load_s']:.2f} / {row['load_verify_True']['load_s']:.2f} "
        f"| {row['load_verify_False']['rss_after_load_mb']:.0f} | {row.get('disk_mb', 'n/a')} "
        f"| {cell('bm25')} | {cell('dense')} | {cell('hybrid')} | {cell('bm25_filtered')} "
        f"| {cell('dense_filtered')} | {cell('hybrid_filtered')} | {recall} ({recall_f}) |"
    )


def setup_note(args: argparse.Namespace, unique: tuple) -> dict[str, Any]:
    """How the corpus, vectors and timings were made (recorded with the figures)."""
    return {
        "corpus": "scifact documents (title + text) repeated with new ids; real chunking of "
                  "each distinct text (a document may be several passages)",
        "distinct_passages": len(unique[1]),
        "chunk_ms_per_document_real": round(unique[3] * 1000, 3),
        "vectors": (
            f"NOT encoded: stored all-MiniLM-L6-v2 vectors of the {len(unique[1])} distinct "
            f"scifact passages, each repeat plus Gaussian noise of relative norm {args.noise}, "
            "renormalised (noisy-copies)" if args.vectors == "noisy-copies" else
            "NOT encoded, 'realistic synthetic': each passage a normalised mixture of its "
            "stored all-MiniLM-L6-v2 vector and 1-2 other real passage vectors (scifact + "
            "nfcorpus, Dirichlet weights) plus noise of relative norm 0.05; NOT real data"
        ) + "; queries encoded by the real model",
        "vector_mode": args.vectors,
        "filter": f"{FILTER} (10% of the documents)",
        "queries": f"first {args.queries} scifact test queries, k=10, one search at a time",
        "latency": "end to end per search, query encoding included (query_encode_p50_ms)",
        "recall": "dense recall@10 of the engine's dense leg against numpy brute force over "
                  "the same vectors (with the filter: over the passing passages)",
        "rss": "fresh process: RSS after HybridIndex.load minus RSS with the encoder loaded",
        "memo_chunking_above": args.memo_chunking_above,
        "hnsw_sizes": args.hnsw_sizes, "ivf_sizes": args.ivf_sizes,
        "vector_settings": vector_settings(args, "as per size"),
        "machine_load": "2 shared cores; load average (1, 5, 15 min) when the run started: "
                        + ", ".join(f"{x:.2f}" for x in os.getloadavg()),
    }


if __name__ == "__main__":
    main()
