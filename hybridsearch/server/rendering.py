"""Search response bodies, and a helper process that builds them beside the search thread.

A search batch's thread runs each query's legs, then turns its hits into the JSON body.
Most of that second step is the snippets (each hit's best window, its words matched against
the query's terms): 1.1-1.8 ms of Python per scifact query of ten hits. Python runs one
thread at a time, so no other thread can take it over, and while the batch's legs and
bodies run one of the two cores has nothing to do (only the encoder's passes use both).

So a body is built in two steps. :func:`response_data` (in the batch's thread) turns the hits
into plain data with each snippet still empty; :func:`finish_body` fills the snippets and
encodes the JSON. :class:`ResponseHelper` runs the second step in a helper process, one
response at a time: the batch's thread sends a response's data as soon as its search is done,
and runs the next search's legs while the helper builds the body (the planner yields each
query's hits as they are ready, :meth:`HybridIndex.search_each
<hybridsearch.index.hybrid_index.HybridIndex.search_each>`). The body is the same bytes either
way (both run :func:`finish_body` on the same data, the helper with a word matcher rebuilt from
the index's analyzer settings); the tests compare them.

One response is in flight at a time, so neither side can block the other on a full pipe: the
thread sends data only after it has received the previous body, while the helper waits to
read; the helper sends a body while the thread will read it next. The helper is started
(spawned, not forked: the server holds torch's threads) when a batch first holds more than one
search, and is used once it says it is ready; until then, for a lone search (nothing to
overlap), where the analyzer cannot be rebuilt (a custom tokenizer), and if the helper fails
or dies, bodies are built in the batch's thread, as before.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from typing import Any, NamedTuple

from hybridsearch.display.snippets import DEFAULT_SNIPPET_CHARS, best_window

__all__ = ["ResponseData", "ResponseHelper", "finish_body", "response_data"]

logger = logging.getLogger("hybridsearch.server")

#: The longest the batch's thread waits for one body from the helper before it gives the
#: helper up and builds the body itself (a helper that hangs must not hang the server).
BODY_TIMEOUT_S = 30.0
#: How long the helper may take to stop when the server stops.
STOP_TIMEOUT_S = 5.0


class ResponseData(NamedTuple):
    """A search response as plain data, its snippets still to fill (picklable).

    Attributes:
        data: The response's fields (:class:`~hybridsearch.server.models.SearchResponse`,
            or :class:`~hybridsearch.server.models.BatchSearchResponse` when ``batch``);
            each hit's ``snippet`` is ``""``.
        terms: Per query, the terms its hits' snippets match (the plan's query terms), or
            None: the request asked for no snippets.
        batch: Whether ``data`` holds ``results`` (a batch request) or one query's fields.
    """

    data: dict[str, Any]
    terms: list[tuple[str, ...]] | None
    batch: bool


def response_data(
    queries: Sequence[str],
    found: Sequence[Any],
    *,
    snippets: bool,
    explain: bool,
    batch: bool,
    generation: int | None,
) -> ResponseData:
    """A search request's response as plain data (:class:`ResponseData`), from its hits (one
    :class:`~hybridsearch.search.hits.Hits` per query)."""
    results = [
        {
            "query": query,
            "hits": hits.to_dicts(snippets=False),
            "generation": generation,
            "plan": hits.plan.to_dict() if explain else None,
            "timings_ms": hits.timings if explain else None,
        }
        for query, hits in zip(queries, found, strict=True)
    ]
    terms = (
        [tuple(hits.plan.query_terms) if hits.plan is not None else () for hits in found]
        if snippets
        else None
    )
    data = {"results": results} if batch else results[0]
    return ResponseData(data, terms, batch)


def finish_body(response: ResponseData, matcher: Any) -> bytes:
    """The response's JSON body: each hit's snippet filled (``matcher`` maps the passage's
    words to terms, as the hits' ``analyzer`` does), then encoded; NaN and infinity as null,
    as the response models would dump them, numpy scalars as numbers.

    The snippets are what ``Hits.to_dicts()`` gives (:func:`best_window
    <hybridsearch.display.snippets.best_window>` of the same text, terms and matcher).
    """
    import pydantic_core

    if response.terms is not None:
        results = response.data["results"] if response.batch else [response.data]
        for result, terms in zip(results, response.terms, strict=True):
            for hit in result["hits"]:
                hit["snippet"] = best_window(
                    hit["text"], terms, matcher, DEFAULT_SNIPPET_CHARS
                ).text
    return pydantic_core.to_json(response.data, inf_nan_mode="null", fallback=_plain)


def _plain(value: Any) -> Any:
    """A value ``pydantic_core.to_json`` does not know (a numpy scalar or array) as plain data."""
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"cannot encode a {type(value).__name__} as JSON")


#: Marks "no body here" (None cannot: it is not a body, but it is a value).
_NONE: Any = object()

#: A response still to build: its data and the word matcher its hits carry (the thread's own).
Pending = tuple[ResponseData, Any]


class ResponseHelper:
    """Builds response bodies in a helper process while the caller's thread goes on.

    Args:
        matcher_settings: The index's analyzer settings as plain data
            (:func:`hybridsearch.index.serving.word_matcher_settings`), or None: every body is
            built in the caller's thread.

    One thread uses it at a time (the search queue runs one batch at a time); a lock makes
    that so.
    """

    def __init__(self, matcher_settings: dict[str, Any] | None) -> None:
        self._settings = matcher_settings
        self._lock = threading.Lock()
        self._process: Any = None
        self._connection: Any = None
        self._ready = False
        self._failed = matcher_settings is None
        self.built_aside = 0  # bodies the helper built

    @property
    def usable(self) -> bool:
        """Whether the helper is running and has said it is ready (never blocks)."""
        if self._failed or self._connection is None:
            return False
        if not self._ready:
            try:
                if self._connection.poll(0):
                    self._ready = self._connection.recv() == "ready"
            except (EOFError, OSError):
                self._give_up("the response helper stopped while starting")
        return self._ready

    def start(self) -> None:
        """Start the helper process (once; it says when it is ready). Does not wait."""
        with self._lock:
            if self._failed or self._process is not None:
                return
            context = multiprocessing.get_context("spawn")
            here, there = context.Pipe()
            process = context.Process(
                target=_serve_bodies,
                args=(there, self._settings),
                name="hybridsearch-responses",
                daemon=True,
            )
            try:
                process.start()
            except Exception as error:  # no process to be had: build bodies in the thread
                self._give_up(f"the response helper did not start ({error})")
                return
            there.close()
            self._process, self._connection = process, here

    def build_each(
        self,
        responses: Iterable[Pending | BaseException],
        count: int,
        clock: AbstractContextManager[Any] | None = None,
    ) -> Iterator[Any]:
        """The body of each response (bytes, or the error its data or its body raised), in
        order, built in the helper while the next response's data is being made.

        Args:
            responses: Consumed lazily: taking the next item is what runs the next search,
                and the helper builds the previous body meanwhile.
            count: How many responses there are. The last is built here while the helper
                builds the one before it, and a lone response is built here (nothing would
                run beside it).
            clock: Entered around the bodies' work in this thread (sending, waiting,
                building here), to time it apart from the searches.
        """
        clock = clock if clock is not None else contextlib.nullcontext()
        with self._lock:
            in_flight: Pending | None = None
            try:
                for number, response in enumerate(responses, start=1):
                    with clock:
                        ready: list[Any] = []  # bodies in order: the one in flight first
                        last = number == count
                        if isinstance(response, BaseException) or last or not self.usable:
                            # The last is built here while the helper builds the one before
                            # it; so are a lone one and every one when there is no helper.
                            body = (
                                response
                                if isinstance(response, BaseException)
                                else _finish_here(response)
                            )
                            if in_flight is not None:
                                ready.append(self._receive(in_flight))
                                in_flight = None
                            ready.append(body)
                        else:
                            if in_flight is not None:
                                ready.append(self._receive(in_flight))
                                in_flight = None
                            if self._send(response[0]):
                                in_flight = response
                            else:
                                ready.append(_finish_here(response))
                    yield from ready
                if in_flight is not None:  # fewer responses than ``count``
                    with clock:
                        body = self._receive(in_flight)
                    in_flight = None
                    yield body
            finally:
                if in_flight is not None:
                    # Stopped with a body on its way (the caller stopped taking them): read it,
                    # or the next batch would take it for its own first body.
                    self._receive(in_flight)

    def _send(self, data: ResponseData) -> bool:
        try:
            self._connection.send(data)
            return True
        except Exception as error:  # the helper is gone, or the data does not pickle
            if isinstance(error, OSError | EOFError):
                self._give_up(f"the response helper stopped ({error})")
            return False

    def _receive(self, pending: Pending) -> Any:
        """The helper's body for ``pending``, or the body built here if the helper fails."""
        try:
            if not self._connection.poll(BODY_TIMEOUT_S):
                raise TimeoutError(f"no body in {BODY_TIMEOUT_S:g} s")
            built, body = self._connection.recv()
        except Exception as error:
            self._give_up(f"the response helper stopped ({error})")
            return _finish_here(pending)
        if not built:  # the helper raised: build it here, where the error is raised again
            return _finish_here(pending)
        self.built_aside += 1
        return body

    def _give_up(self, why: str) -> None:
        """Stop using the helper (its bodies are built in the caller's thread from now on)."""
        if not self._failed:
            logger.warning("%s; responses are built in the search thread from now on", why)
        self._failed, self._ready = True, False
        self._stop_process()

    def close(self) -> None:
        """Stop the helper (the server stops); later bodies are built in the caller's thread."""
        with self._lock:
            self._failed, self._ready = True, False
            self._stop_process()

    def _stop_process(self) -> None:
        process, connection = self._process, self._connection
        self._process = self._connection = None
        if connection is not None:
            with contextlib.suppress(Exception):  # the helper may be gone already
                connection.send(None)  # the helper's signal to stop
            connection.close()
        if process is not None:
            process.join(STOP_TIMEOUT_S)
            if process.is_alive():
                process.terminate()
                process.join(STOP_TIMEOUT_S)

    def __repr__(self) -> str:
        state = "ready" if self._ready else "failed" if self._failed else "not started"
        if self._process is not None and not self._ready:
            state = "starting"
        return f"ResponseHelper({state}, built_aside={self.built_aside})"


def _finish_here(pending: Pending) -> Any:
    """Build a body in this thread: the bytes, or the error that building raised."""
    data, matcher = pending
    try:
        return finish_body(data, matcher)
    except Exception as error:
        return error


def _serve_bodies(connection: Any, matcher_settings: dict[str, Any]) -> None:
    """The helper process: build each body it is sent until it is sent None (or the server
    goes away). Replies ``(True, body)``, or ``(False, None)`` when building raised (the
    server builds that body itself, and reports the error from there)."""
    import signal

    from hybridsearch.index.serving import word_matcher

    # Ctrl-C in a terminal reaches the whole process group: the server stops this helper
    # itself (it sends None, or its end of the pipe closes), with no traceback from here.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        matcher = word_matcher(matcher_settings)
        connection.send("ready")
    except (EOFError, OSError):  # the server stopped before the helper was ready
        return
    while True:
        try:
            data = connection.recv()
        except (EOFError, OSError):
            return
        if data is None:
            return
        try:
            reply: tuple[bool, bytes | None] = (True, finish_body(data, matcher))
        except Exception:
            reply = (False, None)
        try:
            connection.send(reply)
        except (EOFError, OSError):
            return

