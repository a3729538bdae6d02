"""The endpoints of :func:`hybridsearch.server.app.create_app` (documented there).

Searches are queued on the event loop (:class:`~hybridsearch.server.search_queue.SearchQueue`)
and run in shared batches, one pool thread per batch, which also makes the batch's responses
(their bodies built beside it in a helper process: :mod:`hybridsearch.server.rendering`).
A write (a plain ``def`` endpoint, run in the pool) blocks only its own thread while it holds
the writer lock.

The search endpoints are the hot path, so a batch of them costs one thread-pool hop and each
one JSON encoding: the endpoint is ``async``, checks the limits on the event loop, and queues
the search with the making of its response (:func:`~hybridsearch.server.rendering.response_data`
turns the hits into plain data in the batch's thread; the snippets and the JSON encoding,
``pydantic_core.to_json``, follow in the batch's response helper process or thread:
:mod:`hybridsearch.server.rendering`).
The response models stay declared (``response_model``), so the OpenAPI schema and ``/docs``
describe the responses, but FastAPI does not validate and dump them again: the endpoint
returns the encoded ``Response``. The tests check the bytes against the models. The key
checks are ``async`` too: a plain ``def`` dependency would cost a pool hop of its own.
"""

from __future__ import annotations

from typing import Any

from hybridsearch.index import serving
from hybridsearch.server.models import (
    BatchSearchRequest,
    BatchSearchResponse,
    DeleteRequest,
    DocumentModel,
    ErrorResponse,
    HealthResponse,
    SearchOptionsModel,
    SearchRequest,
    SearchResponse,
    StatsResponse,
    WriteRequest,
    WriteResponse,
)
from hybridsearch.server.rendering import Pending, finish_body, response_data
from hybridsearch.server.security import key_matches

__all__ = ["add_routes"]

_ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorResponse} for status in (401, 422, 503)
}
_OPTION_FIELDS = (
    "mode",
    "fusion",
    "unit",
    "filter",
    "weights",
    "rrf_k",
    "normalization",
    "bm25_feedback",
)


def add_routes(app: Any, state: Any, key_header: str) -> None:
    """Add every endpoint to ``app``, reading and writing ``state``."""
    reads, writes = _access(state, key_header)
    _add_health_routes(app, state)
    _add_read_routes(app, state, reads)
    _add_write_routes(app, state, writes)


def _access(state: Any, key_header: str) -> tuple[list[Any], list[Any]]:
    """The dependencies that guard the read and the write endpoints (the API key); ``async``
    because they do no blocking work (a sync dependency runs in the thread pool)."""
    from fastapi import Depends, HTTPException, Security
    from fastapi.security import APIKeyHeader

    header = APIKeyHeader(name=key_header, auto_error=False, description="the server's API key")

    def check_key(given: str | None, protects: str) -> None:
        if state.api_key is not None and not key_matches(state.api_key, given):
            raise HTTPException(
                401, f"{protects} need the API key in the {key_header} header (missing or wrong)"
            )

    async def reader(given: str | None = Security(header)) -> None:
        if not state.open_reads:
            check_key(given, "the read endpoints")

    async def writer(given: str | None = Security(header)) -> None:
        check_key(given, "the write endpoints")

    return [Depends(reader)], [Depends(writer)]


def _add_health_routes(app: Any, state: Any) -> None:
    from fastapi.responses import JSONResponse

    @app.get("/health/live", response_model=HealthResponse, tags=["health"])
    async def live() -> HealthResponse:
        """Liveness: the process answers (whether or not the index is loaded yet)."""
        return HealthResponse(status=state.status, ready=state.index is not None)

    @app.get(
        "/health/ready",
        response_model=HealthResponse,
        tags=["health"],
        responses={503: {"model": HealthResponse}},
    )
    async def ready() -> Any:
        """Readiness: 200 once the index and its model are loaded, 503 before (or if failed)."""
        health = HealthResponse(status=state.status, ready=state.index is not None)
        return health if health.ready else JSONResponse(health.model_dump(), status_code=503)


def _add_read_routes(app: Any, state: Any, reads: list[Any]) -> None:
    from fastapi import HTTPException
    from fastapi.responses import JSONResponse, Response
    from starlette.concurrency import run_in_threadpool

    def ready_index() -> Any:
        return _ready_index(state, HTTPException)

    # What every read endpoint declares besides its response: its errors and the key check.
    read_route: dict[str, Any] = {"responses": _ERRORS, "dependencies": reads}

    async def search_response(
        queries: list[str], request: SearchOptionsModel, batch: bool
    ) -> Response:
        state.limits.check_k(request.k)
        index, searches = ready_index(), state.searches
        options = _search_options(request)

        def render(found: list[Any], generation: int | None) -> Pending:
            data = response_data(
                queries, found, snippets=request.snippets, explain=request.explain,
                batch=batch, generation=generation,
            )  # fmt: skip
            return data, found[0].analyzer if found else None

        def search_alone() -> bytes:
            generation = index.generation
            data, matcher = render(index.search_batch(queries, request.k, **options), generation)
            return finish_body(data, matcher)

        if searches is None:
            body = await run_in_threadpool(search_alone)
        else:
            body = await searches.search(queries, request.k, options, render)
        return Response(body, media_type="application/json")

    @app.post("/search", response_model=SearchResponse, tags=["search"], **read_route)
    async def search(request: SearchRequest) -> Any:
        """Search one query; the hits carry each leg's rank and raw score."""
        state.limits.check_queries("query", [request.query])
        return await search_response([request.query], request, batch=False)

    @app.post("/search/batch", response_model=BatchSearchResponse, tags=["search"], **read_route)
    async def search_batch(request: BatchSearchRequest) -> Any:
        """Search several queries with the same options, on one snapshot of the index."""
        state.limits.check_queries("queries", request.queries)
        return await search_response(request.queries, request, batch=True)

    @app.get(
        "/documents/{doc_id}",
        response_model=DocumentModel,
        tags=["documents"],
        responses={404: {"model": ErrorResponse}, **_ERRORS},
        dependencies=reads,
    )
    def get_document(doc_id: str) -> Any:
        """The live document with this id (404 if there is none)."""
        try:
            document = ready_index().document(doc_id)
        except KeyError:
            return JSONResponse({"detail": f"no document {doc_id!r} in the index"}, 404)
        return DocumentModel(
            id=document.id,
            text=document.text,
            title=document.title,
            metadata=dict(document.metadata),
        )

    @app.get("/stats", response_model=StatsResponse, tags=["index"], **read_route)
    def stats() -> StatsResponse:
        """Documents, passages, segments, commit, model identity, settings, build information."""
        searches = state.searches
        return StatsResponse(
            **serving.index_stats(ready_index()),
            limits=state.limits.to_dict(),
            search_batching=None if searches is None else searches.stats.to_dict(),
        )


def _add_write_routes(app: Any, state: Any, writes: list[Any]) -> None:
    # What every write endpoint declares: its response, its errors and the key check.
    write_route: dict[str, Any] = {
        "response_model": WriteResponse,
        "tags": ["documents"],
        "responses": {status: {"model": ErrorResponse} for status in (403, 404, 409)} | _ERRORS,
        "dependencies": writes,
    }

    @app.post("/documents", **write_route)
    def add(request: WriteRequest) -> WriteResponse:
        """Add documents (409, nothing added, if an id is already held); committed on return."""
        state.limits.check_write("documents", len(request.documents))
        return _write(state, lambda index: index.add(_documents(request)))

    @app.put("/documents", **write_route)
    def update(request: WriteRequest) -> WriteResponse:
        """Add documents or replace those whose ids are held; committed on return."""
        state.limits.check_write("documents", len(request.documents))
        return _write(state, lambda index: index.update(_documents(request)))

    @app.post("/documents/delete", **write_route)
    def delete(request: DeleteRequest) -> WriteResponse:
        """Delete documents by id (404, nothing deleted, if one is unknown); committed."""
        state.limits.check_write("ids", len(request.ids))
        return _write(state, lambda index: index.delete(request.ids))

    @app.delete("/documents/{doc_id}", **write_route)
    def delete_one(doc_id: str) -> WriteResponse:
        """Delete one document (404 if it is not held); committed on return."""
        return _write(state, lambda index: index.delete([doc_id]))


def _ready_index(state: Any, http_exception: Any) -> Any:
    """The index, or a 503 while it loads (or after loading failed)."""
    if state.index is None:
        raise http_exception(503, f"the index is not ready (status: {state.status})")
    return state.index


def _search_options(request: SearchOptionsModel) -> dict[str, Any]:
    """The search options a request sets (those it leaves out take the index's defaults)."""
    return {
        name: getattr(request, name)
        for name in _OPTION_FIELDS
        if getattr(request, name) is not None
    }


def _documents(request: WriteRequest) -> list[Any]:
    from hybridsearch import Document

    return [
        Document(item.id, item.text, title=item.title, metadata=item.metadata)
        for item in request.documents
    ]


def _write(state: Any, change: Any) -> WriteResponse:
    """Run one write and its commit alone (the writer lock), and say what it did."""
    from fastapi import HTTPException

    index = _ready_index(state, HTTPException)
    with state.write_lock:
        changed, generation = serving.write_and_commit(index, lambda: change(index))
        return WriteResponse(changed=changed, documents=index.num_documents, generation=generation)
