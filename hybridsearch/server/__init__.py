"""The HTTP service (FastAPI), an optional extra: ``pip install 'hybridsearch[server]'``.

:func:`create_app` makes the ASGI app for an index (to mount in another app, or run with
uvicorn); :func:`serve` runs it with uvicorn, as ``hybridsearch serve`` does. FastAPI and
uvicorn are imported only when an app is made or served.
"""

from __future__ import annotations

from hybridsearch.server.app import create_app
from hybridsearch.server.limits import Limits
from hybridsearch.server.running import serve

__all__ = ["Limits", "create_app", "serve"]
