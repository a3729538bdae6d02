"""Request-level batching: searches of several callers run as one ``search_batch`` call.

A server answers many searches at once, one query each. Batching their query encodes alone
(:class:`~hybridsearch.dense.batching.BatchingEncoder`) left most forward passes holding 1-3
queries on scifact at concurrency 16: the searches reached the encoder spread over time, then
split over 4-8 padded lengths. A service that queues whole searches instead (the server's
:class:`~hybridsearch.server.search_queue.SearchQueue`) runs the queued ones with equal
options through :func:`search_together`: one :meth:`HybridIndex.search_batch
<hybridsearch.index.hybrid_index.HybridIndex.search_batch>` call, so one snapshot, one encode
call (bucketed by padded length), BM25 and FAISS per query inside it. Each caller gets its own
:class:`~hybridsearch.search.hits.Hits`, equal bit for bit to its lone search (what
``search_batch`` guarantees).

:class:`SearchBatchingStats` says how full the batches were and where the time went; the
defaults here are the server's.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hybridsearch.index.hybrid_index import HybridIndex
    from hybridsearch.search.hits import Hits

__all__ = [
    "DEFAULT_MAX_SEARCHES",
    "DEFAULT_SEARCH_WAIT_MS",
    "DEFAULT_SETTLE_MS",
    "SearchBatchingStats",
    "search_together",
]

#: The longest a batch waits for company once it could start (ms). A lone client's search
#: never waits; at concurrency 16 the wait ends as soon as the previous batch's clients have
#: sent their next searches (see :data:`DEFAULT_SETTLE_MS`).
DEFAULT_SEARCH_WAIT_MS = 50.0
#: With fewer searches queued than the last batch held, start once none has arrived or been
#: answered for this long (ms): a closed-loop client sends its next search a round trip after
#: its answer (~1 ms on loopback, more on a busy machine), and it should join the batch.
DEFAULT_SETTLE_MS = 5.0
#: Queries per batch at most (a multi-query request that is larger runs alone).
DEFAULT_MAX_SEARCHES = 64


class SearchBatchingStats:
    """How full a service's search batches were and where the time went.

    Attributes:
        searches: Searches (requests) served.
        queries: Queries in them.
        batches: ``search_batch`` calls made (retries of a failed batch not counted).
        sizes: Batches by the number of queries they held.
        waits: Why batches stopped waiting: ``all`` (every search expected had arrived),
            ``settled`` (fewer, but none arrived or was answered for ``settle_ms``), ``full``
            (``max_batch`` queries queued), ``timeout`` (``max_wait_ms`` passed).
        in_flight_at_lead: Sum over batches of the searches queued when the batch was taken
            (divide by ``batches``; those of other options stay queued).
        queue_wait_ms: Sum over searches of the time from queuing to their batch starting.
        lead_wait_ms: Sum over batches of the time the batch waited for company.
        search_ms, search_cpu_ms: Sum over batches of ``search_batch``'s wall and CPU time
            (the batch's thread: torch runs the queries' passes at one thread in it).
        render_ms, render_cpu_ms: Sum over searches of the time spent turning the hits into
            a response.
    """

    def __init__(self) -> None:
        self.lock = threading.Lock()  # held while a batch is added and while read
        self.searches = 0
        self.queries = 0
        self.batches = 0
        self.sizes: dict[int, int] = {}
        self.waits = {"all": 0, "settled": 0, "full": 0, "timeout": 0}
        self.in_flight_at_lead = 0
        self.queue_wait_ms = 0.0
        self.lead_wait_ms = 0.0
        self.search_ms = 0.0
        self.search_cpu_ms = 0.0
        self.render_ms = 0.0
        self.render_cpu_ms = 0.0

    def to_dict(self) -> dict[str, Any]:
        """The counters, JSON-ready (batch sizes keyed by their size as a string)."""
        with self.lock:
            return self._to_dict()

    def _to_dict(self) -> dict[str, Any]:
        return {
            "searches": self.searches,
            "queries": self.queries,
            "batches": self.batches,
            "largest_batch": max(self.sizes, default=0),
            "sizes": {str(size): count for size, count in sorted(self.sizes.items())},
            "waits": dict(self.waits),
            "in_flight_at_lead": self.in_flight_at_lead,
            "queue_wait_ms": round(self.queue_wait_ms, 3),
            "lead_wait_ms": round(self.lead_wait_ms, 3),
            "search_ms": round(self.search_ms, 3),
            "search_cpu_ms": round(self.search_cpu_ms, 3),
            "render_ms": round(self.render_ms, 3),
            "render_cpu_ms": round(self.render_cpu_ms, 3),
        }


def search_together(
    index: HybridIndex,
    jobs: Sequence[tuple[list[str], int, dict[str, Any]]],
    stats: SearchBatchingStats | None = None,
) -> list[list[Hits] | Exception]:
    """Run searches of equal ``k`` and options as one ``index.search_batch`` call.

    Args:
        index: The index searched.
        jobs: Each search's queries, ``k`` and options (the first's ``k`` and options are
            used: the caller groups searches whose are equal).
        stats: Counters to add this batch to (searches, queries, sizes, time), or None.

    Returns:
        Per search, its hits (one per query, each equal to the query's lone search) or the
        error its search raised: if the shared call fails, each search runs alone, so one
        caller's bad input never fails another's.
    """
    started, cpu_started = time.perf_counter(), time.thread_time()
    queries = [query for job_queries, _, _ in jobs for query in job_queries]
    _, k, options = jobs[0]
    try:
        hits = index.search_batch(queries, k, **options)
    except Exception as error:
        if len(jobs) == 1:
            return [error]
        return [_search_alone(index, job) for job in jobs]
    results: list[list[Hits] | Exception] = []
    start = 0
    for job_queries, _, _ in jobs:
        results.append(hits[start : start + len(job_queries)])
        start += len(job_queries)
    if stats is not None:
        with stats.lock:
            stats.searches += len(jobs)
            stats.queries += len(queries)
            stats.batches += 1
            stats.sizes[len(queries)] = stats.sizes.get(len(queries), 0) + 1
            stats.search_ms += (time.perf_counter() - started) * 1000
            stats.search_cpu_ms += (time.thread_time() - cpu_started) * 1000
    return results


def _search_alone(
    index: HybridIndex, job: tuple[list[str], int, dict[str, Any]]
) -> list[Hits] | Exception:
    queries, k, options = job
    try:
        return index.search_batch(queries, k, **options)
    except Exception as error:
        return error
