"""Micro-batching of query encodes: concurrent searches share one encoder batch.

A server answers many searches at once, each with one query. Encoding them one by one wastes
most of the encoder's time on per-call overhead; encoding the queries that arrive within a
few milliseconds of each other as one batch does not. :class:`BatchingEncoder` wraps an
:class:`~hybridsearch.dense.encoder.Encoder` with the same interface: ``encode_queries``
queues the texts; the first caller to find no batch in progress leads: it waits until the
oldest queued request has waited ``max_wait_ms`` (or ``max_batch`` texts are queued), takes
the queue, encodes it as one call to the wrapped encoder's ``encode_queries`` on its own
thread, and hands each caller its rows. Callers arriving meanwhile queue for the next batch,
which the next of them leads as soon as the encoder is free. Leading in the caller's thread
rather than in a worker thread saves two thread hand-offs per query, which on a busy machine
cost more than the encode (and leaves no thread to start or stop).

It relies only on the wrapped encoder's public ``encode_queries``: whatever that method
guarantees of a text's vector inside a batch (see the encoder's documentation) holds here.

Every other call (passage encodes for writes, token counts, the tokenizer the chunker uses)
goes to the wrapped encoder under the same lock as the batched query encodes: a Hugging Face
fast tokenizer may not be called from two threads at once (it raises "Already borrowed"), and
on a small CPU two forward passes at once only compete for the same cores.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from hybridsearch.dense.locked_tokenizer import LockedTokenizer, under_lock
from hybridsearch.errors import InvalidInputError
from hybridsearch.validation import finite_number, positive_int, string_list

__all__ = ["DEFAULT_MAX_BATCH", "DEFAULT_MAX_WAIT_MS", "BatchingEncoder", "BatchingStats"]

#: How long the first query of a batch waits for others (ms): a few ms against ~10-20 ms of
#: encoding per query on a small CPU.
DEFAULT_MAX_WAIT_MS = 5.0
#: Queries per shared encode at most; the wrapped encoder still splits it by its batch size.
DEFAULT_MAX_BATCH = 64


class _Request:
    """One caller's texts, and where the batch's leader puts their vectors (or the error)."""

    __slots__ = ("arrived", "done", "error", "texts", "vectors")

    def __init__(self, texts: list[str]) -> None:
        self.texts = texts
        self.arrived = time.monotonic()
        self.done = threading.Event()
        self.vectors: np.ndarray | None = None
        self.error: BaseException | None = None


class BatchingStats:
    """Counters of a :class:`BatchingEncoder`: how much batching happened.

    Attributes:
        requests: ``encode_queries`` calls served.
        texts: Query texts encoded.
        batches: Calls made to the wrapped encoder's ``encode_queries``.
        largest_batch: Most texts in one of those calls.
    """

    def __init__(self) -> None:
        self.requests = 0
        self.texts = 0
        self.batches = 0
        self.largest_batch = 0

    def to_dict(self) -> dict[str, int]:
        """The counters, JSON-ready."""
        return {
            "requests": self.requests,
            "texts": self.texts,
            "batches": self.batches,
            "largest_batch": self.largest_batch,
        }


class BatchingEncoder:
    """An encoder whose ``encode_queries`` shares batches between concurrent callers.

    Args:
        encoder: The encoder to wrap (an :class:`~hybridsearch.dense.encoder.Encoder` or
            anything with its interface).
        max_wait_ms: How long the first queued query waits for company, in milliseconds
            (0: encode whatever is queued as soon as the encoder is free).
        max_batch: Encode at once when this many texts are queued.

    There is no thread of its own: the callers take turns to lead the batches.

    Raises:
        InvalidInputError: ``max_wait_ms`` is negative or ``max_batch`` is not positive.
    """

    def __init__(
        self,
        encoder: Any,
        *,
        max_wait_ms: float = DEFAULT_MAX_WAIT_MS,
        max_batch: int = DEFAULT_MAX_BATCH,
    ) -> None:
        if isinstance(encoder, BatchingEncoder):
            raise InvalidInputError("the encoder is already a BatchingEncoder; wrap it once")
        self._encoder = encoder
        self.max_wait_ms = finite_number("max_wait_ms", max_wait_ms, minimum=0)
        self.max_batch = positive_int("max_batch", max_batch)
        self.stats = BatchingStats()
        self._model_lock = threading.RLock()
        self._queue_changed = threading.Condition()
        self._queue: list[_Request] = []
        self._leading = False  # a caller is collecting or encoding a batch
        self._closed = False

    # -- the interface of the wrapped encoder ------------------------------------------------

    @property
    def wrapped(self) -> Any:
        """The encoder this one batches for."""
        return self._encoder

    @property
    def identity(self) -> Any:
        """The wrapped encoder's model identity."""
        return self._encoder.identity

    @property
    def tokenizer(self) -> Any:
        """The wrapped encoder's tokenizer, every call serialised with the encodes."""
        return LockedTokenizer(self._encoder.tokenizer, self._model_lock)

    def __getattr__(self, name: str) -> Any:
        # Facts (dimension, max_seq_length, prompts, ...) read through; methods are wrapped so
        # they run under the model lock.
        return under_lock(getattr(self._encoder, name), self._model_lock)

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        """Encode queries, sharing one encoder call with other threads' queries.

        Returns exactly what the wrapped encoder's ``encode_queries`` returns for these
        texts: float32 (n, dimension), one row per text, in order.

        Raises:
            InvalidInputError: ``texts`` is a bare string or holds a non-string (checked here,
                so one caller's bad input never fails another's batch), or the encoder is
                closed.
        """
        text_list = string_list("texts", texts, what="query strings")
        if not text_list:
            return self._encoder.encode_queries([])
        request = _Request(text_list)
        with self._queue_changed:
            if self._closed:
                raise InvalidInputError("the batching encoder is closed; no more queries")
            self._queue.append(request)
            self._queue_changed.notify_all()
        while not request.done.is_set():
            batch = self._lead_or_wait(request)
            if batch is None:
                continue
            try:
                self._encode(batch)
            finally:
                with self._queue_changed:
                    self._leading = False
                    self._queue_changed.notify_all()
        if request.error is not None:
            raise request.error
        assert request.vectors is not None
        return request.vectors

    def close(self) -> None:
        """Refuse further queries (those queued are still encoded); idempotent."""
        with self._queue_changed:
            self._closed = True

    def __repr__(self) -> str:
        return (
            f"BatchingEncoder({self._encoder!r}, max_wait_ms={self.max_wait_ms:g}, "
            f"max_batch={self.max_batch})"
        )

    # -- batching --------------------------------------------------------------------------

    def _lead_or_wait(self, request: _Request) -> list[_Request] | None:
        """Wait while another caller leads; then, if ``request`` is still pending, lead: give
        the oldest queued request ``max_wait_ms`` for company and take up to ``max_batch``
        texts from the queue (at least one request). None when there is nothing to lead."""
        with self._queue_changed:
            while self._leading and not request.done.is_set():
                self._queue_changed.wait()
            if request.done.is_set():
                return None
            self._leading = True
            deadline = self._queue[0].arrived + self.max_wait_ms / 1000
            while _queued_texts(self._queue) < self.max_batch:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._queue_changed.wait(remaining)
            taken, size = 0, 0
            while taken < len(self._queue) and (
                taken == 0 or size + len(self._queue[taken].texts) <= self.max_batch
            ):
                size += len(self._queue[taken].texts)
                taken += 1
            batch, self._queue[:taken] = self._queue[:taken], []
            return batch

    def _encode(self, batch: list[_Request]) -> None:
        """One encoder call for the whole batch; each request gets its rows (or the error)."""
        texts = [text for request in batch for text in request.texts]
        try:
            with self._model_lock:
                vectors = self._encoder.encode_queries(texts)
        except BaseException as error:  # handed to every caller of the batch
            for request in batch:
                request.error = error
                request.done.set()
            return
        self.stats.requests += len(batch)
        self.stats.texts += len(texts)
        self.stats.batches += 1
        self.stats.largest_batch = max(self.stats.largest_batch, len(texts))
        start = 0
        for request in batch:
            request.vectors = vectors[start : start + len(request.texts)]
            start += len(request.texts)
            request.done.set()


def _queued_texts(queue: list[_Request]) -> int:
    return sum(len(request.texts) for request in queue)
