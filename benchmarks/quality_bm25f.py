"""BM25F: does weighting the carried title apart from the body help, alone or fused?

    python benchmarks/quality_bm25f.py --data ../shared/beir/scifact --tune-split train
    python benchmarks/quality_bm25f.py --data ../shared/beir/nfcorpus --tune-split dev

For each title weight (``BM25Settings.title_weight`` in 1, 2, 3, 5; 1 is today's BM25 over
title + body) the index is built once (passage vectors from the embedding cache given by
``--cache-dir``, so nothing is re-encoded; one encoder serves every weight with its query
vectors remembered, so each query is encoded once), then:

- BM25 alone: per-query nDCG@10 on the tuning split (paired randomization test against weight
  1) and the mean on test;
- tuned hybrid: the fusion ``hybridsearch tune`` fits on the tuning split (``tune_fusion``,
  5-fold cross-validated estimate), that tuned setting's per-query nDCG@10 on the tuning split
  (in-sample, paired test against weight 1's tuned setting) and on test.

The weight is chosen per mode on the tuning split only (BM25: its mean nDCG@10; hybrid: the
cross-validated estimate), never on test; every weight's test figure is reported with the
choice marked. Writes ``benchmarks/results/quality_bm25f_<dataset>.json``;
``quality.py --markdown-only`` puts the section (:func:`bm25f_section`) in ``quality.md``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
from _common import (
    CACHE_DIR,
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
from hybridsearch.eval.tuning import tune_fusion

WEIGHTS = (1, 2, 3, 5)
PERMUTATIONS = 20_000


def _per_query_ndcg(index: HybridIndex, dataset, options: dict) -> np.ndarray:
    """nDCG@10 of each judged query, in query-id order, of the ranking the index shows."""
    per_query = evaluate_per_query(
        run_from_ranked(search_run(index, dataset.queries, **options)), dataset.qrels, ["ndcg@10"]
    )
    return np.array([per_query[query_id]["ndcg@10"] for query_id in sorted(per_query)])


def _measure_weight(index: HybridIndex, tuning, test) -> tuple[dict, dict[str, np.ndarray]]:
    """One weight's figures, and its per-query nDCG@10 on the tuning split per mode."""
    started = time.perf_counter()
    bm25_tuning = _per_query_ndcg(index, tuning, {"mode": "bm25"})
    bm25_test = _per_query_ndcg(index, test, {"mode": "bm25"})
    result = tune_fusion(index.leg_candidates(tuning.queries), tuning.qrels)
    options = {"mode": "hybrid", **result.tuned.search_options()}
    hybrid_tuning = _per_query_ndcg(index, tuning, options)
    hybrid_test = _per_query_ndcg(index, test, options)
    figures = {
        "bm25": {"tuning": float(bm25_tuning.mean()), "test": float(bm25_test.mean())},
        "hybrid_tuned": {
            "setting": result.best.describe(),
            "kept": result.tuned.kept,
            "options": result.tuned.search_options(),
            "cv_estimate": result.estimate,
            "tuning_in_sample": float(hybrid_tuning.mean()),
            "test": float(hybrid_test.mean()),
            "leg_estimates": dict(result.leg_estimates),
            "untuned_rrf_tuning": result.default_rrf,
        },
        "seconds": time.perf_counter() - started,
    }
    return figures, {"bm25": bm25_tuning, "hybrid_tuned": hybrid_tuning}


def measure(data_dir: Path, split: str, cache_dir: Path) -> dict:
    """Every weight on one dataset: figures, paired tests against weight 1, the choices."""
    tuning, test = load_beir(data_dir, split=split), load_beir(data_dir, split="test")
    documents = list(read_corpus(data_dir))
    encoder = remember_query_vectors(Encoder())
    weights: dict[str, dict] = {}
    per_query: dict[int, dict[str, np.ndarray]] = {}
    for weight in WEIGHTS:
        started = time.perf_counter()
        index = HybridIndex.build(
            documents, model=encoder, bm25={"title_weight": weight}, embedding_cache=cache_dir
        )
        built = time.perf_counter() - started
        figures, per_query[weight] = _measure_weight(index, tuning, test)
        figures["build_seconds"] = built
        for mode in ("bm25", "hybrid_tuned"):
            if weight != 1:
                differences = per_query[weight][mode] - per_query[1][mode]
                figures[mode]["p_value_vs_1"] = paired_p_value(differences, PERMUTATIONS)
                figures[mode]["queries_better_worse"] = [
                    int((differences > 1e-12).sum()),
                    int((differences < -1e-12).sum()),
                ]
        weights[str(weight)] = figures
        print(f"{data_dir.name} title_weight {weight}: {json.dumps(figures)}", file=sys.stderr)
        index.close()
    chosen = {
        "bm25": max(WEIGHTS, key=lambda w: weights[str(w)]["bm25"]["tuning"]),
        "hybrid_tuned": max(WEIGHTS, key=lambda w: weights[str(w)]["hybrid_tuned"]["cv_estimate"]),
    }
    return {
        "dataset": data_dir.name,
        "tune_split": split,
        "tuning_queries": len(tuning.qrels),
        "test_queries": len(test.qrels),
        "weights": weights,
        "chosen_on_tuning_split": chosen,
    }


def bm25f_section(results: list[dict]) -> list[str]:
    """quality.md's BM25F section, from the ``quality_bm25f_<dataset>.json`` files."""
    lines = [
        "## BM25F: the carried title weighted apart from the body",
        "",
        "`python benchmarks/quality_bm25f.py --data ../shared/beir/<dataset> --tune-split "
        "<split>` (`BM25Settings(title_weight=w)`: title terms count w times in tf and length, "
        "Robertson, Zaragoza & Taylor 2004; w = 1 is today's BM25 over title + body). nDCG@10; "
        "the weight is chosen per mode on the tuning split (BM25: its mean; tuned hybrid: the "
        "cross-validated estimate of `tune`), marked **chosen**; test is reported for every "
        "weight. p: paired randomization test against w = 1 on the tuning split (for the "
        "tuned hybrid, each weight's own tuned setting, in-sample).",
        "",
        "| dataset | w | BM25 tuning (p) | BM25 test | tuned hybrid CV | in-sample (p) | "
        "test | tuned setting |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for result in results:
        chosen = result["chosen_on_tuning_split"]
        for weight, figures in result["weights"].items():
            bm25, hybrid = figures["bm25"], figures["hybrid_tuned"]
            lines.append(
                f"| {result['dataset']} ({result['tune_split']}) | {weight} | "
                f"{_cell(bm25['tuning'], bm25.get('p_value_vs_1'))}"
                f"{' **chosen**' if int(weight) == chosen['bm25'] else ''} | "
                f"{bm25['test']:.4f} | {hybrid['cv_estimate']:.4f}"
                f"{' **chosen**' if int(weight) == chosen['hybrid_tuned'] else ''} | "
                f"{_cell(hybrid['tuning_in_sample'], hybrid.get('p_value_vs_1'))} | "
                f"{hybrid['test']:.4f} | {hybrid['setting']} |"
            )
    lines += ["", *_verdict(results), ""]
    return lines


def _verdict(results: list[dict]) -> list[str]:
    """Whether the weight earns a default: chosen (w != 1) in both modes on every dataset."""
    chosen = {
        (result["dataset"], mode): weight
        for result in results
        for mode, weight in result["chosen_on_tuning_split"].items()
    }
    listed = ", ".join(
        f"{dataset} {mode.replace('_', ' ')}: w = {weight}"
        for (dataset, mode), weight in sorted(chosen.items())
    )
    if all(weight != 1 for weight in chosen.values()):
        return [f"Chosen on the tuning splits: {listed}. A weight above 1 wins everywhere."]
    return [
        f"Chosen on the tuning splits: {listed}. The rule for a new default (as for the "
        "stopwords) is a gain in both modes on both datasets; that does not hold, so "
        "`title_weight` stays an option, default 1 (plain BM25 over title + body)."
    ]


def _cell(value: float, p_value: float | None) -> str:
    return f"{value:.4f}" + ("" if p_value is None else f" ({p_value:.3f})")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=default_data_path("scifact"))
    parser.add_argument("--tune-split", default="train")
    parser.add_argument(
        "--cache-dir",
        type=Path,
        default=CACHE_DIR,
        help="passage-vector cache (every passage of every weight is the same text)",
    )
    args = parser.parse_args()
    if args.tune_split == "test":
        parser.error("settings are chosen on train/dev queries, never on test")
    data_dir = args.data.resolve()
    payload = measure(data_dir, args.tune_split, args.cache_dir)
    path = write_results(f"quality_bm25f_{data_dir.name}", payload)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
