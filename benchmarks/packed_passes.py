"""Query encoding with packed passes (several padded lengths per forward pass) against one
padded length per pass, side by side in one run (issue 12).

    python benchmarks/packed_passes.py --index indexes/scifact --data ../shared/beir/scifact

One encoder (the index's), switched between the two ways round by round (alternating which
goes first): packed, as ``Encoder.encode_queries`` runs now (``hybridsearch/dense/packed.py``;
only where one-bucket passes would be less than half full, ``packing_pays``: calls of up to
~32 scifact queries), and one bucket per pass, as before (the encoder's packed forward set
aside). For the split's
queries taken in calls of 1, 4, 8, 16, 64 and all of them: wall and process CPU milliseconds
per query of ``encode_queries`` (the median of the rounds); then ``search_batch`` (hybrid,
k=10) in calls of 16 against one call of all of them, the ratio a server batching 16
concurrent searches is judged by. Every vector is checked equal, bit for bit, between the
two ways.

Writes ``benchmarks/results/packed_passes.json`` and ``.md`` with the machine, the versions
and the load average before and after (timings on a busy machine are noisy).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np
from _common import (
    NOISE_NOTE,
    REPO_ROOT,
    RESULTS_DIR,
    default_data_path,
    load_beir,
    machine_info,
    write_results,
)

from hybridsearch import HybridIndex

CALL_SIZES = (1, 4, 8, 16, 64)
SEARCH_CALL = 16


def _timed(function: Any, *args: Any) -> tuple[float, float]:
    """(wall, process CPU) seconds of one call."""
    wall, cpu = time.perf_counter(), time.process_time()
    function(*args)
    return time.perf_counter() - wall, time.process_time() - cpu


def _in_calls(call: Any, queries: list[str], size: int) -> list[Any]:
    return [call(queries[start : start + size]) for start in range(0, len(queries), size)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--index", type=Path, default=REPO_ROOT / "indexes" / "scifact")
    parser.add_argument("--data", type=Path, default=default_data_path("scifact"))
    parser.add_argument("--split", default="test")
    parser.add_argument("--queries", type=int, default=320, help="queries (cycled)")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    load_before = round(os.getloadavg()[0], 2)

    texts = load_beir(args.data, split=args.split).query_texts
    queries = [texts[number % len(texts)] for number in range(args.queries)]
    index = HybridIndex.load(args.index)
    encoder = index.encoder
    encoder.wait_for_warm_up()
    encoder.warm_up_batches()
    packed = encoder._packed_query_forward()
    if packed is None:
        raise SystemExit("this model gets no packed passes (dense/packed.py): nothing to compare")

    def switched(way: str) -> None:
        encoder._packed_forward = packed if way == "packed" else None

    ways = ("packed", "one length per pass")
    sizes = (*CALL_SIZES, len(queries))
    encode: dict[str, dict[int, list[tuple[float, float]]]] = {
        way: {size: [] for size in sizes} for way in ways
    }
    search: dict[str, dict[str, list[float]]] = {
        way: {"calls of 16": [], "one call": []} for way in ways
    }
    vectors: dict[str, np.ndarray] = {}
    for round_number in range(args.rounds):
        for way in ways if round_number % 2 == 0 else ways[::-1]:
            switched(way)
            for size in sizes:
                encode[way][size].append(
                    _timed(_in_calls, encoder.encode_queries, queries, size)
                )
            vectors[way] = np.concatenate(
                _in_calls(encoder.encode_queries, queries, SEARCH_CALL)
            )
            search[way]["calls of 16"].append(
                _timed(_in_calls, index.search_batch, queries, SEARCH_CALL)[0]
            )
            search[way]["one call"].append(_timed(index.search_batch, queries)[0])
            print(f"round {round_number + 1}, {way}: done", flush=True)
    switched("packed")
    identical = bool(np.array_equal(vectors[ways[0]], vectors[ways[1]]))

    count = len(queries)
    encode_rows = {
        way: {
            str(size): {
                "wall_ms_per_query": round(
                    statistics.median(wall for wall, _ in timings) * 1000 / count, 2
                ),
                "cpu_ms_per_query": round(
                    statistics.median(cpu for _, cpu in timings) * 1000 / count, 2
                ),
            }
            for size, timings in by_size.items()
        }
        for way, by_size in encode.items()
    }
    search_rows = {
        way: {
            name: round(count / statistics.median(seconds), 1) for name, seconds in rows.items()
        }
        for way, rows in search.items()
    }
    payload = {
        "command": "python benchmarks/packed_passes.py "
        f"--index {args.index} --data {args.data} --queries {count} --rounds {args.rounds}",
        "queries": count,
        "rounds": args.rounds,
        "load_average": {"before": load_before, "after": round(os.getloadavg()[0], 2)},
        "vectors_identical": identical,
        "encode_queries": encode_rows,
        "search_batch_queries_per_s": search_rows,
    }
    path = write_results("packed_passes", payload)
    markdown = _markdown(payload, sizes, ways)
    (RESULTS_DIR / "packed_passes.md").write_text(markdown, encoding="utf-8")
    print(markdown)
    print(f"wrote {path}")
    return 0 if identical else 1


def _markdown(payload: dict[str, Any], sizes: tuple[int, ...], ways: tuple[str, ...]) -> str:
    machine = machine_info()
    encode, search = payload["encode_queries"], payload["search_batch_queries_per_s"]
    lines = [
        "# Packed query passes (issue 12)",
        "",
        NOISE_NOTE,
        "",
        f"Load average (1 min): {payload['load_average']['before']} before, "
        f"{payload['load_average']['after']} after; {machine.get('cpu_model')}, "
        f"{len(os.sched_getaffinity(0))} usable cores; torch {machine['versions'].get('torch')}.",
        "",
        f"Command: `{payload['command']}`",
        "",
        f"Every vector identical between the two ways: **{payload['vectors_identical']}**.",
        "",
        f"## encode_queries of {payload['queries']} scifact test queries in calls of n "
        f"(median of {payload['rounds']} alternating rounds)",
        "",
        "| queries per call | packed wall ms/q | packed CPU ms/q | one length per pass wall "
        "ms/q | one length per pass CPU ms/q | wall saved |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for size in sizes:
        new, old = encode[ways[0]][str(size)], encode[ways[1]][str(size)]
        saved = 1 - new["wall_ms_per_query"] / old["wall_ms_per_query"]
        lines.append(
            f"| {size} | {new['wall_ms_per_query']:.2f} | {new['cpu_ms_per_query']:.2f} | "
            f"{old['wall_ms_per_query']:.2f} | {old['cpu_ms_per_query']:.2f} | {saved:.0%} |"
        )
    lines += [
        "",
        f"## search_batch (hybrid, k=10), queries/s (median of {payload['rounds']} rounds)",
        "",
        "| way | calls of 16 | one call | ratio |",
        "|---|---:|---:|---:|",
    ]
    for way in ways:
        row = search[way]
        lines.append(
            f"| {way} | {row['calls of 16']:.1f} | {row['one call']:.1f} | "
            f"{row['calls of 16'] / row['one call']:.2f} |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
