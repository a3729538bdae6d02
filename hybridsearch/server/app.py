"""The FastAPI application: :func:`create_app` serves one HybridIndex over HTTP.

Endpoints (request and response models in :mod:`hybridsearch.server.models`; ``/docs`` shows
them):

- ``GET /health/live`` (always 200 while the process answers), ``GET /health/ready`` (200 once
  the index and its model are loaded, 503 before); both need no key.
- ``POST /search``, ``POST /search/batch``: hits with the fields of the Python ``Hit``.
- ``GET /documents/{doc_id}``, ``GET /stats``.
- ``POST /documents`` (add; 409 if an id is held), ``PUT /documents`` (add or replace),
  ``POST /documents/delete`` and ``DELETE /documents/{doc_id}`` (404 naming unknown ids, and
  then nothing is deleted).

**Writes are durable when acknowledged**: each write request runs alone (one writer lock),
and commits before its response is sent; if the write or its commit fails, the index stays as
it was. **Searches see a consistent index**: each search (a batch too) reads one snapshot, the
index before or after any write, never a mix, and never waits for a write.

Concurrent searches with equal options run as one ``search_batch`` call (see
:class:`hybridsearch.server.search_queue.SearchQueue`): one encode call for their queries,
BM25 and FAISS per query; each response equals the lone search's.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from hybridsearch.index import serving
from hybridsearch.index.search_batching import DEFAULT_MAX_SEARCHES, DEFAULT_SEARCH_WAIT_MS
from hybridsearch.server.failures import install_error_handlers
from hybridsearch.server.limits import BodySizeLimit, Limits
from hybridsearch.server.routes import add_routes
from hybridsearch.server.search_queue import SearchQueue
from hybridsearch.server.security import API_KEY_HEADER

if TYPE_CHECKING:
    from hybridsearch import HybridIndex

__all__ = ["ServiceState", "create_app"]

logger = logging.getLogger("hybridsearch.server")


class ServiceState:
    """What the endpoints share: the index once loaded, the writer lock, the settings.

    Attributes:
        index: The index, or None while it loads (or if loading failed).
        status: ``loading``, ``ok`` or ``failed``.
        write_lock: Held by each write request from its change through its commit.
        limits: The request limits.
        api_key: The key the protected endpoints need, or None (every endpoint open).
        open_reads: Whether the read endpoints are open without the key.
        searches: Queues concurrent searches into shared batches (None: each runs alone).
    """

    def __init__(self, limits: Limits, api_key: str | None, open_reads: bool) -> None:
        self.index: HybridIndex | None = None
        self.status = "loading"
        self.failure: str | None = None
        self.write_lock = threading.Lock()
        self.limits = limits
        self.api_key = api_key
        self.open_reads = open_reads
        self.searches: SearchQueue | None = None


def create_app(
    index: HybridIndex | Callable[[], HybridIndex],
    *,
    api_key: str | None = None,
    open_reads: bool = False,
    limits: Limits | None = None,
    batch_queries: bool = True,
    max_wait_ms: float = DEFAULT_SEARCH_WAIT_MS,
    max_batch: int = DEFAULT_MAX_SEARCHES,
    response_process: bool = True,
    on_load_failure: Callable[[], None] | None = None,
) -> Any:
    """A FastAPI app serving ``index``, to run with uvicorn or mount in another ASGI app.

    Args:
        index: The index, or a function that loads it: then the app starts at once, loads in
            a background thread when it starts (its lifespan), and reports ready (``GET
            /health/ready``) only when the index and its model are loaded. An app given a
            function closes the index when it stops; an index given is the caller's to close.
        api_key: The key (header ``X-API-Key``) the write endpoints need, and the read ones
            unless ``open_reads``; None: every endpoint is open (bind to loopback only: see
            :func:`hybridsearch.server.security.check_bind`).
        open_reads: Open search, documents and stats without the key.
        limits: The request limits (default :class:`~hybridsearch.server.limits.Limits`()).
        batch_queries: Run concurrent searches with equal options as one ``search_batch``
            call (:class:`~hybridsearch.server.search_queue.SearchQueue`); the index's
            encoder is wrapped while the app runs (its calls serialised), and restored when
            it stops.
        max_wait_ms: The longest a batch of searches waits for company (a lone client's
            search never waits).
        max_batch: Queries per shared batch at most.
        response_process: Build the responses of a shared batch in a helper process (started
            when a batch first holds several searches) while the batch's next search runs
            (:mod:`hybridsearch.server.rendering`); False: in the batch's thread.
        on_load_failure: Called if ``index`` is a function and it fails (the error is
            logged; ``hybridsearch serve`` stops the server then).
    """
    from fastapi import FastAPI

    limits = limits if limits is not None else Limits()
    state = ServiceState(limits, api_key, open_reads)

    def ready(loaded: HybridIndex) -> None:
        if batch_queries:
            # Searches are batched whole; the encoder wrapper only serialises the model's
            # calls (writes' tokenizer calls included), so it waits for no one.
            serving.batch_query_encodes(loaded, max_wait_ms=0, max_batch=max_batch)
            # The first batch pays no start-up (the packed passes of small batches included).
            warm_up_batches = getattr(loaded.encoder, "warm_up_batches", None)
            if warm_up_batches is not None:
                warm_up_batches()
            else:  # an encoder of the caller's
                loaded.encoder.encode_queries(["warm up"])
            state.searches = SearchQueue(
                loaded,
                max_wait_ms=max_wait_ms,
                max_batch=max_batch,
                response_process=response_process,
            )
        state.index, state.status = loaded, "ok"

    given = None if callable(index) else index
    if given is not None:
        ready(given)

    @asynccontextmanager
    async def lifespan(_app: Any) -> Any:
        loader = None
        if given is None:
            loader = threading.Thread(
                target=_load,
                args=(index, ready, state, on_load_failure),
                name="hybridsearch-load",
                daemon=True,
            )
            loader.start()
        yield
        # Shutdown: uvicorn has finished the requests in flight (or given up on them); wait
        # for a write still running so its commit completes, then stop.
        if loader is not None:
            loader.join()
        if state.searches is not None:
            state.searches.close()  # the response helper process
        with state.write_lock:
            if state.index is not None:
                serving.stop_batching(state.index)
                if given is None:
                    state.index.close()

    app = FastAPI(
        title="hybridsearch",
        summary="Hybrid BM25 + dense search over one index",
        description=__doc__ or "",
        lifespan=lifespan,
        swagger_ui_parameters={"persistAuthorization": True},
    )
    app.state.service = state
    install_error_handlers(app)
    add_routes(app, state, API_KEY_HEADER)
    app.add_middleware(BodySizeLimit, max_body_bytes=limits.max_body_bytes)
    return app


def _load(
    load: Callable[[], HybridIndex],
    ready: Callable[[Any], None],
    state: ServiceState,
    on_failure: Callable[[], None] | None,
) -> None:
    """Load the index (a background thread); the status says how it went."""
    try:
        ready(load())
    except Exception as error:
        state.status = "failed"
        state.failure = str(error)
        logger.error("loading the index failed: %s", error)
        if on_failure is not None:
            on_failure()
