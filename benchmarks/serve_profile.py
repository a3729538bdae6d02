"""Where one HTTP search request's CPU goes: server phases, the whole server, the client.

Three measurements, all CPU time (less noisy than wall time on a shared machine):

1. **Phases, in process** (one thread, ``time.process_time`` around each step, summed over
   the queries): request body parsing and validation, the search itself
   (``search_batch([query])``, what the endpoint calls), hits -> JSON-ready dicts with and
   without snippets, building the response model, and serialising (FastAPI's path: validate
   the returned model again, then dump it; and the direct path: one ``pydantic_core.to_json``
   of plain data).
2. **The server process**: ``hybridsearch serve`` on a loopback port; the same queries sent
   one at a time; its CPU (all threads: uvicorn, routing, thread-pool hops, the search) per
   request, read from ``/proc`` (psutil) before and after.
3. **The client**: this process's CPU per request (``getrusage``) while it sends them, with the
   lean keep-alive client (``benchmarks/_lean_client.py``).

Server CPU minus the phases' sum is what uvicorn (HTTP parsing, the event loop), Starlette's
routing and middleware and FastAPI's dependency solving and thread-pool hops cost.

Usage: python benchmarks/serve_profile.py --index indexes/scifact --data ../shared/beir/scifact
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import REPO_ROOT, default_data_path, load_beir, write_results
from _lean_client import Connection, cpu_seconds
from serve_load import free_port, start_server, stop_server, wait_ready

TOP_K = 10


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--index", type=Path, default=REPO_ROOT / "indexes" / "scifact")
    parser.add_argument("--data", type=Path, default=default_data_path("scifact"))
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--name", default="serve_profile", help="results file name")
    parser.add_argument("--http-only", action="store_true", help="skip the in-process phases")
    parser.add_argument("--stub-server", type=int, help=argparse.SUPPRESS)  # see stub_server
    parser.add_argument("--stub-only", action="store_true", help="only the stub-index server")
    parser.add_argument(
        "--no-snippets", action="store_true", help='stub requests ask "snippets": false'
    )
    args = parser.parse_args(argv)
    if args.stub_server:
        return stub_server(args.index, args.data, args.stub_server)
    queries = load_beir(args.data, split="test").query_texts
    queries = [queries[number % len(queries)] for number in range(args.requests)]

    phases = {} if args.http_only else time_phases(args.index, queries)
    if phases:
        print("in-process phases, CPU ms per request:")
    for name, value in phases.items():
        print(f"  {name:<40} {value:7.3f}")
    whole: dict[str, float] = {}
    if not args.stub_only:
        port = free_port()
        server = start_server(args.index, port, 5.0)
        try:
            wait_ready(f"http://127.0.0.1:{port}", server)
            whole = asyncio.run(time_requests(port, server.pid, queries))
        finally:
            stop_server(server)
    stub = asyncio.run(time_stub_stack(args, queries))
    print("over HTTP, one request at a time, CPU ms per request:")
    for name, value in (whole | stub).items():
        print(f"  {name:<40} {value:7.3f}")
    path = write_results(
        args.name,
        {
            "phases_cpu_ms": phases,
            "http_cpu_ms": whole,
            "requests": len(queries),
            "index": str(args.index),
        },
    )
    print(f"wrote {path}")
    return 0


def time_phases(index_path: Path, queries: list[str]) -> dict[str, float]:
    """CPU ms per query of each step of a search request, run in this process."""
    import pydantic_core

    from hybridsearch import HybridIndex
    from hybridsearch.server.models import SearchRequest, SearchResponse

    index = HybridIndex.load(index_path)
    index.search_batch(["warm up"], TOP_K)
    spent: dict[str, float] = {}

    def timed(name: str, step: Any, *args: Any, **kwargs: Any) -> Any:
        started = time.process_time()
        result = step(*args, **kwargs)
        spent[name] = spent.get(name, 0.0) + time.process_time() - started
        return result

    def fastapi_serialise(model: Any) -> bytes:
        return field.serialize_json(field.validate(model, {}, loc=("response",))[0])

    field = _response_field(SearchResponse)  # what FastAPI checks a returned model with
    for query in queries:
        body = json.dumps({"query": query, "k": TOP_K}).encode()
        request = timed("parse + validate request", SearchRequest.model_validate_json, body)
        hits = timed("search (search_batch of 1)", index.search_batch, [query], TOP_K)[0]
        dicts = timed("hits -> dicts, with snippets", hits.to_dicts)
        timed("hits -> dicts, with snippets, again", hits.to_dicts)  # words seen before
        timed("hits -> dicts, no snippets", lambda hits=hits: [hit.to_dict() for hit in hits])
        generation = index.generation
        model = timed(
            "build SearchResponse model",
            SearchResponse,
            query=request.query,
            hits=dicts,
            generation=generation,
        )
        timed("FastAPI: revalidate + dump_json", fastapi_serialise, model)
        data = {"query": query, "hits": dicts, "generation": generation}
        timed("direct: pydantic_core.to_json(dicts)", pydantic_core.to_json, data)
    index.close()
    return {name: 1000 * seconds / len(queries) for name, seconds in spent.items()}


def _response_field(model: type) -> Any:
    from fastapi.utils import create_model_field

    return create_model_field(name="response", type_=model, mode="serialization")


async def time_requests(port: int, pid: int, queries: list[str]) -> dict[str, float]:
    """Server and client CPU ms per request, sending ``queries`` one at a time."""
    import psutil

    server = psutil.Process(pid)
    connection = Connection("127.0.0.1", port)
    for query in queries[:20]:  # warm: first requests pay imports and caches
        await connection.request("POST", "/search", {"query": query, "k": TOP_K})
    before_server = sum(server.cpu_times()[:2])
    before_client = cpu_seconds()
    started = time.perf_counter()
    for query in queries:
        status, body = await connection.request("POST", "/search", {"query": query, "k": TOP_K})
        assert status == 200 and json.loads(body)["hits"], body[:200]
    wall = time.perf_counter() - started
    client = cpu_seconds() - before_client
    server_cpu = sum(server.cpu_times()[:2]) - before_server
    await connection.close()
    count = len(queries)
    return {
        "server process (all threads)": 1000 * server_cpu / count,
        "client (lean, this process)": 1000 * client / count,
        "wall per request": 1000 * wall / count,
        "client (httpx.AsyncClient, for comparison)": await httpx_client_cpu(port, queries),
    }


async def httpx_client_cpu(port: int, queries: list[str]) -> float:
    """CPU ms per request of an httpx AsyncClient (the benchmark's former client)."""
    import httpx

    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=120) as client:
        for query in queries[:20]:
            await client.post("/search", json={"query": query, "k": TOP_K})
        before = cpu_seconds()
        for query in queries:
            response = await client.post("/search", json={"query": query, "k": TOP_K})
            assert response.status_code == 200 and response.json()["hits"]
        return 1000 * (cpu_seconds() - before) / len(queries)


# -- the HTTP stack alone: a server whose index answers at once ---------------------------------


class StubIndex:
    """Answers every search with hits found once, in advance: a server over it spends its CPU
    on HTTP, routing, validation, hits -> data (snippets included) and JSON, not on search."""

    def __init__(self, hits_by_query: dict[str, Any]) -> None:
        self.hits_by_query = hits_by_query
        self.generation = 1
        self.encoder = None

    def search_batch(self, queries: list[str], k: int = 10, **options: Any) -> list[Any]:
        return [self.hits_by_query[query] for query in queries]


def stub_server(index_path: Path, data: Path, port: int) -> int:
    """Serve a :class:`StubIndex` holding the hits of the first 50 test queries."""
    import uvicorn

    from hybridsearch import HybridIndex
    from hybridsearch.server import create_app

    index = HybridIndex.load(index_path)
    queries = load_beir(data, split="test").query_texts[:50]
    hits = dict(zip(queries, index.search_batch(queries, TOP_K), strict=True))
    app = create_app(StubIndex(hits), batch_queries=False)
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")
    return 0


async def time_stub_stack(args: Any, queries: list[str]) -> dict[str, float]:
    """Server CPU per request over a :class:`StubIndex`: the cost around the search."""
    import subprocess

    import psutil

    port = free_port()
    command = [sys.executable, __file__, "--index", str(args.index), "--data", str(args.data),
               "--stub-server", str(port)]  # fmt: skip
    server = subprocess.Popen(command)
    try:
        wait_ready(f"http://127.0.0.1:{port}", server)
        stub_queries = load_beir(args.data, split="test").query_texts[:50]
        connection = Connection("127.0.0.1", port)
        process = psutil.Process(server.pid)
        extra = {"snippets": False} if args.no_snippets else {}
        for query in stub_queries * 2:  # warm: caches, the word cache of the snippets
            await connection.request("POST", "/search", {"query": query, "k": TOP_K} | extra)
        before = sum(process.cpu_times()[:2])
        count = 0
        for query in stub_queries * 8:
            body = {"query": query, "k": TOP_K} | extra
            status, _ = await connection.request("POST", "/search", body)
            assert status == 200
            count += 1
        spent = sum(process.cpu_times()[:2]) - before
        await connection.close()
    finally:
        stop_server(server)
    name = "server over a stub index (no search)" + (", no snippets" if args.no_snippets else "")
    return {name: 1000 * spent / count}


if __name__ == "__main__":
    sys.exit(main())
