"""A lean HTTP/1.1 keep-alive client for the server benchmarks: raw asyncio streams, one
connection per worker, no connection pool, no response objects.

Why not httpx: the client shares the 2 cores with the server it measures, so every
millisecond of client CPU is a millisecond the server does not get. httpx's AsyncClient costs
about 2-3 ms of CPU per request here (pool bookkeeping, header models, h11 on the client
side); this client writes one prepared request line and reads ``Content-Length`` bytes back.
``benchmarks/serve_load.py`` reports the client's own CPU per request (``getrusage``), so the
cost it still has is stated, not hidden.

It speaks only what the benchmarks need: a POST or GET with a JSON body, a response with a
``Content-Length`` (uvicorn sends one for every JSON response), keep-alive.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import resource
from typing import Any

__all__ = ["Connection", "cpu_seconds"]


def cpu_seconds() -> float:
    """CPU seconds (user + system) this process has used: what the client costs."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class Connection:
    """One keep-alive connection to ``host:port``; requests on it run one after another."""

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def request(
        self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
    ) -> tuple[int, bytes]:
        """Send one request (``body`` as JSON), return the status and the raw response body.

        Reconnects once if the server closed the idle connection.
        """
        payload = b"" if body is None else json.dumps(body).encode()
        head = (
            f"{method} {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n"
        )
        for name, value in (headers or {}).items():
            head += f"{name}: {value}\r\n"
        message = head.encode() + b"\r\n" + payload
        for attempt in range(2):
            try:
                return await self._exchange(message)
            except (ConnectionError, asyncio.IncompleteReadError):
                await self.close()
                if attempt:
                    raise
        raise AssertionError("unreachable")

    async def _exchange(self, message: bytes) -> tuple[int, bytes]:
        if self._writer is None:
            self._reader, self._writer = await asyncio.open_connection(self.host, self.port)
        assert self._reader is not None
        self._writer.write(message)
        head = await self._reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        length = 0
        for line in lines[1:]:
            name, _, value = line.partition(":")
            if name.lower() == "content-length":
                length = int(value)
        return status, await self._reader.readexactly(length)

    async def close(self) -> None:
        """Close the connection (a later request opens a new one)."""
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(ConnectionError):
                await self._writer.wait_closed()
        self._reader = self._writer = None
