"""Request limits: what one request may ask, so no client can hold the server for long.

A request over a limit gets a 422 whose ``errors`` entry names the field and the limit
(``"limit": "max_k"``); the body size is checked before the body is parsed, by
:class:`BodySizeLimit`, an ASGI middleware that also counts bodies sent without a
``Content-Length``.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any

from hybridsearch.errors import InvalidInputError
from hybridsearch.validation import positive_int

__all__ = ["BodySizeLimit", "LimitExceeded", "Limits"]


@dataclass(frozen=True)
class Limits:
    """What one request may ask.

    Attributes:
        max_query_chars: Characters in one query.
        max_k: Results per query.
        max_batch_queries: Queries in one batch search.
        max_write_documents: Documents in one add, update or delete.
        max_body_bytes: Bytes in a request body.
    """

    max_query_chars: int = 2_000
    max_k: int = 100
    max_batch_queries: int = 64
    max_write_documents: int = 1_000
    max_body_bytes: int = 4 * 2**20

    def __post_init__(self) -> None:
        for name, value in asdict(self).items():
            positive_int(name, value)

    def to_dict(self) -> dict[str, int]:
        """The limits, JSON-ready."""
        return asdict(self)

    def check_queries(self, field: str, queries: list[str]) -> None:
        """Refuse too many queries or one too long (``field`` names them in the error)."""
        if field == "queries" and len(queries) > self.max_batch_queries:
            raise LimitExceeded(
                ["body", field],
                f"{len(queries)} queries",
                "max_batch_queries",
                self.max_batch_queries,
            )
        for number, query in enumerate(queries):
            if len(query) > self.max_query_chars:
                location = ["body", field] if field == "query" else ["body", field, number]
                raise LimitExceeded(
                    location,
                    f"a query of {len(query)} characters",
                    "max_query_chars",
                    self.max_query_chars,
                )

    def check_k(self, k: int) -> None:
        """Refuse a k over ``max_k``."""
        if k > self.max_k:
            raise LimitExceeded(["body", "k"], f"k={k}", "max_k", self.max_k)

    def check_write(self, field: str, count: int) -> None:
        """Refuse a write of more than ``max_write_documents`` documents or ids."""
        if count > self.max_write_documents:
            raise LimitExceeded(
                ["body", field],
                f"{count} {field}",
                "max_write_documents",
                self.max_write_documents,
            )


class LimitExceeded(InvalidInputError):
    """A request asked more than a limit allows (a 422 naming the limit)."""

    def __init__(self, location: list[Any], asked: str, limit: str, value: int) -> None:
        super().__init__(f"{asked} is over the limit {limit}={value}")
        self.location = location
        self.limit = limit
        self.value = value

    def to_error(self) -> dict[str, Any]:
        """The entry of a 422 response's ``errors``."""
        return {"loc": self.location, "msg": str(self), "limit": self.limit, "value": self.value}


class BodySizeLimit:
    """ASGI middleware: a 422 naming ``max_body_bytes`` for a body over it, before parsing.

    A declared ``Content-Length`` over the limit is refused without reading the body; a body
    without one is read until it passes the limit, then refused.
    """

    def __init__(self, app: Any, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or ()).get(b"content-length")
        if declared is not None and declared.isdigit():
            if int(declared) > self.max_body_bytes:
                await self._refuse(send, f"a body of {int(declared)} bytes")
                return
            # The HTTP server reads no more than the declared length: nothing to count (the
            # common case: every search request).
            await self.app(scope, receive, send)
            return
        messages, size = [], 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                messages.append(message)
                break
            size += len(message.get("body", b""))
            if size > self.max_body_bytes:
                await self._refuse(send, f"a body of more than {self.max_body_bytes} bytes")
                return
            messages.append(message)
            if not message.get("more_body", False):
                break

        async def replay() -> dict[str, Any]:
            return messages.pop(0) if messages else await receive()

        await self.app(scope, replay, send)

    async def _refuse(self, send: Any, asked: str) -> None:
        error = LimitExceeded(["body"], asked, "max_body_bytes", self.max_body_bytes)
        body = json.dumps({"detail": str(error), "errors": [error.to_error()]}).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 422,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
