"""Thread settings on a shared machine: encode throughput and hybrid single-query latency.

    python benchmarks/threads.py --data ../shared/beir/scifact

Each candidate setting runs in a fresh process (an OpenMP runtime reads OMP_WAIT_POLICY only
when it starts), twice in the same run: alone ("quiet"), and beside a second process that
encodes passages without pause with the same settings ("competing": a server beside a build,
or two builds). Each measures passages/s over a fixed set of corpus passages and the p50/p95 of
single hybrid queries (train queries) on the index in ``indexes/<dataset>`` (built with the
embedding cache if missing). The load average is recorded before each measurement: on a
machine other people use, "quiet" means "without our competitor", not idle.

Writes ``benchmarks/results/threads.json`` and ``benchmarks/results/threads.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from _common import REPO_ROOT, RESULTS_DIR, default_data_path, write_results

# name -> environment of the measuring process (and of its competitor).
CANDIDATES = {
    "spinning (ACTIVE)": {"OMP_WAIT_POLICY": "ACTIVE"},
    "passive (PASSIVE)": {"OMP_WAIT_POLICY": "PASSIVE"},
    "passive, torch 1 thread": {"OMP_WAIT_POLICY": "PASSIVE", "HYBRIDSEARCH_TORCH_THREADS": "1"},
    "spinning, torch 1 thread": {"OMP_WAIT_POLICY": "ACTIVE", "HYBRIDSEARCH_TORCH_THREADS": "1"},
}
# libgomp's own default (variable unset: spin for a while, GOMP_SPINCOUNT, then sleep) is what
# a process got before hybridsearch set PASSIVE. An empty value keeps hybridsearch from setting
# it and reads as unset to libgomp. Left out entirely, hybridsearch sets PASSIVE: the new default.
CANDIDATES["libgomp default (old default)"] = {"OMP_WAIT_POLICY": ""}
CANDIDATES["nothing set: hybridsearch sets PASSIVE"] = {}


def _texts(data_dir: Path, passages: int, queries: int) -> tuple[list[str], list[str]]:
    corpus = []
    with open(data_dir / "corpus.jsonl", encoding="utf-8") as lines:
        for line in lines:
            record = json.loads(line)
            corpus.append((record.get("title", "") + "\n" + record["text"]).strip())
            if len(corpus) == passages:
                break
    train_ids = set()
    train_qrels = data_dir / "qrels" / "train.tsv"
    if train_qrels.is_file():
        for line in train_qrels.read_text(encoding="utf-8").splitlines()[1:]:
            train_ids.add(line.split("\t")[0])
    query_texts = []
    with open(data_dir / "queries.jsonl", encoding="utf-8") as lines:
        for line in lines:
            record = json.loads(line)
            if not train_ids or record["_id"] in train_ids:
                query_texts.append(record["text"])
    return corpus, query_texts[:queries]


def _measure(args: argparse.Namespace) -> dict:
    """In the worker: passages/s, then single hybrid query latency, as this process is set."""
    import warnings

    from hybridsearch import HybridIndex
    from hybridsearch.dense.encoder import Encoder
    from hybridsearch.dense.threads import ThreadSettings

    passages, queries = _texts(Path(args.data), args.passages, args.queries)
    encoder = Encoder(bf16=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # truncation of long passages: not the point here
        encoder.encode_passages(passages[:16])
        started = time.perf_counter()
        encoder.encode_passages(passages)
        passages_per_second = len(passages) / (time.perf_counter() - started)
    index = HybridIndex.load(args.index, model=encoder, verify_checksums=False)
    for query in queries[:5]:
        index.search(query, k=10)
    totals = []
    for query in queries:
        started = time.perf_counter()
        index.search(query, k=10)
        totals.append((time.perf_counter() - started) * 1000)
    import faiss
    import torch

    return {
        "passages_per_second": passages_per_second,
        "hybrid_p50_ms": statistics.median(totals),
        "hybrid_p95_ms": statistics.quantiles(totals, n=20)[18],
        "queries": len(totals),
        "passages": len(passages),
        "torch_threads": torch.get_num_threads(),
        "faiss_threads": faiss.omp_get_max_threads(),
        "environment_settings": vars(ThreadSettings.from_environment()),
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"),
    }


def _compete(args: argparse.Namespace) -> None:
    """In the competitor: encode passages until killed; say "ready" after the first batch."""
    import warnings

    from hybridsearch.dense.encoder import Encoder

    passages, _ = _texts(Path(args.data), args.passages, 0)
    encoder = Encoder(bf16=False)
    warnings.simplefilter("ignore")
    encoder.encode_passages(passages[:16])
    print("ready", flush=True)
    while True:
        encoder.encode_passages(passages)


def _worker_command(args: argparse.Namespace, role: str) -> list[str]:
    return [
        sys.executable, __file__, "--worker", role, "--data", str(args.data),
        "--index", str(args.index), "--passages", str(args.passages),
        "--queries", str(args.queries),
    ]


def _run_candidate(args: argparse.Namespace, settings: dict, competing: bool) -> dict:
    environment = {
        key: value for key, value in os.environ.items()
        if key not in {"OMP_WAIT_POLICY", "HYBRIDSEARCH_TORCH_THREADS", "OMP_NUM_THREADS"}
    }
    environment |= settings | {"PYTHONPATH": str(REPO_ROOT), "HF_HUB_OFFLINE": "1"}
    competitor = None
    if competing:
        competitor = subprocess.Popen(
            _worker_command(args, "compete"), env=environment, stdout=subprocess.PIPE, text=True
        )
        assert competitor.stdout is not None
        competitor.stdout.readline()  # "ready": its model is loaded and encoding
    try:
        load_before = os.getloadavg()
        completed = subprocess.run(
            _worker_command(args, "measure"), env=environment, capture_output=True, text=True,
            check=True,
        )
    finally:
        if competitor is not None:
            competitor.kill()
            competitor.wait()
    result = json.loads(completed.stdout.strip().splitlines()[-1])
    result["load_average_before"] = list(load_before)
    result["load_average_after"] = list(os.getloadavg())
    return result


def _markdown(rows: list[dict], machine_note: str) -> str:
    lines = [
        "# Thread settings on a shared machine",
        "",
        "`python benchmarks/threads.py` (fp32 encoder, scifact). Each setting in a fresh process, "
        "alone and beside a second process encoding with the same settings, in one run. "
        + machine_note,
        "",
        "| setting | condition | passages/s | hybrid p50 ms | hybrid p95 ms | torch / faiss "
        "threads | load avg (1 min) before |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        lines.append(
            f"| {row['setting']} | {row['condition']} | {row['passages_per_second']:.1f} | "
            f"{row['hybrid_p50_ms']:.1f} | {row['hybrid_p95_ms']:.1f} | "
            f"{row['torch_threads']} / {row['faiss_threads']} | "
            f"{row['load_average_before'][0]:.2f} |"
        )
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=default_data_path("scifact"))
    parser.add_argument("--index", type=Path, default=None)
    parser.add_argument("--passages", type=int, default=96)
    parser.add_argument("--queries", type=int, default=60)
    parser.add_argument("--settings", nargs="*", default=list(CANDIDATES), help="names to run")
    parser.add_argument("--name", default="threads", help="results file name (no suffix)")
    parser.add_argument("--worker", choices=["measure", "compete"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.index = args.index or REPO_ROOT / "indexes" / args.data.name
    if args.worker == "measure":
        print(json.dumps(_measure(args)))
        return 0
    if args.worker == "compete":
        _compete(args)
        return 0
    if not (args.index / "manifest.json").is_file():
        from hybridsearch import HybridIndex

        HybridIndex.open_or_build(
            args.index, args.data, embedding_cache=REPO_ROOT / "benchmarks" / "cache"
        )
    rows = []
    for name in args.settings:
        for condition in ("quiet", "competing"):
            result = _run_candidate(args, CANDIDATES[name], condition == "competing")
            rows.append({"setting": name, "condition": condition, **result})
            print(
                f"{name:28s} {condition:9s} {result['passages_per_second']:6.1f} passages/s  "
                f"hybrid p50 {result['hybrid_p50_ms']:7.1f} ms  p95 {result['hybrid_p95_ms']:7.1f}"
                f"  load {result['load_average_before'][0]:.2f}",
                flush=True,
            )
    note = (
        "Load averages before each row are in the table (the benchmark's own processes count "
        "too); above ~2.5 on 2 cores other jobs were running. Compare rows of this run only."
    )
    write_results(args.name, {"benchmark": "threads", "dataset": args.data.name, "rows": rows})
    (RESULTS_DIR / f"{args.name}.md").write_text(_markdown(rows, note), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
