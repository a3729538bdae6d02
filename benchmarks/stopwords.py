"""Stopwords: does a fuller English list, or dropping question words from queries only, help?

    python benchmarks/stopwords.py --cache-dir ../main/benchmarks/cache

For scifact (train queries) and nfcorpus (dev queries), never their test queries, builds the
index once per analyzer variant and scores BM25 and hybrid (RRF) document rankings with
pytrec_eval (nDCG@10, Recall@100, MRR@10; :func:`hybridsearch.eval.runs.evaluate_index`).
Passage vectors come from the embedding cache, so nothing is re-encoded, and one encoder
serves every variant with its query vectors remembered, so each query is encoded once per
dataset. Each variant's per-query nDCG@10 is compared with the default's by a paired
randomization test (sign flips of the per-query differences, two-sided). Variants
(:mod:`hybridsearch.sparse.stopwords`):

- ``lucene``: Lucene's 33 words for passages and queries (the default);
- ``full``: NLTK's English list (153 words) for passages and queries;
- ``lucene+questions``: Lucene's list, and the question words dropped from queries only.

Writes ``benchmarks/results/stopwords.json`` (every figure, machine, versions) and
``benchmarks/results/stopwords.md`` (the table).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
from _common import (
    REPO_ROOT,
    RESULTS_DIR,
    default_data_path,
    paired_p_value,
    remember_query_vectors,
    write_results,
)

from hybridsearch import HybridIndex, read_corpus
from hybridsearch.dense.encoder import Encoder
from hybridsearch.eval.beir import load_beir
from hybridsearch.eval.metrics import evaluate_per_query, run_from_ranked
from hybridsearch.eval.runs import search_run

#: Dataset -> the split whose queries choose settings (never "test").
DATASETS = {"scifact": "train", "nfcorpus": "dev"}

VARIANTS = {
    "lucene": {"stopwords": "lucene"},
    "full": {"stopwords": "full"},
    "lucene+questions": {"stopwords": "lucene", "query_stopwords": "questions"},
}

MODES = {"bm25": {"mode": "bm25"}, "hybrid": {"mode": "hybrid", "fusion": "rrf"}}
METRICS = ("ndcg@10", "recall@100", "mrr@10")
PERMUTATIONS = 20_000


def _measure(data_dir: Path, split: str, cache_dir: Path) -> dict:
    """Per variant: build seconds, per mode the mean metrics over the split's queries, and
    the paired test of its nDCG@10 against the default's."""
    dataset = load_beir(data_dir, split=split)
    documents = list(read_corpus(data_dir))
    encoder = remember_query_vectors(Encoder())
    figures: dict = {"split": split, "queries": len(dataset.queries), "variants": {}}
    per_query_ndcg: dict[tuple[str, str], np.ndarray] = {}
    for variant, analyzer in VARIANTS.items():
        started = time.perf_counter()
        index = HybridIndex.build(
            documents, model=encoder, analyzer=analyzer, embedding_cache=cache_dir
        )
        built = time.perf_counter() - started
        quality = {}
        for label, options in MODES.items():
            ranked = search_run(index, dataset.queries, **options)
            per_query = evaluate_per_query(run_from_ranked(ranked), dataset.qrels, METRICS)
            quality[label] = {
                metric: float(np.mean([scores[metric] for scores in per_query.values()]))
                for metric in METRICS
            }
            per_query_ndcg[variant, label] = np.array(
                [per_query[query_id]["ndcg@10"] for query_id in sorted(per_query)]
            )
            if variant != "lucene":
                differences = per_query_ndcg[variant, label] - per_query_ndcg["lucene", label]
                p_value = paired_p_value(differences, PERMUTATIONS)
                quality[label]["ndcg@10_p_value_vs_lucene"] = p_value
                quality[label]["queries_better_worse"] = [
                    int((differences > 1e-12).sum()),
                    int((differences < -1e-12).sum()),
                ]
            print(
                f"{data_dir.name} {split} {variant:<17} {label:<7} "
                + "  ".join(f"{metric} {value}" for metric, value in quality[label].items()),
                file=sys.stderr,
            )
        figures["variants"][variant] = {
            "analyzer": analyzer,
            "build_seconds": built,
            "quality": quality,
        }
        index.close()
    return figures


def _cell(quality: dict, mode: str, baseline: dict | None) -> str:
    value = quality[mode]["ndcg@10"]
    if baseline is None:
        return f"{value:.4f}"
    better, worse = quality[mode]["queries_better_worse"]
    p_value = quality[mode]["ndcg@10_p_value_vs_lucene"]
    p_text = "p<0.001" if p_value < 0.001 else f"p={p_value:.3f}"
    return f"{value:.4f} ({value - baseline[mode]['ndcg@10']:+.4f}, {p_text}, {better}+/{worse}-)"


def _markdown(results: dict) -> str:
    lines = [
        "# Stopwords: BM25 and hybrid (RRF) nDCG@10 per analyzer variant",
        "",
        "Train/dev queries only (scifact train, nfcorpus dev), never test; document results;",
        "pytrec_eval. In brackets: the difference from the default (`lucene`), the two-sided",
        "p-value of a paired randomization test on per-query nDCG@10, and how many queries",
        "gained / lost. Written by `benchmarks/stopwords.py`; every figure is in",
        "`stopwords.json`.",
        "",
        "| dataset (split, queries) | variant | BM25 nDCG@10 | hybrid nDCG@10 | BM25 R@100 |"
        " hybrid R@100 |",
        "|---|---|---|---|---|---|",
    ]
    for name, figures in results.items():
        baseline = figures["variants"]["lucene"]["quality"]
        for variant, data in figures["variants"].items():
            quality = data["quality"]
            reference = None if variant == "lucene" else baseline
            lines.append(
                f"| {name} ({figures['split']}, {figures['queries']}) | {variant} | "
                f"{_cell(quality, 'bm25', reference)} | {_cell(quality, 'hybrid', reference)} | "
                f"{quality['bm25']['recall@100']:.4f} | {quality['hybrid']['recall@100']:.4f} |"
            )
    lines += ["", *_verdicts(results)]
    return "\n".join(lines) + "\n"


def _verdicts(results: dict) -> list[str]:
    """The rule the default follows, and what it says of each variant."""
    lines = [
        "The default analyzer changes only for a variant that gains nDCG@10 in BM25 and in",
        "hybrid on both datasets, each gain significant (p < 0.05):",
        "",
    ]
    variants = [variant for variant in VARIANTS if variant != "lucene"]
    for variant in variants:
        gains = [
            (name, mode, figures["variants"][variant]["quality"][mode])
            for name, figures in results.items()
            for mode in MODES
        ]
        failing = [
            f"{mode} on {name}"
            for name, mode, quality in gains
            if not (
                quality["ndcg@10"] > results[name]["variants"]["lucene"]["quality"][mode]["ndcg@10"]
                and quality["ndcg@10_p_value_vs_lucene"] < 0.05
            )
        ]
        verdict = "supported" if not failing else "not supported (" + ", ".join(failing) + ")"
        lines.append(f"- `{variant}`: {verdict}.")
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--cache-dir",
        type=Path,
        default=REPO_ROOT / "benchmarks" / "cache",
        help="passage-vector cache (default benchmarks/cache)",
    )
    parser.add_argument("--datasets", nargs="*", default=list(DATASETS), choices=list(DATASETS))
    parser.add_argument(
        "--markdown-only",
        action="store_true",
        help="rewrite stopwords.md from the figures in stopwords.json, measuring nothing",
    )
    args = parser.parse_args()
    if args.markdown_only:
        results = json.loads((RESULTS_DIR / "stopwords.json").read_text())["datasets"]
        (RESULTS_DIR / "stopwords.md").write_text(_markdown(results))
        return 0
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
