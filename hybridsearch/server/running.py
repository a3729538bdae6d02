"""Running the app with uvicorn: what ``hybridsearch serve`` does.

The server starts answering at once (``/health/live``), loads the index in the background and
is ready (``/health/ready``) once the index and its model are loaded. On SIGINT or SIGTERM
uvicorn stops accepting connections, finishes the requests in flight (for up to
``graceful_timeout_s`` seconds), then the app waits for a write still running to commit and
releases the index's write lock; uvicorn then re-raises the signal, so the process ends as
killed by it (status -15 for SIGTERM) after that orderly shutdown. A write is committed before
it is acknowledged and a commit is atomic, so a stop, even a kill, never leaves half a write:
uncommitted work is dropped when the index next opens.
"""

from __future__ import annotations

from pathlib import Path

from hybridsearch.errors import HybridSearchError
from hybridsearch.index.reader import read_manifest
from hybridsearch.index.search_batching import DEFAULT_SEARCH_WAIT_MS
from hybridsearch.index.storage import resolve_index_directory
from hybridsearch.server.app import create_app
from hybridsearch.server.limits import Limits
from hybridsearch.server.security import check_bind

__all__ = ["serve"]


def serve(
    index_path: str | Path,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    api_key: str | None = None,
    open_reads: bool = False,
    read_only: bool = False,
    model: str | None = None,
    limits: Limits | None = None,
    max_wait_ms: float = DEFAULT_SEARCH_WAIT_MS,
    response_process: bool = True,
    graceful_timeout_s: float = 30.0,
    log_level: str = "info",
) -> None:
    """Serve the index at ``index_path`` until interrupted.

    Args:
        index_path: The index directory. Opened for writing (its write lock held while the
            server runs) unless ``read_only``.
        host: The address to bind (anything but loopback needs ``api_key``).
        port: The TCP port.
        api_key: The key the write endpoints (and the read ones unless ``open_reads``) need.
        open_reads: Open search, documents and stats without the key.
        read_only: Load the index for reading: the write endpoints answer 403.
        model: The model folder, if it moved since the index was built.
        limits: The request limits.
        max_wait_ms: The longest a batch of concurrent searches waits for company (a lone
            client's search never waits).
        response_process: Build the responses of concurrent searches in a helper process
            beside the search thread (:mod:`hybridsearch.server.rendering`).
        graceful_timeout_s: How long a stop waits for requests in flight.
        log_level: uvicorn's log level.

    Raises:
        InvalidInputError: a non-loopback host without a key.
        IndexFormatError: ``index_path`` is not an index.
        HybridSearchError: the index could not be loaded (locked by another writer, ...).
    """
    import uvicorn

    check_bind(host, api_key)
    directory = resolve_index_directory(index_path)
    read_manifest(directory)  # not an index: say so before starting anything

    def load() -> object:
        from hybridsearch import HybridIndex

        if read_only:
            return HybridIndex.load(directory, model=model)
        return HybridIndex.open(directory, model=model)

    server: uvicorn.Server | None = None

    def stop() -> None:
        if server is not None:
            server.should_exit = True

    app = create_app(
        load,
        api_key=api_key,
        open_reads=open_reads,
        limits=limits,
        max_wait_ms=max_wait_ms,
        response_process=response_process,
        on_load_failure=stop,
    )
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level=log_level,
        timeout_graceful_shutdown=graceful_timeout_s,
        server_header=False,
    )
    server = uvicorn.Server(config)
    server.run()
    state = app.state.service
    if state.status == "failed":
        raise HybridSearchError(f"the index could not be loaded: {state.failure}")
