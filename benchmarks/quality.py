"""Quality benchmark: each leg, every fusion, and the tuned fusion, on a BEIR test split.

    python benchmarks/quality.py --data ../shared/beir/scifact --tune-split train
    python benchmarks/quality.py --data ../shared/beir/nfcorpus --tune-split dev

Every choice is made on the tuning split only (scifact: train, nfcorpus: dev), never on test:
the fusion is fitted there by cross-validation (``tune_fusion``, the code behind
``hybridsearch tune``), then the test split is searched once per setting through the normal
search path (``evaluate_index``: nDCG@10 in the order shown, pytrec_eval). The index is
reused from ``indexes/<dataset>`` (copy ``/work/main/indexes/<dataset>`` there, or it is built
with the passage-vector cache given by ``--cache-dir``, so nothing is re-encoded).

Writes ``benchmarks/results/quality_<dataset>.json`` (every figure, the grid's in-sample
table, machine and versions) and ``benchmarks/results/quality.md`` (every dataset run).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from _common import CACHE_DIR, REPO_ROOT, RESULTS_DIR, default_data_path, write_results

from hybridsearch import HybridIndex
from hybridsearch.eval.beir import load_beir
from hybridsearch.eval.runs import evaluate_index
from hybridsearch.eval.tuning import tune_fusion

#: Untuned settings, each measured on test as is.
FIXED = {
    "bm25": {"mode": "bm25"},
    "dense": {"mode": "dense"},
    "hybrid rrf k=60": {"mode": "hybrid", "fusion": "rrf"},
    "hybrid convex minmax": {"mode": "hybrid", "fusion": "convex", "normalization": "minmax"},
    "hybrid convex zscore": {"mode": "hybrid", "fusion": "convex", "normalization": "zscore"},
    "hybrid dbsf": {"mode": "hybrid", "fusion": "dbsf"},
}
#: The issue's targets (nDCG@10, test).
TARGETS = {"scifact": 0.735, "nfcorpus": 0.365}


def _tune(index: HybridIndex, data_dir: Path, split: str, folds: int) -> dict:
    """Fit the fusion on the tuning split (cross-validated); the grid's table too."""
    dataset = load_beir(data_dir, split=split)
    started = time.perf_counter()
    candidates = index.leg_candidates(dataset.queries)
    legs_seconds = time.perf_counter() - started
    result = tune_fusion(candidates, dataset.qrels, folds=folds)
    print(result.report(), file=sys.stderr)
    return {
        "split": split,
        "queries": result.queries,
        "folds": result.folds,
        "cv_estimate": result.estimate,
        "leg_estimates": dict(result.leg_estimates),
        "untuned_rrf": result.default_rrf,
        "best_in_sample": {"setting": result.best.describe(), "ndcg@10": result.in_sample},
        "kept": result.tuned.kept,
        "tuned_options": result.tuned.search_options(),
        "warnings": list(result.warnings),
        "seconds": {"legs": legs_seconds, "total": time.perf_counter() - started},
        "report": result.report(),
        "grid_in_sample": dict(result.table),
    }


def _evaluate(index: HybridIndex, data_dir: Path, settings: dict[str, dict]) -> dict:
    """Each setting on the test split, through the normal search path."""
    dataset = load_beir(data_dir, split="test")
    quality = {}
    for label, options in settings.items():
        started = time.perf_counter()
        quality[label] = evaluate_index(index, dataset, **options)
        quality[label]["seconds"] = time.perf_counter() - started
        print(f"{label:<28} nDCG@10 {quality[label]['ndcg@10']:.4f}", file=sys.stderr)
    return {"queries": len(dataset.queries), "metrics": quality}


def _markdown() -> str:
    """quality.md: one table per dataset run, and how the figures were made."""
    lines = [
        "# Quality: each leg, every fusion, the tuned fusion",
        "",
        "nDCG@10 on each dataset's **test** split (pytrec_eval, documents in the order shown, "
        "title + text, all-MiniLM-L6-v2, exact search). Every choice was made on the tuning "
        "split only (scifact: train, nfcorpus: dev), never on test. Reproduce:",
        "",
        "```sh",
        "cp -r /work/main/indexes/scifact /work/main/indexes/nfcorpus indexes/  # or let it build",
        "python benchmarks/quality.py --data ../shared/beir/scifact --tune-split train",
        "python benchmarks/quality.py --data ../shared/beir/nfcorpus --tune-split dev",
        "python benchmarks/quality_rm3.py --data ../shared/beir/scifact --tune-split train",
        "python benchmarks/quality_rm3.py --data ../shared/beir/nfcorpus --tune-split dev",
        "python benchmarks/quality_bm25f.py --data ../shared/beir/scifact --tune-split train",
        "python benchmarks/quality_bm25f.py --data ../shared/beir/nfcorpus --tune-split dev",
        "python benchmarks/quality.py --markdown-only  # quality.md from the JSON files",
        "```",
        "",
    ]
    for path in sorted(RESULTS_DIR.glob("quality_*.json")):
        result = json.loads(path.read_text())
        if "test" in result and "tuning" in result:
            lines += _dataset_section(result)
    lines += [
        "The tuned row is the fusion `hybridsearch tune` fits (here without RM3; see below): a "
        "grid of RRF (k 10-100) and convex min-max / z-score and DBSF weightings (dense:BM25 "
        "from 0.2 to 5), the best on all tuning queries kept; its cross-validated estimate is "
        "the mean held-out score of choosing that way (5 folds). The BM25, dense and RRF "
        "figures on the tuning split come from the same candidate lists (100 passages per "
        "leg); test figures from the normal search path. Adapted-encoder rows are reported by "
        "the adapt work separately.",
        "",
    ]
    rm3_results = [
        json.loads(p.read_text()) for p in sorted(RESULTS_DIR.glob("quality_rm3_*.json"))
    ]
    if rm3_results:
        lines += _rm3_section(rm3_results)
    bm25f_results = [
        json.loads(p.read_text()) for p in sorted(RESULTS_DIR.glob("quality_bm25f_*.json"))
    ]
    if bm25f_results:
        from quality_bm25f import bm25f_section

        lines += bm25f_section(bm25f_results)
    return "\n".join(lines)


def _dataset_section(result: dict) -> list[str]:
    name, tuning, test = result["dataset"], result["tuning"], result["test"]
    target = TARGETS.get(name)
    lines = [
        f"## {name}",
        "",
        f"Tuned on {tuning['queries']} {tuning['split']} queries; measured on "
        f"{test['queries']} test queries." + (f" Target: hybrid >= {target}." if target else ""),
        "",
        f"| setting | test nDCG@10 | {tuning['split']} (CV for tuned) |",
        "|---|---|---|",
    ]
    on_tuning = {
        "bm25": tuning["leg_estimates"]["bm25"],
        "dense": tuning["leg_estimates"]["dense"],
        "hybrid rrf k=60": tuning["untuned_rrf"],
        "hybrid tuned": tuning["cv_estimate"],
    }
    for label, metrics in test["metrics"].items():
        shown = f"{on_tuning[label]:.3f}" if label in on_tuning else "–"
        lines.append(f"| {label} | {metrics['ndcg@10']:.3f} | {shown} |")
    lines += [
        "",
        f"Tuned setting: {tuning['best_in_sample']['setting']} (kept: {tuning['kept']}; "
        f"{tuning['best_in_sample']['ndcg@10']:.3f} in-sample on {tuning['split']}).",
        "",
    ]
    return lines


def _rm3_section(results: list[dict]) -> list[str]:
    """RM3 feedback on the BM25 leg (``benchmarks/quality_rm3.py``)."""
    lines = [
        "## RM3 pseudo-relevance feedback on the BM25 leg",
        "",
        "`python benchmarks/quality_rm3.py --data ../shared/beir/<dataset> --tune-split <split>` "
        "(Anserini's defaults: 10 feedback passages, 10 terms, original weight 0.5).",
        "",
        "| dataset | split | BM25 | BM25+RM3 |",
        "|---|---|---|---|",
    ]
    for result in results:
        rows = result["bm25"]
        for split in (result["tune_split"], "test"):
            plain, rm3 = rows[f"{split} bm25"]["ndcg@10"], rows[f"{split} bm25+rm3"]["ndcg@10"]
            lines.append(f"| {result['dataset']} | {split} | {plain:.3f} | {rm3:.3f} |")
    lines.append("")
    for result in results:
        if "tuning" in result:
            tuning = result["tuning"]
            verdict = "uses RM3" if tuning["uses_rm3"] else "does not use RM3: RM3 not kept"
            if "test_tuned_with_rm3" in result:
                verdict += f"; on test {result['test_tuned_with_rm3']['ndcg@10']:.3f}"
            lines.append(
                f"{result['dataset']}, fused with RM3 allowed ({result['tune_split']}): best "
                f"setting {tuning['best_in_sample']['setting']} "
                f"({tuning['best_in_sample']['ndcg@10']:.3f} in-sample, "
                f"{tuning['cv_estimate']:.3f} cross-validated), {verdict}; each alone "
                + ", ".join(f"{k} {v:.3f}" for k, v in tuning["leg_estimates"].items())
                + "."
            )
        else:
            lines.append(
                f"{result['dataset']}: fused with RM3 not measured (BM25 alone only, "
                "`--bm25-only`)."
            )
    lines.append("")
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=default_data_path("scifact"))
    parser.add_argument("--tune-split", default="train", help="split the fusion is fitted on")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--index-dir", type=Path, help="default indexes/<dataset>")
    parser.add_argument(
        "--markdown-only", action="store_true", help="only rewrite quality.md from the JSON"
    )
    parser.add_argument(
        "--cache-dir",
        type=Path,
        default=CACHE_DIR,
        help="passage-vector cache, used only if the index must be built",
    )
    args = parser.parse_args()
    if args.markdown_only:
        (RESULTS_DIR / "quality.md").write_text(_markdown())
        return 0
    data_dir = args.data.resolve()
    name = data_dir.name
    index_dir = args.index_dir or REPO_ROOT / "indexes" / name
    index = HybridIndex.open_or_build(index_dir, data_dir, embedding_cache=args.cache_dir)
    print(index.origin, file=sys.stderr)

    tuning = _tune(index, data_dir, args.tune_split, args.folds)
    settings = {**FIXED, "hybrid tuned": {"mode": "hybrid", **tuning["tuned_options"]}}
    test = _evaluate(index, data_dir, settings)
    path = write_results(
        f"quality_{name}",
        {
            "dataset": name,
            "index": {
                "documents": index.num_documents,
                "passages": index.num_passages,
                "settings": index.settings.to_dict(),
                "model": index.model_identity.to_dict(),
            },
            "tuning": tuning,
            "test": test,
        },
    )
    (RESULTS_DIR / "quality.md").write_text(_markdown())
    print(f"wrote {path} and {RESULTS_DIR / 'quality.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
