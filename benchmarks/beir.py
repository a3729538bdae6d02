"""BEIR benchmark runner: quality per mode, indexing time per stage, query latency.

    python benchmarks/beir.py --data ../shared/beir/scifact
    python benchmarks/beir.py --data ../shared/beir/nfcorpus

Builds the index of the dataset's corpus (title + text) into ``indexes/<dataset>``, or reuses
it when its documents and settings are unchanged (``HybridIndex.open_or_build``); passage
vectors are cached in ``benchmarks/cache/`` by model identity and passage text, so even a
rebuild (``--rebuild``) does not re-encode an unchanged corpus. Evaluates BM25, dense, hybrid
RRF and hybrid convex on the test queries (nDCG@10, Recall@100, MRR@10 with pytrec_eval),
times single hybrid queries (p50/p95, and where the time goes), and writes:

- ``benchmarks/results/<dataset>.json``: every figure, with the machine and versions;
- ``benchmarks/results/beir.md``: our figures beside published ones, for every dataset run;
- ``benchmarks/results/beir_ndcg.png``: nDCG@10 per mode per dataset.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import sys
import time
from pathlib import Path

from _common import REPO_ROOT, RESULTS_DIR, default_data_path, write_results

from hybridsearch import HybridIndex
from hybridsearch.eval.beir import load_beir
from hybridsearch.eval.runs import evaluate_index

# Published nDCG@10 on the test split: BM25 flat (Anserini, BEIR paper / pyserini 2CR),
# bm25s (its README), all-MiniLM-L6-v2 (MTEB paper / leaderboard).
PUBLISHED = {
    "scifact": {"BM25 (Anserini flat)": 0.679, "bm25s": 0.687, "all-MiniLM-L6-v2": 0.645},
    "nfcorpus": {"BM25 (Anserini flat)": 0.322, "bm25s": 0.321, "all-MiniLM-L6-v2": 0.316},
}

MODES = {
    "bm25": {"mode": "bm25"},
    "dense": {"mode": "dense"},
    "hybrid-rrf": {"mode": "hybrid", "fusion": "rrf"},
    "hybrid-convex": {"mode": "hybrid", "fusion": "convex", "normalization": "minmax"},
}


def _build_or_reuse(data_dir: Path, index_dir: Path, cache_dir: Path, rebuild: bool) -> tuple[
    HybridIndex, dict
]:
    started = time.perf_counter()
    index = HybridIndex.open_or_build(
        index_dir, data_dir, progress=True, embedding_cache=cache_dir, rebuild=rebuild
    )
    seconds = time.perf_counter() - started
    reused = index.origin.startswith("reused")
    print(index.origin, file=sys.stderr)
    stage_seconds = dict(index.build_info.seconds)
    return index, {"reused": reused, "stage_seconds": stage_seconds, "open_seconds": seconds}


def _latency(index: HybridIndex, queries: list[str]) -> dict:
    """Single hybrid queries one after another: p50/p95 and mean milliseconds per stage."""
    for query in queries[:5]:  # warm-up: first calls allocate
        index.search(query, k=10)
    totals, stages = [], {}
    for query in queries:
        started = time.perf_counter()
        hits = index.search(query, k=10)
        totals.append((time.perf_counter() - started) * 1000)
        for stage, milliseconds in hits.timings.items():
            stages.setdefault(stage, []).append(milliseconds)
    quantiles = statistics.quantiles(totals, n=20)
    return {
        "queries": len(queries),
        "p50_ms": statistics.median(totals),
        "p95_ms": quantiles[18],
        "mean_ms_per_stage": {stage: statistics.fmean(values) for stage, values in stages.items()},
    }


def _markdown() -> str:
    """A table of every dataset's results beside the published figures."""
    lines = [
        "# BEIR results",
        "",
        "nDCG@10 on the test split (pytrec_eval), document results, title + text. Ours: "
        "`python benchmarks/beir.py --data ../shared/beir/<dataset>`; published figures are "
        "BM25 flat (Anserini), bm25s, and all-MiniLM-L6-v2 (MTEB).",
        "",
        "| dataset | ours BM25 | ours dense | ours hybrid RRF | ours hybrid convex | "
        "BM25 Anserini | bm25s | all-MiniLM-L6-v2 | hybrid p50 / p95 ms |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for path in sorted(RESULTS_DIR.glob("*.json")):
        result = json.loads(path.read_text())
        if result.get("benchmark") != "beir":
            continue
        name = result["dataset"]
        quality = result["quality"]
        published = PUBLISHED.get(name, {})
        cells = [f"{quality[mode]['ndcg@10']:.3f}" for mode in MODES]
        cells += [
            f"{published[key]:.3f}" if key in published else "–"
            for key in ("BM25 (Anserini flat)", "bm25s", "all-MiniLM-L6-v2")
        ]
        latency = result["latency"]
        cells.append(f"{latency['p50_ms']:.1f} / {latency['p95_ms']:.1f}")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines.append("")
    lines.append(
        "Recall@100 and MRR@10 per mode, indexing seconds per stage and latency per stage are "
        "in each dataset's JSON. Timings come from a shared 2-core machine: noisy."
    )
    return "\n".join(lines) + "\n"


def _plot() -> Path | None:
    """nDCG@10 per mode per dataset, as a grouped bar chart."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: no plot", file=sys.stderr)
        return None
    results = [json.loads(path.read_text()) for path in sorted(RESULTS_DIR.glob("*.json"))]
    results = [result for result in results if result.get("benchmark") == "beir"]
    if not results:
        return None
    figure, axes = plt.subplots(figsize=(7, 3.8))
    width = 0.8 / len(MODES)
    for offset, mode in enumerate(MODES):
        values = [result["quality"][mode]["ndcg@10"] for result in results]
        positions = [number + offset * width for number in range(len(results))]
        bars = axes.bar(positions, values, width, label=mode)
        axes.bar_label(bars, fmt="%.3f", fontsize=7)
    axes.set_xticks([n + width * (len(MODES) - 1) / 2 for n in range(len(results))])
    axes.set_xticklabels([result["dataset"] for result in results])
    axes.set_ylabel("nDCG@10 (test)")
    axes.set_title("hybridsearch on BEIR, per mode")
    axes.legend(fontsize=8, loc="upper center", ncols=len(MODES), frameon=False)
    axes.set_ylim(0, max(r["quality"]["hybrid-rrf"]["ndcg@10"] for r in results) * 1.3)
    figure.tight_layout()
    path = RESULTS_DIR / "beir_ndcg.png"
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--data",
        type=Path,
        default=default_data_path("scifact"),
        help="BEIR dataset folder (default ../shared/beir/scifact)",
    )
    parser.add_argument("--split", default="test")
    parser.add_argument(
        "--index-dir", type=Path, help="where the index goes (default indexes/<dataset>)"
    )
    parser.add_argument(
        "--cache-dir",
        type=Path,
        default=REPO_ROOT / "benchmarks" / "cache",
        help="passage-vector cache (default benchmarks/cache)",
    )
    parser.add_argument("--rebuild", action="store_true", help="rebuild even if unchanged")
    parser.add_argument(
        "--latency-queries",
        type=int,
        default=300,
        help="single queries timed for latency (default 300)",
    )
    args = parser.parse_args()

    data_dir = args.data.resolve()
    name = data_dir.name
    index_dir = args.index_dir or REPO_ROOT / "indexes" / name
    dataset = load_beir(data_dir, split=args.split)

    index, indexing = _build_or_reuse(data_dir, index_dir, args.cache_dir, args.rebuild)
    index.encoder.progress = False  # bars were for the corpus; queries come in small batches
    print(f"{index!r}", file=sys.stderr)

    quality = {}
    for label, options in MODES.items():
        started = time.perf_counter()
        quality[label] = evaluate_index(index, dataset, **options)
        quality[label]["seconds"] = time.perf_counter() - started
        print(
            f"{label:<14} "
            + "  ".join(f"{metric} {value:.4f}" for metric, value in quality[label].items()),
            file=sys.stderr,
        )

    latency = _latency(index, list(dataset.queries.values())[: args.latency_queries])

    result = {
        "dataset": name,
        "split": args.split,
        "queries": len(dataset.queries),
        "index": {
            "documents": index.num_documents,
            "passages": index.num_passages,
            "settings": index.settings.to_dict(),
            "chunking_report": index.build_info.chunking_report.to_dict(),
            "model": index.model_identity.to_dict(),
            **indexing,
        },
        "quality": quality,
        "published_ndcg@10": PUBLISHED.get(name, {}),
        "latency": latency,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }
    path = write_results(name, {"benchmark": "beir", **result})
    (RESULTS_DIR / "beir.md").write_text(_markdown())
    plot = _plot()

    print(f"\n{name}: {index.num_documents} documents, {index.num_passages} passages")
    print(f"{'mode':<14}{'nDCG@10':>9}{'R@100':>9}{'MRR@10':>9}")
    for label, metrics in quality.items():
        print(
            f"{label:<14}{metrics['ndcg@10']:>9.4f}{metrics['recall@100']:>9.4f}"
            f"{metrics['mrr@10']:>9.4f}"
        )
    for label, value in PUBLISHED.get(name, {}).items():
        print(f"published {label}: {value:.3f}")
    print(
        f"hybrid latency: p50 {latency['p50_ms']:.1f} ms, p95 {latency['p95_ms']:.1f} ms; mean "
        "per stage: " + ", ".join(f"{k} {v:.2f}" for k, v in latency["mean_ms_per_stage"].items())
    )
    stages = indexing["stage_seconds"]
    print(
        ("reused index; it was built in: " if indexing["reused"] else "indexing seconds: ")
        + ", ".join(f"{stage} {seconds:.1f}" for stage, seconds in stages.items())
    )
    print(f"wrote {path}, {RESULTS_DIR / 'beir.md'}" + (f", {plot}" if plot else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
