"""Stopwords: does a fuller English list, or dropping question words from queries only, help?

    python benchmarks/stopwords.py --cache-dir ../main/benchmarks/cache

For scifact (train queries) and nfcorpus (dev queries), never their test queries, builds the
index once per analyzer variant and scores BM25 and hybrid (RRF) document rankings with
pytrec_eval (nDCG@10, Recall@100, MRR@10; :func:`hybridsearch.eval.runs.evaluate_index`).
Passage vectors come from the embedding cache, so nothing is re-encoded; only the queries
are. Variants (:mod:`hybridsearch.sparse.stopwords`):

- ``lucene``: Lucene's 33 words for passages and queries (the default);
- ``full``: NLTK's English list (153 words) for passages and queries;
- ``lucene+questions``: Lucene's list, and the question words dropped from queries only.

Writes ``benchmarks/results/stopwords.json`` (every figure, machine, versions) and
``benchmarks/results/stopwords.md`` (the table).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from _common import REPO_ROOT, RESULTS_DIR, default_data_path, write_results

from hybridsearch import HybridIndex, read_corpus
from hybridsearch.eval.beir import load_beir
from hybridsearch.eval.runs import evaluate_index

#: Dataset -> the split whose queries choose settings (never "test").
DATASETS = {"scifact": "train", "nfcorpus": "dev"}

VARIANTS = {
    "lucene": {"stopwords": "lucene"},
    "full": {"stopwords": "full"},
    "lucene+questions": {"stopwords": "lucene", "query_stopwords": "questions"},
}

MODES = {"bm25": {"mode": "bm25"}, "hybrid": {"mode": "hybrid", "fusion": "rrf"}}
METRICS = ("ndcg@10", "recall@100", "mrr@10")


def _measure(data_dir: Path, split: str, cache_dir: Path) -> dict:
    """Per variant: build seconds, and per mode the metrics over the split's queries."""
    dataset = load_beir(data_dir, split=split)
    documents = list(read_corpus(data_dir))
    figures: dict = {"split": split, "queries": len(dataset.queries), "variants": {}}
    for variant, analyzer in VARIANTS.items():
        started = time.perf_counter()
        index = HybridIndex.build(documents, analyzer=analyzer, embedding_cache=cache_dir)
        built = time.perf_counter() - started
        index.encoder.progress = False
        quality = {}
        for label, options in MODES.items():
            scores = evaluate_index(index, dataset, metrics=METRICS, **options)
            quality[label] = {metric: scores[metric] for metric in METRICS}
            print(
                f"{data_dir.name} {split} {variant:<17} {label:<7} "
                + "  ".join(f"{metric} {value:.4f}" for metric, value in quality[label].items()),
                file=sys.stderr,
            )
        figures["variants"][variant] = {
            "analyzer": analyzer,
            "build_seconds": built,
            "quality": quality,
        }
        index.close()
    return figures


def _markdown(results: dict) -> str:
    lines = [
        "# Stopwords: BM25 and hybrid (RRF) nDCG@10 per analyzer variant",
        "",
        "Train/dev queries only (scifact train, nfcorpus dev); document results; pytrec_eval.",
        "Written by `benchmarks/stopwords.py`; every figure is in `stopwords.json`.",
        "",
        "| dataset (split, queries) | variant | BM25 nDCG@10 | hybrid nDCG@10 | BM25 R@100 |"
        " hybrid R@100 |",
        "|---|---|---|---|---|---|",
    ]
    for name, figures in results.items():
        baseline = figures["variants"]["lucene"]["quality"]
        for variant, data in figures["variants"].items():
            quality = data["quality"]
            cells = []
            for metric in ("ndcg@10", "recall@100"):
                for mode in ("bm25", "hybrid"):
                    value = quality[mode][metric]
                    delta = value - baseline[mode][metric]
                    cells.append(
                        f"{value:.4f}" + (f" ({delta:+.4f})" if variant != "lucene" else "")
                    )
            lines.append(
                f"| {name} ({figures['split']}, {figures['queries']}) | {variant} | "
                f"{cells[0]} | {cells[1]} | {cells[2]} | {cells[3]} |"
            )
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--cache-dir",
        type=Path,
        default=REPO_ROOT / "benchmarks" / "cache",
        help="passage-vector cache (default benchmarks/cache)",
    )
    parser.add_argument("--datasets", nargs="*", default=list(DATASETS), choices=list(DATASETS))
    args = parser.parse_args()
    results = {
        name: _measure(default_data_path(name), DATASETS[name], args.cache_dir)
        for name in args.datasets
    }
    path = write_results("stopwords", {"datasets": results})
    (RESULTS_DIR / "stopwords.md").write_text(_markdown(results))
    print(f"wrote {path} and {RESULTS_DIR / 'stopwords.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
