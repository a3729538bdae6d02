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
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hybridsearch.index.hybrid_index import HybridIndex
    from hybridsearch.search.hits import Hits

__all__ = [
    "DEFAULT_MAX_SEARCHES",
    "DEFAULT_SEARCH_WAIT_MS",
    "DEFAULT_SETTLE_MS",
    "SearchBatchingStats",
    "Stopwatch",
    "search_together",
    "search_together_each",
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
        render_ms, render_cpu_ms: Sum over searches of the time the batch's thread spent
            turning the hits into a response (with a helper process building the bodies:
            making their data, sending it, and waiting for the bodies not yet built).
        built_aside: Response bodies built by a helper process beside the batch's thread.
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
        self.built_aside = 0

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
            "built_aside": self.built_aside,
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
    results: list[list[Hits] | Exception] = [[] for _ in jobs]
    for number, found in search_together_each(index, jobs, stats):
        results[number] = found
    return results


def search_together_each(
    index: HybridIndex,
    jobs: Sequence[tuple[list[str], int, dict[str, Any]]],
    stats: SearchBatchingStats | None = None,
) -> Iterator[tuple[int, list[Hits] | Exception]]:
    """:func:`search_together`, yielding (number of the search, its hits or error) as soon as
    each search's queries have run (:meth:`HybridIndex.search_each
    <hybridsearch.index.hybrid_index.HybridIndex.search_each>`), in order: a server sends
    one response on while the next search's legs run.

    ``stats`` time only what runs inside this generator, not what the caller does between
    two searches. If the shared call fails, the searches not yet yielded run alone.
    """
    clock = Stopwatch()
    queries = [query for job_queries, _, _ in jobs for query in job_queries]
    _, k, options = jobs[0]
    done = 0
    with clock:
        found = index.search_each(queries, k, **options)
    try:
        for number, (job_queries, _, _) in enumerate(jobs):
            with clock:
                hits = [next(found) for _ in job_queries]
            done = number + 1
            yield number, hits
    except Exception as error:
        if len(jobs) == 1:
            yield 0, error
            return
        for number in range(done, len(jobs)):
            with clock:
                alone = _search_alone(index, jobs[number])
            yield number, alone
        return
    if stats is not None:
        with stats.lock:
            stats.searches += len(jobs)
            stats.queries += len(queries)
            stats.batches += 1
            stats.sizes[len(queries)] = stats.sizes.get(len(queries), 0) + 1
            stats.search_ms += clock.wall_ms
            stats.search_cpu_ms += clock.cpu_ms


class Stopwatch:
    """Wall and this thread's CPU milliseconds spent inside its ``with`` blocks, summed (a
    block may be entered again and again: a generator's steps, one body after another)."""

    def __init__(self) -> None:
        self.wall_ms = 0.0
        self.cpu_ms = 0.0

    def __enter__(self) -> None:
        self._wall, self._cpu = time.perf_counter(), time.thread_time()

    def __exit__(self, *_: Any) -> None:
        self.wall_ms += (time.perf_counter() - self._wall) * 1000
        self.cpu_ms += (time.thread_time() - self._cpu) * 1000


def _search_alone(
    index: HybridIndex, job: tuple[list[str], int, dict[str, Any]]
) -> list[Hits] | Exception:
    queries, k, options = job
    try:
        return index.search_batch(queries, k, **options)
    except Exception as error:
        return error
