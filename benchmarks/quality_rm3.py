"""RM3 feedback on the BM25 leg: does it win on the tuning split, alone or fused?

    python benchmarks/quality_rm3.py --data ../shared/beir/nfcorpus --tune-split dev
    python benchmarks/quality_rm3.py --data ../shared/beir/scifact --tune-split train --bm25-only

Tunes as ``hybridsearch tune`` does with RM3 allowed (the grid of ``quality.py`` once with
plain BM25 and once with BM25+RM3; RM3 is kept only if the best setting on the tuning split
uses it), and measures BM25+RM3 alone on test (and the tuned setting, when it uses RM3).
``--bm25-only`` skips the fused part (no query is encoded): BM25 with and without RM3 on the
tuning and test splits. Writes ``benchmarks/results/quality_rm3_<dataset>.json``; ``quality.py``
puts its figures in ``quality.md``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from _common import REPO_ROOT, RESULTS_DIR, default_data_path, write_results

from hybridsearch import HybridIndex
from hybridsearch.eval.beir import load_beir
from hybridsearch.eval.runs import evaluate_index
from hybridsearch.eval.tuning import tune_fusion


def _bm25_rows(index: HybridIndex, data_dir: Path, splits: list[str]) -> dict:
    rows = {}
    for split in splits:
        dataset = load_beir(data_dir, split=split)
        for feedback in ("none", "rm3"):
            started = time.perf_counter()
            metrics = evaluate_index(index, dataset, mode="bm25", bm25_feedback=feedback)
            label = f"{split} bm25" + ("+rm3" if feedback == "rm3" else "")
            rows[label] = {**metrics, "seconds": time.perf_counter() - started}
            print(f"{label:<24} nDCG@10 {metrics['ndcg@10']:.4f}", file=sys.stderr, flush=True)
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=default_data_path("nfcorpus"))
    parser.add_argument("--tune-split", default="dev")
    parser.add_argument("--bm25-only", action="store_true")
    parser.add_argument(
        "--reuse-bm25", action="store_true", help="keep the BM25 rows of the last run's JSON"
    )
    args = parser.parse_args()
    data_dir = args.data.resolve()
    name = data_dir.name
    index = HybridIndex.load(REPO_ROOT / "indexes" / name)
    payload: dict = {"dataset": name, "tune_split": args.tune_split}
    previous = RESULTS_DIR / f"quality_rm3_{name}.json"
    if args.reuse_bm25 and previous.is_file():
        payload["bm25"] = json.loads(previous.read_text())["bm25"]
    else:
        payload["bm25"] = _bm25_rows(index, data_dir, [args.tune_split, "test"])
    if not args.bm25_only:
        tuning = load_beir(data_dir, split=args.tune_split)
        candidates = index.leg_candidates(tuning.queries, rm3=True)
        result = tune_fusion(candidates, tuning.qrels)
        print(result.report(), file=sys.stderr)
        payload["tuning"] = {
            "report": result.report(),
            "cv_estimate": result.estimate,
            "leg_estimates": dict(result.leg_estimates),
            "best_in_sample": {"setting": result.best.describe(), "ndcg@10": result.in_sample},
            "uses_rm3": result.tuned.bm25_feedback == "rm3",
            "grid_in_sample": dict(result.table),
        }
        if result.tuned.bm25_feedback == "rm3":
            test = load_beir(data_dir, split="test")
            options = {"mode": "hybrid", **result.tuned.search_options()}
            payload["test_tuned_with_rm3"] = evaluate_index(index, test, **options)
    path = write_results(f"quality_rm3_{name}", payload)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
