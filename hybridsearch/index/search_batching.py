"""Request-level batching: concurrent searches of a service run as one ``search_batch`` call.

A server answers many searches at once, one query each. Batching their query encodes alone
(:class:`~hybridsearch.dense.batching.BatchingEncoder`) left most forward passes holding 1-3
queries on scifact at concurrency 16: the searches reached the encoder spread over time, then
split over 4-8 padded lengths. :class:`SearchBatcher` queues whole searches instead and runs
the queued ones with equal options as one :meth:`HybridIndex.search_batch
<hybridsearch.index.hybrid_index.HybridIndex.search_batch>` call: one snapshot, one encode
call (bucketed by padded length), BM25 and FAISS per query inside it. Each caller gets its own
:class:`~hybridsearch.search.hits.Hits`, equal bit for bit to its lone search (what
``search_batch`` guarantees).

There is no thread of its own: the first caller to find no batch running leads the next one.
Before it takes the queue it waits (at most ``max_wait_ms``) until every search the service
holds has reached the queue: the service counts its searches with :meth:`SearchBatcher.enter`
and :meth:`SearchBatcher.leave` around each request, so searches still being parsed, or whose
results are still being turned into a response (their clients send the next ones), join the
batch instead of leading a batch of one right after it. A lone search never waits.

:class:`SearchBatchingStats` says how full the batches were and where the time went.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from hybridsearch.errors import InvalidInputError
from hybridsearch.validation import finite_number, positive_int, string_list

if TYPE_CHECKING:
    from hybridsearch.index.hybrid_index import HybridIndex
    from hybridsearch.search.hits import Hits

__all__ = [
    "DEFAULT_MAX_SEARCHES",
    "DEFAULT_SEARCH_WAIT_MS",
    "DEFAULT_SETTLE_MS",
    "SearchBatcher",
    "SearchBatchingStats",
    "search_together",
]

#: How long a batch's leader waits for searches still on their way to the queue (ms). A lone
#: search does not wait; at concurrency 16 on 2 cores, turning a batch's results into
#: responses takes ~30-50 ms, and those clients' next searches are what fills the next batch.
DEFAULT_SEARCH_WAIT_MS = 50.0
#: How long past the last answered search a leader waits for the previous batch's last
#: clients (ms), when fewer searches are queued than the previous batch held: a closed-loop
#: client sends its next search a round trip after its answer, which on loopback is ~1 ms.
DEFAULT_SETTLE_MS = 5.0
#: Queries per batch at most (a multi-query request that is larger runs alone).
DEFAULT_MAX_SEARCHES = 64


class _Search:
    """One caller's queries and options, and where the leader puts their hits (or error)."""

    __slots__ = ("arrived", "done", "error", "hits", "k", "options", "queries")

    def __init__(self, queries: list[str], k: int, options: dict[str, Any]) -> None:
        self.queries = queries
        self.k = k
        self.options = options
        self.arrived = time.perf_counter()
        self.done = threading.Event()
        self.hits: list[Hits] | None = None
        self.error: BaseException | None = None

    def joins(self, other: _Search) -> bool:
        """Whether this search may run in one ``search_batch`` call with ``other``."""
        return self.k == other.k and self.options == other.options


class SearchBatchingStats:
    """How full the batches of a :class:`SearchBatcher` were and where the time went.

    Attributes:
        searches: Searches (requests) served.
        queries: Queries in them.
        batches: ``search_batch`` calls made (retries of a failed batch not counted).
        sizes: Batches by the number of queries they held.
        waits: Why leaders stopped waiting: ``all`` (every search expected had arrived),
            ``settled`` (fewer, but none arrived or was answered for ``settle_ms``), ``full``
            (``max_batch`` queries queued), ``timeout`` (``max_wait_ms`` passed).
        in_flight_at_lead: Sum over batches of the searches held (:class:`SearchBatcher`) or
            queued (the server's queue) when the batch was taken (divide by ``batches``).
        queue_wait_ms: Sum over searches of the time from queuing to their batch starting.
        lead_wait_ms: Sum over batches of the time the leader waited for company.
        search_ms, search_cpu_ms: Sum over batches of ``search_batch``'s wall and CPU time
            (the leader's thread: torch runs the queries' passes at one thread in it).
        render_ms, render_cpu_ms: Sum over searches of the time spent turning the hits into
            a response (what the service reports with :meth:`SearchBatcher.record_render`).
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


class SearchBatcher:
    """Runs concurrent searches of one index as shared ``search_batch`` calls.

    Args:
        index: The index searched.
        max_wait_ms: How long a batch's leader waits for searches the service holds that have
            not reached the queue yet (0: take what is queued at once).
        max_batch: Queries per batch at most.
        settle_ms: When every held search is queued but fewer than the previous batch held,
            wait until no search has been answered for this long (within ``max_wait_ms``):
            the clients just answered are likely to send their next search.

    Raises:
        InvalidInputError: ``max_wait_ms`` or ``settle_ms`` is negative or ``max_batch`` is
            not positive.
    """

    def __init__(
        self,
        index: HybridIndex,
        *,
        max_wait_ms: float = DEFAULT_SEARCH_WAIT_MS,
        max_batch: int = DEFAULT_MAX_SEARCHES,
        settle_ms: float = DEFAULT_SETTLE_MS,
    ) -> None:
        self.index = index
        self.max_wait_ms = finite_number("max_wait_ms", max_wait_ms, minimum=0)
        self.max_batch = positive_int("max_batch", max_batch)
        self.settle_ms = finite_number("settle_ms", settle_ms, minimum=0)
        self.stats = SearchBatchingStats()
        self._changed = threading.Condition()
        self._queue: list[_Search] = []
        self._held = 0  # searches between enter() and leave()
        self._last_answered = 0.0  # when leave() last ran (perf_counter)
        self._last_batch = 0  # searches in the batch taken last
        self._leading = False

    # -- what the service tells it ---------------------------------------------------------

    def enter(self) -> None:
        """A search request arrived (call :meth:`leave` when its response is ready)."""
        with self._changed:
            self._held += 1

    def leave(self) -> None:
        """A search request entered with :meth:`enter` is answered (or failed)."""
        with self._changed:
            self._held -= 1
            self._last_answered = time.perf_counter()
            self._changed.notify_all()

    def record_render(self, seconds: float, cpu_seconds: float) -> None:
        """Count the time one search's hits took to become a response (for the stats)."""
        with self._changed:
            self.stats.render_ms += seconds * 1000
            self.stats.render_cpu_ms += cpu_seconds * 1000

    # -- searching -------------------------------------------------------------------------

    def search(self, queries: Sequence[str], k: int = 10, **options: Any) -> list[Hits]:
        """Search ``queries`` (with ``k`` and ``options`` as :meth:`HybridIndex.search_batch`
        takes them), in one batch with other callers' searches of equal ``k`` and options.

        Returns:
            One :class:`Hits` per query, equal to ``index.search_batch(queries, k,
            **options)``.

        Raises:
            Whatever ``search_batch`` raises for these queries alone (a batch that fails is
            retried search by search, so one caller's bad input never fails another's).
        """
        search = _Search(string_list("queries", queries, what="query strings"), k, options)
        if not search.queries:
            raise InvalidInputError("queries is empty; expected at least one query string")
        with self._changed:
            self._queue.append(search)
            self._changed.notify_all()
        while not search.done.is_set():
            batch = self._lead_or_wait(search)
            if batch is None:
                continue
            try:
                self._run(batch)
            finally:
                with self._changed:
                    self._leading = False
                    self._changed.notify_all()
        if search.error is not None:
            raise search.error
        assert search.hits is not None
        return search.hits

    def _lead_or_wait(self, search: _Search) -> list[_Search] | None:
        """Wait while another caller leads; then, if ``search`` is still pending, lead: wait
        until every held search is queued (or the batch is full, or ``max_wait_ms`` passed)
        and take the oldest queued search with those that may join it. None: nothing to lead."""
        with self._changed:
            while self._leading and not search.done.is_set():
                self._changed.wait()
            if search.done.is_set():
                return None
            self._leading = True
            started = time.perf_counter()
            reason = self._wait_for_company(started + self.max_wait_ms / 1000)
            self.stats.lead_wait_ms += (time.perf_counter() - started) * 1000
            self.stats.waits[reason] += 1
            self.stats.in_flight_at_lead += self._held
            return self._take()

    def _wait_for_company(self, deadline: float) -> str:
        """Wait (holding the condition) until the queue holds every search held, and, if
        that is fewer than the last batch, until none was answered for ``settle_ms``."""
        while True:
            now = time.perf_counter()
            if _queued_queries(self._queue) >= self.max_batch:
                return "full"
            wake = deadline
            if len(self._queue) >= self._held:
                settled = self._last_answered + self.settle_ms / 1000
                if len(self._queue) >= self._last_batch:
                    return "all"
                if now >= settled:
                    return "settled"
                wake = min(deadline, settled)
            if now >= deadline:
                return "timeout"
            self._changed.wait(wake - now)

    def _take(self) -> list[_Search]:
        """The oldest queued search and the later ones that may join it, up to max_batch."""
        first = self._queue[0]
        batch, rest, size = [first], [], len(first.queries)
        for search in self._queue[1:]:
            if search.joins(first) and size + len(search.queries) <= self.max_batch:
                batch.append(search)
                size += len(search.queries)
            else:
                rest.append(search)
        self._queue = rest
        self._last_batch = len(batch)
        return batch

    def _run(self, batch: list[_Search]) -> None:
        """One ``search_batch`` call for the batch; each search gets its hits (or error)."""
        jobs = [(search.queries, search.k, search.options) for search in batch]
        with self._changed:
            self.stats.queue_wait_ms += sum(time.perf_counter() - s.arrived for s in batch) * 1000
        results = search_together(self.index, jobs, self.stats)
        for search, result in zip(batch, results, strict=True):
            if isinstance(result, BaseException):
                search.error = result
            else:
                search.hits = result
            search.done.set()

    def __repr__(self) -> str:
        return f"SearchBatcher(max_wait_ms={self.max_wait_ms:g}, max_batch={self.max_batch})"


def _queued_queries(queue: list[_Search]) -> int:
    return sum(len(search.queries) for search in queue)


def search_together(
    index: HybridIndex,
    jobs: Sequence[tuple[list[str], int, dict[str, Any]]],
    stats: SearchBatchingStats | None = None,
) -> list[list[Hits] | BaseException]:
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
    except BaseException as error:
        if len(jobs) == 1:
            return [error]
        return [_search_alone(index, job) for job in jobs]
    results: list[list[Hits] | BaseException] = []
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
) -> list[Hits] | BaseException:
    queries, k, options = job
    try:
        return index.search_batch(queries, k, **options)
    except BaseException as error:
        return error
