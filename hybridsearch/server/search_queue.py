"""The server's search queue: concurrent search requests run as shared ``search_batch`` calls.

Each search request (``POST /search`` or ``/search/batch``) is queued on the event loop, not
in a thread. One batch runs at a time, in one thread-pool thread: the queued searches with
equal ``k`` and options (the oldest and those that may join it) go to the index as one
``search_batch`` call (:func:`hybridsearch.index.search_batching.search_together_each`: one
snapshot, one encode call bucketed by padded length, BM25 and FAISS per query). Each search's
response is made as soon as its legs have run: its data in the same thread, its body (the
snippets and the JSON) in a helper process while the thread runs the next search's legs
(:mod:`hybridsearch.server.rendering`; in the thread for a lone search, or without the
helper). So a request costs no thread hop of its own, a queued request holds no thread (a
batch is not capped by the pool's size), and the threads do not take turns at the GIL: one
thread searches, the event loop does HTTP, the helper builds bodies.

When to start a batch: at once if as many searches are queued as the last batch held (a lone
client never waits), else when no search has arrived or been answered for ``settle_ms``
(closed-loop clients send their next search a round trip after their answer, and it should
join the batch rather than lead one of its own after it), and at most ``max_wait_ms`` after
the batch could have started. Each response is what the same search alone gives (the tests
compare bytes).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from hybridsearch.index import serving
from hybridsearch.index.search_batching import (
    DEFAULT_MAX_SEARCHES,
    DEFAULT_SEARCH_WAIT_MS,
    DEFAULT_SETTLE_MS,
    SearchBatchingStats,
    Stopwatch,
    search_together_each,
)
from hybridsearch.server.rendering import Pending, ResponseHelper
from hybridsearch.validation import finite_number, positive_int

if TYPE_CHECKING:
    from hybridsearch import HybridIndex

__all__ = ["SearchQueue"]

#: Turns a search's hits (one per query) and the index's commit generation read just before
#: the search into its response body.
Render = Callable[[list[Any], Any], bytes]


class _Entry:
    """One request's search and the future its response body (or error) is put in."""

    __slots__ = ("arrived", "future", "k", "options", "queries", "render")

    def __init__(
        self,
        queries: list[str],
        k: int,
        options: dict[str, Any],
        render: Render,
        future: asyncio.Future,
    ) -> None:
        self.queries = queries
        self.k = k
        self.options = options
        self.render = render
        self.future = future
        self.arrived = time.perf_counter()

    def joins(self, other: _Entry) -> bool:
        """Whether this search may share a ``search_batch`` call with ``other``'s."""
        return self.k == other.k and self.options == other.options


class SearchQueue:
    """Queues an app's search requests and runs them in shared batches (one at a time).

    Args:
        index: The index searched.
        max_wait_ms: The longest a batch waits for company once it could start.
        max_batch: Queries per batch at most (a larger multi-query request runs alone).
        settle_ms: With fewer searches queued than the last batch held, start once no search
            has arrived or been answered for this long.
        response_process: Build the responses of a batch of several searches in a helper
            process while the batch's next search runs
            (:class:`~hybridsearch.server.rendering.ResponseHelper`); False: in the batch's
            thread.

    Raises:
        InvalidInputError: a negative wait or a ``max_batch`` that is not positive.
    """

    def __init__(
        self,
        index: HybridIndex,
        *,
        max_wait_ms: float = DEFAULT_SEARCH_WAIT_MS,
        max_batch: int = DEFAULT_MAX_SEARCHES,
        settle_ms: float = DEFAULT_SETTLE_MS,
        response_process: bool = True,
    ) -> None:
        self.index = index
        self.max_wait_ms = finite_number("max_wait_ms", max_wait_ms, minimum=0)
        self.max_batch = positive_int("max_batch", max_batch)
        self.settle_ms = finite_number("settle_ms", settle_ms, minimum=0)
        self.stats = SearchBatchingStats()
        self.responses = ResponseHelper(
            serving.word_matcher_settings(index) if response_process else None
        )
        self._queue: list[_Entry] = []
        self._runner: asyncio.Task | None = None
        self._arrival: asyncio.Event | None = None
        self._last_event = 0.0  # when a search last arrived or was answered
        self._last_batch = 0

    async def search(
        self, queries: list[str], k: int, options: dict[str, Any], render: Render
    ) -> bytes:
        """Queue a search; its response body once its batch has run (``render`` of its hits
        and the index's generation read just before the batch's search).

        Raises:
            Whatever the search or ``render`` raised for this request (a shared call that
            fails is retried search by search).
        """
        loop = asyncio.get_running_loop()
        runner = self._runner
        if runner is not None and (runner.done() or runner.get_loop() is not loop):
            # A runner of a loop that stopped (an app served again on a new loop): its
            # requests are gone with it.
            self._runner, self._queue = None, []
        entry = _Entry(queries, k, options, render, loop.create_future())
        self._queue.append(entry)
        self._last_event = entry.arrived
        if self._runner is None:
            self._arrival = asyncio.Event()  # bound to this loop
            self._runner = loop.create_task(self._drain())
        elif self._arrival is not None:
            self._arrival.set()
        return await entry.future

    async def _drain(self) -> None:
        """Run batches while searches are queued (the runner task; ends when none is)."""
        from starlette.concurrency import run_in_threadpool

        batch: list[_Entry] = []
        try:
            while self._queue:
                await self._wait_for_company()
                batch = self._take()
                results = await run_in_threadpool(self._run, batch)
                self._last_event = time.perf_counter()
                for entry, result in zip(batch, results, strict=True):
                    if entry.future.done():  # the request was cancelled meanwhile
                        continue
                    if isinstance(result, BaseException):
                        entry.future.set_exception(result)
                    else:
                        entry.future.set_result(result)
                batch = []
        except BaseException as error:  # cancelled (the loop stops): fail what is pending
            for entry in batch + self._queue:
                if entry.future.done():
                    continue
                if isinstance(error, asyncio.CancelledError):
                    entry.future.cancel()
                else:
                    entry.future.set_exception(error)
            self._queue = []
            raise
        finally:
            self._runner = None

    async def _wait_for_company(self) -> None:
        """Wait until the next batch should start (see the module's documentation)."""
        started = time.perf_counter()
        deadline = started + self.max_wait_ms / 1000
        while True:
            now = time.perf_counter()
            if sum(len(entry.queries) for entry in self._queue) >= self.max_batch:
                reason = "full"
            elif len(self._queue) >= self._last_batch:
                reason = "all"
            elif now >= self._last_event + self.settle_ms / 1000:
                reason = "settled"
            elif now >= deadline:
                reason = "timeout"
            else:
                assert self._arrival is not None
                self._arrival.clear()
                wake = min(deadline, self._last_event + self.settle_ms / 1000)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._arrival.wait(), max(wake - now, 0))
                continue
            with self.stats.lock:
                self.stats.waits[reason] += 1
                self.stats.lead_wait_ms += (now - started) * 1000
                self.stats.in_flight_at_lead += len(self._queue)
            return

    def _take(self) -> list[_Entry]:
        """The oldest queued search and the later ones that may join it, up to max_batch."""
        first = self._queue[0]
        batch, rest, size = [first], [], len(first.queries)
        for entry in self._queue[1:]:
            if entry.joins(first) and size + len(entry.queries) <= self.max_batch:
                batch.append(entry)
                size += len(entry.queries)
            else:
                rest.append(entry)
        self._queue = rest
        self._last_batch = len(batch)
        return batch

    def _run(self, batch: list[_Entry]) -> list[bytes | BaseException]:
        """In a pool thread: the batch's searches, each response's body (or error) built as
        soon as its search is done, in the helper process while the next search runs where
        the batch holds more than one (:mod:`hybridsearch.server.rendering`)."""
        started = time.perf_counter()
        with self.stats.lock:
            self.stats.queue_wait_ms += sum(started - entry.arrived for entry in batch) * 1000
        jobs = [(entry.queries, entry.k, entry.options) for entry in batch]
        generation = getattr(self.index, "generation", None)
        if len(batch) > 1:
            self.responses.start()  # once; used when it says it is ready
        render_clock = Stopwatch()

        def described() -> Iterator[Pending | BaseException]:
            for number, found in search_together_each(self.index, jobs, self.stats):
                if isinstance(found, BaseException):
                    yield found
                    continue
                with render_clock:
                    try:
                        pending: Pending | BaseException = batch[number].render(found, generation)
                    except Exception as error:
                        pending = error
                yield pending

        # Taking the next body runs the next search: only the bodies' own work is timed.
        built_aside = self.responses.built_aside
        bodies = list(self.responses.build_each(described(), len(batch), render_clock))
        with self.stats.lock:
            self.stats.built_aside += self.responses.built_aside - built_aside
            self.stats.render_ms += render_clock.wall_ms
            self.stats.render_cpu_ms += render_clock.cpu_ms
        return bodies

    def close(self) -> None:
        """Stop the response helper (the app stops)."""
        self.responses.close()

    def __repr__(self) -> str:
        return (
            f"SearchQueue(max_wait_ms={self.max_wait_ms:g}, max_batch={self.max_batch}, "
            f"settle_ms={self.settle_ms:g})"
        )
