"""How errors become responses: a status and a message, never a traceback or a file path.

- A request the models refuse (a wrong type, an unknown field) is a 422 listing each problem
  by its place (``body.k``), without echoing the input.
- The library's errors map to statuses by kind (bad input 422, unknown id 404, duplicate id
  409, read-only index 403, a failed write 503); their messages are shown with anything that
  looks like a file path replaced by ``<path>``.
- Anything else is a 500 saying only "internal error"; the traceback goes to the server's log.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from hybridsearch.errors import (
    DuplicateDocumentError,
    HybridSearchError,
    IndexLockedError,
    IndexWriteError,
    InvalidInputError,
    ReadOnlyIndexError,
    UnknownDocumentError,
)
from hybridsearch.server.limits import LimitExceeded

__all__ = ["install_error_handlers", "scrub_paths", "status_of"]

logger = logging.getLogger("hybridsearch.server")

# Two or more path components after a slash (or a drive letter): /a/b, C:\a\b, ./a/b.
_PATH = re.compile(r"(?:[A-Za-z]:|~|\.{1,2})?(?:[/\\][\w.\-@+]+){2,}[/\\]?")

# Most specific first: DuplicateDocumentError and UnknownDocumentError are InvalidInputErrors.
_STATUSES: tuple[tuple[type[BaseException], int], ...] = (
    (UnknownDocumentError, 404),
    (DuplicateDocumentError, 409),
    (InvalidInputError, 422),
    (ReadOnlyIndexError, 403),
    (IndexLockedError, 409),
    (IndexWriteError, 503),
)


def scrub_paths(message: str) -> str:
    """``message`` with anything that looks like a file path replaced by ``<path>``."""
    return _PATH.sub("<path>", message)


def status_of(error: BaseException) -> int:
    """The HTTP status of a library error (500 for one with no mapping)."""
    for kind, status in _STATUSES:
        if isinstance(error, kind):
            return status
    return 500


def install_error_handlers(app: Any) -> None:
    """Register the handlers above on a FastAPI app."""
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse

    async def invalid_request(_request: Any, error: RequestValidationError) -> Any:
        problems = [_problem(item) for item in error.errors()]
        summary = "; ".join(f"{'.'.join(map(str, p['loc']))}: {p['msg']}" for p in problems)
        return JSONResponse(
            {"detail": f"invalid request: {summary}", "errors": problems}, status_code=422
        )

    async def library_error(_request: Any, error: HybridSearchError) -> Any:
        status = status_of(error)
        if status == 500:
            logger.error("request failed", exc_info=error)
            return JSONResponse({"detail": "internal error"}, status_code=500)
        content: dict[str, Any] = {"detail": scrub_paths(str(error))}
        if isinstance(error, LimitExceeded):
            content["errors"] = [error.to_error()]
        return JSONResponse(content, status_code=status)

    async def unexpected_error(_request: Any, error: Exception) -> Any:
        logger.error("request failed", exc_info=error)
        return JSONResponse({"detail": "internal error"}, status_code=500)

    app.add_exception_handler(RequestValidationError, invalid_request)
    app.add_exception_handler(HybridSearchError, library_error)
    app.add_exception_handler(Exception, unexpected_error)


def _problem(item: dict[str, Any]) -> dict[str, Any]:
    """One validation problem: where, what, its kind; not the input (no echo of bodies)."""
    return {
        "loc": list(item.get("loc", ())),
        "msg": scrub_paths(str(item.get("msg", ""))),
        "type": item.get("type", ""),
    }
