"""Query encoding before and after bucketed, one-thread query passes (issues 12 and 14).

    python benchmarks/query_batching.py --index /work/main/indexes/scifact \
        --data ../shared/beir/scifact

"Before" is the old query path: one query per forward pass, unpadded, at torch's default
intra-op threads (an Encoder with ``batch_size=1`` encoding with the query prompt). "After" is
``Encoder.encode_queries``: queries padded to a multiple of 8 tokens, one bucket per pass, at
one intra-op thread. Both run float32, in one process, alternating round by round; each figure
is the best round. Measured:

- a lone query's encode (what a single search pays), in milliseconds: after (1 thread,
  padded), before (default threads, unpadded), and before at 1 thread (the thread count's
  share of the difference, apart from the padding);
- ``search_batch`` of the split's queries (hybrid, k=10) on a built index, queries/second,
  with the encoder swapped between rounds; and the encode alone of the same queries;
- how many queries' top-10 documents differ between the two (the padding moves vectors by
  ~1e-7, which can reorder exact near-ties).

Writes ``benchmarks/results/query_batching.json`` and ``.md`` with the machine, the versions
and the load average before and after (timings on a busy machine are noisy).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
from _common import NOISE_NOTE, RESULTS_DIR, default_data_path, machine_info, write_results

from hybridsearch import HybridIndex
from hybridsearch.dense.encoder import Encoder


class OneQueryPerPass(Encoder):
    """The query path before issues 12/14: one unpadded float32 pass per query, ambient threads."""

    def encode_queries(self, texts: Any) -> np.ndarray:
        return self.encode(texts, prompt=self.query_prompt)


def _queries(data_dir: Path, split: str, limit: int) -> list[str]:
    judged = set()
    for line in (data_dir / "qrels" / f"{split}.tsv").read_text(encoding="utf-8").splitlines()[1:]:
        judged.add(line.split("\t")[0])
    texts = []
    with open(data_dir / "queries.jsonl", encoding="utf-8") as lines:
        for line in lines:
            record = json.loads(line)
            if record["_id"] in judged:
                texts.append(record["text"])
    return texts[:limit]


def _lone_ms(encode: Any, queries: list[str]) -> float:
    """Mean milliseconds of encoding each query alone."""
    started = time.perf_counter()
    for query in queries:
        encode([query])
    return (time.perf_counter() - started) * 1000 / len(queries)


def _at_threads(torch: Any, threads: int, function: Any, *args: Any) -> Any:
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        return function(*args)
    finally:
        torch.set_num_threads(previous)


def measure_lone(after: Encoder, before: Encoder, queries: list[str], rounds: int) -> dict:
    """Best-of-rounds ms per lone query encode, the variants alternating within each round."""
    import torch

    threads = torch.get_num_threads()
    variants = {
        "after: 1 thread, padded": lambda: _lone_ms(after.encode_queries, queries),
        f"before: {threads} threads, unpadded": lambda: _lone_ms(before.encode_queries, queries),
        "before at 1 thread, unpadded": lambda: _at_threads(
            torch, 1, _lone_ms, before.encode_queries, queries
        ),
    }
    best = {name: float("inf") for name in variants}
    for _ in range(rounds):
        for name, run in variants.items():
            best[name] = min(best[name], run())
    return {name: round(value, 2) for name, value in best.items()}


def measure_batch(
    index: HybridIndex, after: Encoder, before: Encoder, queries: list[str], rounds: int
) -> tuple[dict, int]:
    """Best-of-rounds queries/s of search_batch and of the encode alone; top-10 changes."""
    best: dict[str, float] = {}
    top10: dict[str, list[list[str]]] = {}
    for _ in range(rounds):
        for name, encoder in (("after", after), ("before", before)):
            index.encoder = encoder
            started = time.perf_counter()
            results = index.search_batch(queries, k=10)
            search_qps = len(queries) / (time.perf_counter() - started)
            started = time.perf_counter()
            encoder.encode_queries(queries)
            encode_qps = len(queries) / (time.perf_counter() - started)
            best[f"search_batch q/s, {name}"] = max(
                best.get(f"search_batch q/s, {name}", 0.0), search_qps
            )
            best[f"encode_queries q/s, {name}"] = max(
                best.get(f"encode_queries q/s, {name}", 0.0), encode_qps
            )
            top10[name] = [[hit.doc_id for hit in hits] for hits in results]
    changed = sum(a != b for a, b in zip(top10["after"], top10["before"], strict=True))
    return {name: round(value, 1) for name, value in best.items()}, changed


def _markdown(document: dict) -> str:
    lone, batch = document["lone_query_ms"], document["search_batch"]
    lines = [
        "# Query batching (issues 12 and 14)",
        "",
        f"{document['note']}",
        "",
        f"Load average (1 min): {document['load_average_start']} before, "
        f"{document['load_average_end']} after; {document['machine']['cpu_model']}, "
        f"{document['machine']['usable_cores']} usable cores; torch "
        f"{document['machine']['versions'].get('torch')}.",
        "",
        f"Command: `{document['command']}`",
        "",
        f"## A lone query's encode ({document['lone_queries']} {document['split']} queries, "
        f"best of {document['rounds']} alternating rounds)",
        "",
        "| variant | ms per query |",
        "|---|---:|",
        *[f"| {name} | {value} |" for name, value in lone.items()],
        "",
        f"## {document['batch_queries']} {document['split']} queries at once "
        f"(hybrid, k=10, best of {document['rounds']} alternating rounds)",
        "",
        "| measure | value |",
        "|---|---:|",
        *[f"| {name} | {value} |" for name, value in batch.items()],
        f"| queries whose top-10 documents differ | {document['top10_changed']} |",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--index", type=Path, default=Path("indexes/scifact"))
    parser.add_argument("--data", type=Path, default=default_data_path("scifact"))
    parser.add_argument("--split", default="test")
    parser.add_argument("--batch-queries", type=int, default=300)
    parser.add_argument("--lone-queries", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    load_average_start = round(os.getloadavg()[0], 2)
    queries = _queries(args.data, args.split, args.batch_queries)
    after = Encoder(bf16=False)
    before = OneQueryPerPass(bf16=False, batch_size=1)
    index = HybridIndex.load(args.index, model=after, warm_up=False)
    for encoder in (after, before):
        encoder.encode_queries(queries[:20])  # warm both: first passes pay set-up
    lone = measure_lone(after, before, queries[: args.lone_queries], args.rounds)
    batch, changed = measure_batch(index, after, before, queries, args.rounds)
    document: dict[str, Any] = {
        "command": "python benchmarks/query_batching.py "
        + " ".join(f"--{k.replace('_', '-')} {v}" for k, v in vars(args).items()),
        "split": args.split,
        "rounds": args.rounds,
        "lone_queries": min(args.lone_queries, len(queries)),
        "batch_queries": len(queries),
        "lone_query_ms": lone,
        "search_batch": batch,
        "top10_changed": changed,
        "load_average_start": load_average_start,
        "load_average_end": round(os.getloadavg()[0], 2),
    }
    path = write_results("query_batching", document)
    markdown = _markdown({**document, "note": NOISE_NOTE, "machine": machine_info()})
    (RESULTS_DIR / "query_batching.md").write_text(markdown, encoding="utf-8")
    print(markdown)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
