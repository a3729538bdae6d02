"""Load benchmark of ``hybridsearch serve``: HTTP searches at concurrency 1, 4, 16 and 64.

Starts ``hybridsearch serve`` on a free loopback port over a copy of an index (scifact by
default; the copy is what the mixed run writes to), then per concurrency level sends a fixed
number of ``POST /search`` requests (the scifact test queries, cycled; hybrid, k=10) from that
many concurrent clients (one event loop, one keep-alive connection each, the lean client of
``benchmarks/_lean_client.py``: raw asyncio streams) and reports requests/s, p50/p95/p99
latency and errors. Just before each level and just after it, with the server idle, it times
the in-process ``HybridIndex.search_batch`` on the queries that level sends (one call, three
times on each side; the median of the six): the ratio of the two is the figure (the HTTP
server batches query encodes across requests; in-process search_batch batches them within
one call). Each level has its own baseline, timed on both sides of it, because the load of a
shared machine drifts during a run. Beside it, and not the target: in-process
``search_batch`` in batches of the level's concurrency, the largest batch a server can form
at that level, so the two ratios tell the batch size's share of the gap from the server's
own (HTTP, responses).

The mixed run sends searches at concurrency 16 while one client adds documents, one request
each; afterwards it checks that every acknowledged write is in the index: through the server
(``GET /documents/{id}``) and on disk (the index loaded afresh from its last commit).

Targets (the issue's, on a 2-core machine): 0 errors at every level; at concurrency 16,
throughput >= 0.7x in-process batched search and p99 <= 10x the single-request p50.

The client runs on the same cores as the server, so its own CPU use is part of the figures:
each level reports the CPU per request of the server process (all threads, from ``/proc``) and
of this client process (``getrusage``).

Usage (from the repository root; copy an index first, e.g. cp -r /work/main/indexes/scifact
indexes/):
    python benchmarks/serve_load.py --index indexes/scifact --data ../shared/beir/scifact
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np
from _common import REPO_ROOT, RESULTS_DIR, default_data_path, load_beir, write_results
from _lean_client import Connection, cpu_seconds

from hybridsearch.index.search_batching import DEFAULT_SEARCH_WAIT_MS

LEVELS = (1, 4, 16, 64)
TOP_K = 10
THROUGHPUT_TARGET = 0.7
#: In-process timings before each level, and as many after it (the median of all is the figure).
IN_PROCESS_REPEATS = 3
P99_TARGET = 10.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--index", type=Path, default=REPO_ROOT / "indexes" / "scifact")
    parser.add_argument("--data", type=Path, default=default_data_path("scifact"))
    parser.add_argument("--requests", type=int, default=300, help="requests per level")
    parser.add_argument("--levels", default=",".join(map(str, LEVELS)))
    parser.add_argument("--mixed-writes", type=int, default=40, help="adds in the mixed run")
    parser.add_argument("--max-wait-ms", type=float, default=DEFAULT_SEARCH_WAIT_MS)
    parser.add_argument("--name", default="serve_load", help="results file name")
    args = parser.parse_args(argv)
    args.load_average_start = round(os.getloadavg()[0], 2)  # is anything else running?
    levels = [int(level) for level in args.levels.split(",")]

    queries = load_beir(args.data, split="test").query_texts
    with tempfile.TemporaryDirectory(prefix="serve-load-") as scratch:
        index_copy = Path(shutil.copytree(args.index, Path(scratch) / "index"))
        baseline = InProcess(index_copy)
        port = free_port()
        server = start_server(index_copy, port, args.max_wait_ms)
        try:
            base = f"http://127.0.0.1:{port}"
            wait_ready(base, server)
            results = []
            for level in levels:
                # The machine's load drifts: each level gets its own in-process figure, timed
                # just before it on the queries it sends, with the server idle.
                sent = cycled(queries, args.requests)
                in_process = baseline.time(sent)
                # What search_batch gives with no more queries at once than the level has in
                # flight (the largest batch the server can form): how much of the gap is the
                # batch size, and how much the server's own work.
                in_process_at_level = baseline.time(sent, batch=level)
                before = http_get(base, "/stats").get("search_batching")
                result = asyncio.run(run_level(port, server.pid, queries, level, args.requests))
                result["search_batching"] = batching_delta(
                    before, http_get(base, "/stats").get("search_batching")
                )
                # And again just after it: the figure is the median of the six timings around
                # the level, so a drift of the machine during the level weighs on both sides.
                after = baseline.time(sent)
                each = in_process["each_queries_per_s"] + after["each_queries_per_s"]
                result["in_process_queries_per_s"] = float(np.median(each))
                result["in_process_each_queries_per_s"] = each
                result["ratio"] = result["requests_per_s"] / result["in_process_queries_per_s"]
                result["in_process_level_batches_queries_per_s"] = in_process_at_level[
                    "queries_per_s"
                ]
                result["ratio_to_level_batches"] = (
                    result["requests_per_s"] / in_process_at_level["queries_per_s"]
                )
                results.append(result)
                print(format_level(result), flush=True)
                result["passes"] = {
                    "server": baseline.passes(sent, mean_batch(result["search_batching"])),
                    "in_process": baseline.passes(sent, len(sent)),
                }
                print(f"  batching: {format_batching(result['search_batching'])}", flush=True)
                print(f"  passes: {format_passes(result['passes'])}", flush=True)
            mixed = asyncio.run(run_mixed(port, queries, 16, args.requests, args.mixed_writes))
            stats = http_get(base, "/stats")
        finally:
            stop_server(server)
        acknowledged = mixed.pop("_ids")
        mixed["on_disk_after_stop"] = acknowledged_on_disk(index_copy, acknowledged)
        print(f"mixed: {mixed}")

    payload = summarise(results, mixed, stats, args)
    path = write_results(args.name, payload)
    write_markdown(args.name, payload)
    print(f"wrote {path}")
    return 0


# -- in process ---------------------------------------------------------------------------------


class InProcess:
    """In-process ``search_batch`` on a loaded index: the figure the server is compared with."""

    def __init__(self, index_path: Path) -> None:
        from hybridsearch import HybridIndex

        self.index = HybridIndex.load(index_path)
        self.index.encoder.warm_up_batches()  # as the server before it is ready
        self.index.search_batch(["warm up"] * 16, TOP_K)

    def time(
        self, queries: list[str], batch: int | None = None, repeats: int = IN_PROCESS_REPEATS
    ) -> dict[str, Any]:
        """search_batch over the queries in one call (or ``batch`` at a time), ``repeats``
        times: the median queries per second (one timing of ~1 s moved by 15% between runs
        on this shared machine; the median of three is steadier and leans neither way)."""
        batch = batch or len(queries)
        rates = []
        for _ in range(repeats):
            started = time.perf_counter()
            for start in range(0, len(queries), batch):
                self.index.search_batch(queries[start : start + batch], TOP_K)
            rates.append(len(queries) / (time.perf_counter() - started))
        return {
            "queries": len(queries),
            "queries_per_s": float(np.median(rates)),
            "each_queries_per_s": [round(rate, 1) for rate in rates],
        }

    def passes(self, queries: list[str], batch: int) -> dict[str, Any]:
        """How the encoder splits ``queries``, taken ``batch`` at a time, into forward passes
        (as the encoder does: packed passes of several padded lengths where the model has
        them and one-length passes would be less than half full, else one padded length per
        pass, balanced over its threads): passes per batch, queries per pass, padded lengths
        (buckets) per pass, the share of batches packed. The server's batches are not
        these exact queries, but ``batch`` consecutive ones of the same stream (the clients
        send them in order)."""
        from hybridsearch.dense.query_batches import balance_passes, packed_plan, query_passes

        encoder = self.index.encoder
        packed = encoder._packed_query_forward() is not None  # made by the warm-up
        counts = np.asarray(encoder.count_tokens(queries, prompt=encoder.query_prompt))
        batch = max(1, min(batch, len(queries)))
        starts = range(0, len(queries) - batch + 1, batch)
        workers = len(os.sched_getaffinity(0))  # the encoder's pass threads, on Linux
        found: list[list[Any]] = []  # per pass, its one-bucket groups
        packed_batches = 0
        for start in starts:
            passes = query_passes(
                counts[start : start + batch], encoder.max_seq_length, encoder.batch_size
            )
            packs = packed_plan(passes, workers, encoder.batch_size) if packed else None
            if packs:
                found += packs
                packed_batches += 1
            else:
                found += [[found_pass] for found_pass in balance_passes(passes, workers)]
        return {
            "batch": batch,
            "packed_batches": packed_batches / len(starts),
            "passes_per_batch": len(found) / len(starts),
            "queries_per_pass": sum(len(group.rows) for groups in found for group in groups)
            / len(found),
            "buckets_per_pass": sum(len(groups) for groups in found) / len(found),
        }


def mean_batch(delta: dict[str, Any] | None) -> int:
    """The server's mean queries per batch in a level (1 when batching is off)."""
    if not delta or not delta.get("batches"):
        return 1
    return max(1, round(delta["queries"] / delta["batches"]))


def format_passes(passes: dict[str, Any]) -> str:
    server, alone = passes["server"], passes["in_process"]
    return (
        f"server batches of {server['batch']}: {server['passes_per_batch']:.1f} passes each, "
        f"{server['queries_per_pass']:.1f} queries and {server['buckets_per_pass']:.1f} padded "
        f"lengths per pass; in-process {alone['batch']}: {alone['passes_per_batch']:.0f} "
        f"passes, {alone['queries_per_pass']:.1f} queries and {alone['buckets_per_pass']:.1f} "
        "padded lengths per pass"
    )


def cycled(queries: list[str], count: int) -> list[str]:
    """The first ``count`` queries, cycling (what a level of ``count`` requests sends)."""
    return [queries[number % len(queries)] for number in range(count)]


# -- the server ---------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_server(index: Path, port: int, max_wait_ms: float) -> subprocess.Popen:
    """The server, its log in a file beside the index copy (a pipe left unread would fill
    and block it); warnings only, as a production server would log."""
    command = [
        sys.executable, "-m", "hybridsearch", "serve", "--index", str(index),
        "--port", str(port), "--max-wait-ms", str(max_wait_ms), "--log-level", "warning",
    ]  # fmt: skip
    # The caller's PYTHONPATH stays after the repository (extra packages installed aside).
    path = os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")]))
    env = {**os.environ, "PYTHONPATH": path, "HF_HUB_OFFLINE": "1"}
    with open(index.parent / "server.log", "w") as log:
        return subprocess.Popen(command, env=env, stdout=log, stderr=log)


def wait_ready(base: str, server: subprocess.Popen, timeout_s: float = 300) -> None:
    import httpx

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"the server stopped; see {server.args[5]}/../server.log")
        try:
            if httpx.get(base + "/health/ready", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise SystemExit("the server was not ready in time")


def stop_server(server: subprocess.Popen) -> None:
    server.terminate()  # SIGTERM: graceful shutdown
    try:
        server.wait(timeout=60)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()


def batching_delta(before: dict | None, after: dict | None) -> dict[str, Any] | None:
    """What the server's search batcher did between two ``/stats`` reads (warm-up included):
    counters subtracted, batch sizes by size."""
    if before is None or after is None:
        return None
    delta: dict[str, Any] = {}
    for name, value in after.items():
        if isinstance(value, dict):
            delta[name] = {
                key: count - before[name].get(key, 0)
                for key, count in value.items()
                if count != before[name].get(key, 0)
            }
        elif name != "largest_batch":
            delta[name] = value - before[name]
    return delta


def format_batching(delta: dict[str, Any] | None) -> str:
    """One line: batches, queries per batch, searches queued at lead, ms per query by phase."""
    if not delta or not delta["batches"]:
        return "off"
    batches, queries = delta["batches"], max(delta["queries"], 1)
    return (
        f"{batches} batches, {queries / batches:.1f} queries/batch (sizes {delta['sizes']}), "
        f"queued at lead {delta['in_flight_at_lead'] / batches:.1f}, waits {delta['waits']}; "
        f"per query: queued {delta['queue_wait_ms'] / queries:.1f} ms (batch waited "
        f"{delta['lead_wait_ms'] / queries:.1f}), search_batch {delta['search_ms'] / queries:.1f}"
        f" ms ({delta['search_cpu_ms'] / queries:.1f} CPU), render "
        f"{delta['render_ms'] / queries:.1f} ms ({delta['render_cpu_ms'] / queries:.1f} CPU) "
        f"in the batch's thread, {delta.get('built_aside', 0)} bodies built by the helper"
    )


def http_get(base: str, path: str) -> Any:
    import httpx

    return httpx.get(base + path, timeout=30).json()


# -- load ---------------------------------------------------------------------------------------


async def run_level(
    port: int, server_pid: int, queries: list[str], concurrency: int, requests: int
) -> dict:
    """``requests`` searches from ``concurrency`` clients, after ``2 * concurrency`` that
    warm the level up; latency of each, errors, and the CPU the server and this client spent
    per request.

    The clients send the warm-up and the measured searches as one stream, so the level's
    start (a jump from the previous level's clients, when the server's first batches form
    around the new number) falls in the warm-up, and nothing pauses between the two: a pause
    would send every client's next search at once, a burst no steady load has. The clock and
    the CPU meter start when the first measured search is sent (the warm-up searches still
    in flight then finish inside the window: a little of their work is counted against the
    measured ones).
    """
    connections = [Connection("127.0.0.1", port) for _ in range(concurrency)]
    window: dict[str, Any] = {}

    def measuring() -> None:
        window["started"] = time.perf_counter()
        window["cpu"] = CpuMeter(server_pid)

    try:
        warm = min(requests, 2 * concurrency)
        latencies, errors = await search_load(
            connections, queries, requests, 0, warm=warm, on_measuring=measuring
        )
        seconds = time.perf_counter() - window["started"]
        spent = window["cpu"].per_request(len(latencies))
    finally:
        for connection in connections:
            await connection.close()
    return level_result(concurrency, latencies, errors, seconds) | spent


class CpuMeter:
    """CPU seconds the server (its process, all threads, and its child processes: the
    response helper) and this client process spend from now on: the client shares the
    cores, so its cost is reported beside the server's."""

    def __init__(self, server_pid: int) -> None:
        import psutil

        self.server = psutil.Process(server_pid)
        self.server_start = self._server_seconds()
        self.client_start = cpu_seconds()

    def _server_seconds(self) -> float:
        import psutil

        seconds = 0.0
        for process in [self.server, *self.server.children(recursive=True)]:
            try:
                seconds += sum(process.cpu_times()[:2])
            except psutil.NoSuchProcess:  # a child that ended meanwhile
                continue
        return seconds

    def per_request(self, requests: int) -> dict[str, float]:
        """Server and client CPU milliseconds per request since this meter started."""
        server = self._server_seconds() - self.server_start
        client = cpu_seconds() - self.client_start
        return {
            "server_cpu_ms_per_request": 1000 * server / max(requests, 1),
            "client_cpu_ms_per_request": 1000 * client / max(requests, 1),
        }


async def search_load(
    connections: list[Connection],
    queries: list[str],
    requests: int,
    offset: int,
    *,
    warm: int = 0,
    on_measuring: Any = None,
) -> tuple[list[float], int]:
    """One worker per connection, taking request numbers from a shared counter: ``warm``
    searches first (not recorded), then ``requests`` recorded ones; ``on_measuring()`` is
    called as the first recorded one is sent."""
    next_request = iter(range(warm + requests))
    latencies: list[float] = []
    errors = 0

    async def worker(connection: Connection) -> None:
        nonlocal errors
        for number in next_request:
            if number == warm and on_measuring is not None:
                on_measuring()
            query = queries[(offset + number) % len(queries)]
            started = time.perf_counter()
            try:
                status, body = await connection.request(
                    "POST", "/search", {"query": query, "k": TOP_K}
                )
                ok = status == 200 and len(json.loads(body)["hits"]) > 0
            except Exception:
                ok = False
            if number >= warm:
                latencies.append((time.perf_counter() - started) * 1000)
                errors += not ok

    await asyncio.gather(*(worker(connection) for connection in connections))
    return latencies, errors


def level_result(concurrency: int, latencies: list[float], errors: int, seconds: float) -> dict:
    values = np.asarray(latencies)
    return {
        "concurrency": concurrency,
        "requests": len(latencies),
        "errors": errors,
        "seconds": seconds,
        "requests_per_s": len(latencies) / seconds,
        "p50_ms": float(np.percentile(values, 50)),
        "p95_ms": float(np.percentile(values, 95)),
        "p99_ms": float(np.percentile(values, 99)),
    }


async def run_mixed(
    port: int, queries: list[str], concurrency: int, requests: int, writes: int
) -> dict:
    """Searches at ``concurrency`` while one client adds ``writes`` documents, one each."""
    run_id = f"load-{os.getpid()}-{int(time.time())}"
    connections = [Connection("127.0.0.1", port) for _ in range(concurrency)]
    write_connection = Connection("127.0.0.1", port)
    acknowledged: list[str] = []
    write_ms: list[float] = []
    write_errors = 0

    async def writer() -> None:
        nonlocal write_errors
        for number in range(writes):
            doc_id = f"{run_id}-{number}"
            text = f"Load test document {number}: {queries[number % len(queries)]}"
            started = time.perf_counter()
            status, body = await write_connection.request(
                "POST", "/documents", {"documents": [{"id": doc_id, "text": text}]}
            )
            write_ms.append((time.perf_counter() - started) * 1000)
            if status == 200 and json.loads(body)["generation"] is not None:
                acknowledged.append(doc_id)
            else:
                write_errors += 1

    try:
        started = time.perf_counter()
        (latencies, errors), _ = await asyncio.gather(
            search_load(connections, queries, requests, 7), writer()
        )
        seconds = time.perf_counter() - started
        missing = [
            doc_id
            for doc_id in acknowledged
            if (await write_connection.request("GET", f"/documents/{doc_id}"))[0] != 200
        ]
    finally:
        for connection in [*connections, write_connection]:
            await connection.close()
    searches = level_result(concurrency, latencies, errors, seconds)
    return {
        "searches": searches,
        "writes": writes,
        "acknowledged": len(acknowledged),
        "write_errors": write_errors,
        "write_p50_ms": float(np.percentile(write_ms, 50)) if write_ms else None,
        "missing_from_server": missing,
        "_ids": acknowledged,
    }


def acknowledged_on_disk(index_path: Path, doc_ids: list[str]) -> dict[str, Any]:
    """Load the index from its last commit (after the server stopped); which ids it holds."""
    from hybridsearch import HybridIndex

    index = HybridIndex.load(index_path)
    missing = []
    for doc_id in doc_ids:
        try:
            index.document(doc_id)
        except KeyError:
            missing.append(doc_id)
    return {"checked": len(doc_ids), "missing": missing, "generation": index.generation}


# -- reporting ----------------------------------------------------------------------------------


def summarise(results, mixed, stats, args) -> dict[str, Any]:
    by_level = {result["concurrency"]: result for result in results}
    single_p50 = by_level.get(1, {}).get("p50_ms")
    at_16 = by_level.get(16)
    targets: dict[str, Any] = {"zero_errors": all(r["errors"] == 0 for r in results)}
    if at_16 is not None:
        targets["throughput_ratio_at_16"] = at_16["ratio"]
        targets["throughput_ratio_met"] = at_16["ratio"] >= THROUGHPUT_TARGET
        # Not the target: the same ratio against in-process batches of 16 (see the table).
        targets["throughput_ratio_at_16_to_batches_of_16"] = at_16["ratio_to_level_batches"]
        if single_p50:
            targets["p99_at_16_over_single_p50"] = at_16["p99_ms"] / single_p50
            targets["p99_met"] = at_16["p99_ms"] <= P99_TARGET * single_p50
    targets["mixed_all_acknowledged_present"] = (
        not mixed["missing_from_server"] and not mixed["on_disk_after_stop"]["missing"]
    )
    return {
        "index": str(args.index),
        "documents": stats.get("documents"),
        "passages": stats.get("passages"),
        "requests_per_level": args.requests,
        "load_average_start": args.load_average_start,
        "max_wait_ms": args.max_wait_ms,
        "k": TOP_K,
        "levels": results,
        "mixed": mixed,
        "server_query_batching": stats.get("query_batching"),
        "server_search_batching": stats.get("search_batching"),
        "server_stack": server_stack(),
        "client": "raw asyncio streams, one keep-alive connection per concurrent client",
        "targets": targets,
    }


def server_stack() -> dict[str, bool]:
    """Whether uvicorn's C parts are installed (it uses them when they are): the server runs
    with this interpreter and this PYTHONPATH."""
    import importlib.util

    return {name: importlib.util.find_spec(name) is not None for name in ("httptools", "uvloop")}


def format_level(result: dict) -> str:
    return (
        f"c={result['concurrency']:>3}: {result['requests_per_s']:7.1f} req/s  "
        f"p50 {result['p50_ms']:7.1f} ms  p95 {result['p95_ms']:7.1f} ms  "
        f"p99 {result['p99_ms']:7.1f} ms  errors {result['errors']}  "
        f"CPU/req server {result['server_cpu_ms_per_request']:.1f} ms "
        f"client {result['client_cpu_ms_per_request']:.2f} ms  "
        f"(in-process {result['in_process_queries_per_s']:.1f} q/s, ratio {result['ratio']:.2f}; "
        f"in batches of {result['concurrency']}: "
        f"{result['in_process_level_batches_queries_per_s']:.1f} q/s, "
        f"ratio {result['ratio_to_level_batches']:.2f})"
    )


def batching_table(levels: list[dict[str, Any]]) -> list[str]:
    """Per level: how full the server's batches were, where a query's time went in the
    server, and how the encoder splits such batches into passes (beside in-process)."""
    if not any(level.get("search_batching") for level in levels):
        return []
    lines = [
        "",
        "Server batches per level (counters from `GET /stats`, warm-up requests included): "
        "queries per `search_batch` call, why batches started, the server's search and "
        "response time per query in the batch's thread (with the response helper: making the "
        "responses' data, sending it, waiting for bodies), the share of bodies the helper "
        "process built, and the encoder's forward passes for batches of that size drawn from "
        "the same query stream (as the encoder splits them: packed passes of several padded "
        "lengths, one per thread, where the model has them and the batch is small; else one "
        "padded length per pass) "
        "against in-process `search_batch` of the level's queries:",
        "",
        "| concurrency | queries/batch | batch starts | search ms/query (CPU) "
        "| render ms/query | bodies by the helper | passes/batch, queries/pass, lengths/pass "
        "| in-process passes, queries/pass, lengths/pass |",
        "|---:|---:|---|---:|---:|---:|---:|---:|",
    ]
    for level in levels:
        delta, passes = level.get("search_batching"), level.get("passes")
        if not delta or not delta["batches"] or not passes:
            continue
        queries = max(delta["queries"], 1)
        waits = ", ".join(f"{reason} {count}" for reason, count in delta["waits"].items())
        server, alone = passes["server"], passes["in_process"]
        lines.append(
            f"| {level['concurrency']} | {queries / delta['batches']:.1f} | {waits} | "
            f"{delta['search_ms'] / queries:.1f} ({delta['search_cpu_ms'] / queries:.1f}) | "
            f"{delta['render_ms'] / queries:.1f} | "
            f"{delta.get('built_aside', 0) / max(delta['searches'], 1):.0%} | "
            f"{server['passes_per_batch']:.1f}, {server['queries_per_pass']:.1f}, "
            f"{server['buckets_per_pass']:.1f} | {alone['passes_per_batch']:.0f}, "
            f"{alone['queries_per_pass']:.1f}, {alone['buckets_per_pass']:.1f} |"
        )
    return lines


def write_markdown(name: str, payload: dict[str, Any]) -> Path:
    lines = [
        f"# {name}: HTTP search load on {payload['documents']} documents "
        f"({payload['passages']} passages)",
        "",
        f"{os.cpu_count()}-core machine, 1-minute load average "
        f"{payload.get('load_average_start', 'not recorded')} "
        "when the run started (above ~1 means other jobs shared the cores); client and server "
        "on the same cores (client: raw asyncio streams, one keep-alive connection per concurrent "
        "client). Hybrid search, k=10, scifact test queries, "
        f"{payload['requests_per_level']} requests per level, max_wait_ms "
        f"{payload['max_wait_ms']:g}. uvicorn's C parts installed (used when present): "
        f"{payload['server_stack']}.",
        "",
        "The target's ratio is to in-process `search_batch` of all the level's queries in one "
        "call; the next two columns are in-process `search_batch` in batches of the level's "
        "concurrency (the largest batch the server can form at that level) and the ratio to "
        "that.",
        "",
        "| concurrency | HTTP req/s | in-process search_batch q/s | ratio | in batches of c, q/s "
        "| ratio to it | p50 ms | p95 ms | p99 ms | errors | server CPU ms/req "
        "| client CPU ms/req |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for level in payload["levels"]:
        lines.append(
            f"| {level['concurrency']} | {level['requests_per_s']:.1f} | "
            f"{level['in_process_queries_per_s']:.1f} | {level['ratio']:.2f} | "
            f"{level['in_process_level_batches_queries_per_s']:.1f} | "
            f"{level['ratio_to_level_batches']:.2f} | "
            f"{level['p50_ms']:.1f} | "
            f"{level['p95_ms']:.1f} | {level['p99_ms']:.1f} | {level['errors']} | "
            f"{level['server_cpu_ms_per_request']:.1f} | {level['client_cpu_ms_per_request']:.2f} |"
        )
    lines += batching_table(payload["levels"])
    mixed = payload["mixed"]
    searches = mixed["searches"]
    lines += [
        "",
        f"Mixed run (searches at concurrency 16 while one client adds {mixed['writes']} "
        f"documents one per request): {searches['requests_per_s']:.1f} req/s, p99 "
        f"{searches['p99_ms']:.1f} ms, {searches['errors']} search errors; "
        f"{mixed['acknowledged']} writes acknowledged (p50 "
        + ("n/a" if mixed["write_p50_ms"] is None else f"{mixed['write_p50_ms']:.0f}")
        + " ms), "
        + f"{mixed['write_errors']} refused; missing afterwards: "
        f"{len(mixed['missing_from_server'])} from the server, "
        f"{len(mixed['on_disk_after_stop']['missing'])} from the index on disk.",
        "",
        f"Targets: {payload['targets']}",
        "",
    ]
    path = RESULTS_DIR / f"{name}.md"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


if __name__ == "__main__":
    sys.exit(main())
