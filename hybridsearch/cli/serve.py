"""``hybridsearch serve``: serve an index over HTTP (FastAPI + uvicorn, the ``server`` extra).

Safe by default: it binds to 127.0.0.1, refuses any other address without ``--api-key-file``,
and with a key every endpoint but health needs it, the read ones too unless ``--open-reads``.
See :mod:`hybridsearch.server` for the endpoints; ``/docs`` on the running server shows them.
"""

from __future__ import annotations

import argparse
from typing import Any

from hybridsearch.cli.options import add_model_option
from hybridsearch.errors import InvalidInputError


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``serve`` and its options to ``subparsers``."""
    parser = subparsers.add_parser(
        "serve",
        help="serve an index over HTTP (search, documents, writes, health, stats)",
        description="Serve an index over HTTP with FastAPI and uvicorn (pip install "
        "'hybridsearch[server]'). Writes commit before they are acknowledged. Stop with "
        "Ctrl-C or SIGTERM: requests in flight finish first.",
    )
    parser.add_argument("--index", required=True, help="the index directory")
    parser.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to bind (default 127.0.0.1; any other needs --api-key-file)",
    )
    parser.add_argument("--port", type=int, default=8000, help="TCP port (default 8000)")
    parser.add_argument(
        "--api-key-file",
        help="file holding the API key (16+ characters) that requests give in the X-API-Key "
        "header: the write endpoints need it, and the read ones unless --open-reads",
    )
    parser.add_argument(
        "--open-reads",
        action="store_true",
        help="let search, documents and stats answer without the API key",
    )
    parser.add_argument(
        "--read-only",
        action="store_true",
        help="load the index for reading only (no write lock; writes answer 403)",
    )
    parser.add_argument(
        "--max-wait-ms",
        type=float,
        # index.search_batching.DEFAULT_SEARCH_WAIT_MS, written out: `--help` imports nothing
        # heavy (tests/cli/test_main.py), and hybridsearch.index is.
        default=50.0,
        help="the longest a batch of concurrent searches waits for company; a lone client's "
        "search never waits (default 50)",
    )
    parser.add_argument(
        "--no-response-process",
        dest="response_process",
        action="store_false",
        help="build the responses of concurrent searches in the search thread, not in a "
        "helper process beside it (one process less; lower throughput under load)",
    )
    parser.add_argument(
        "--log-level",
        default="info",
        choices=("critical", "error", "warning", "info", "debug"),
        help="uvicorn's log level (default info: one line per request)",
    )
    add_model_option(parser)
    return parser


def run(args: argparse.Namespace) -> int:
    """Check the options, then serve until interrupted."""
    try:
        from hybridsearch.server import serve
        from hybridsearch.server.security import read_api_key
    except ImportError as error:  # pragma: no cover - depends on the environment
        raise InvalidInputError(
            f"serving needs the server extra ({error.name} is missing): "
            "pip install 'hybridsearch[server]'"
        ) from None
    if not 0 < args.port < 65536:
        raise InvalidInputError(f"--port must be 1-65535, got {args.port}")
    api_key = read_api_key(args.api_key_file) if args.api_key_file else None
    serve(
        args.index,
        host=args.host,
        port=args.port,
        api_key=api_key,
        open_reads=args.open_reads,
        read_only=args.read_only,
        model=args.model,
        max_wait_ms=args.max_wait_ms,
        response_process=args.response_process,
        log_level=args.log_level,
    )
    return 0
