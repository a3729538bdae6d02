"""Who may call what: the API key, and the rule that keeps a server off the network without one.

- A server binds to 127.0.0.1 unless told otherwise. On any other address it refuses to start
  without an API key (:func:`check_bind`): an open write endpoint on a network is a way to
  replace anyone's search results.
- With a key, every endpoint but health needs it (header ``X-API-Key``), the read endpoints
  (search, documents, stats) too unless the server opens them (``open_reads``).
- Without a key (loopback only) every endpoint is open to local processes.

Keys are compared in constant time (:func:`hmac.compare_digest`).
"""

from __future__ import annotations

import hmac
import ipaddress
from pathlib import Path

from hybridsearch.errors import InvalidInputError

__all__ = ["API_KEY_HEADER", "MIN_KEY_LENGTH", "check_bind", "is_loopback", "read_api_key"]

#: The request header that carries the key.
API_KEY_HEADER = "X-API-Key"
#: Shortest key accepted: 16 characters (e.g. ``openssl rand -hex 16`` gives 32).
MIN_KEY_LENGTH = 16


def read_api_key(path: str | Path) -> str:
    """The key in ``path`` (its first line, surrounding whitespace removed).

    Raises:
        InvalidInputError: the file cannot be read, or the key is shorter than
            :data:`MIN_KEY_LENGTH` characters.
    """
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise InvalidInputError(f"cannot read the API key file {path}: {error}") from None
    key = text.strip().splitlines()[0].strip() if text.strip() else ""
    if len(key) < MIN_KEY_LENGTH:
        raise InvalidInputError(
            f"the API key in {path} has {len(key)} characters; expected at least "
            f"{MIN_KEY_LENGTH} (e.g. the output of `openssl rand -hex 16`)"
        )
    return key


def is_loopback(host: str) -> bool:
    """Whether ``host`` is a loopback address (127.0.0.0/8, ::1) or ``localhost``."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_bind(host: str, api_key: str | None) -> None:
    """Refuse to serve on a non-loopback address without an API key.

    Raises:
        InvalidInputError: ``host`` is not loopback and there is no key.
    """
    if api_key is None and not is_loopback(host):
        raise InvalidInputError(
            f"--host {host} is not a loopback address: anyone who can reach it could write "
            "to the index. Give --api-key-file FILE (the write endpoints, and the read ones "
            "unless --open-reads, then need the header X-API-Key), or bind to 127.0.0.1"
        )


def key_matches(expected: str, given: str | None) -> bool:
    """Whether ``given`` is the key (constant-time comparison)."""
    if given is None:
        return False
    return hmac.compare_digest(expected.encode(), given.encode())
