"""Small checks shared by every layer: the one place argument validation is written.

Each helper raises :class:`~hybridsearch.errors.InvalidInputError` with a message that names
the argument and what was expected, and returns the value in its checked form, so callers
write ``k = positive_int("k", k)`` and move on.
"""

from __future__ import annotations

import hashlib
import math
import numbers
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from hybridsearch.errors import InvalidInputError

__all__ = [
    "check_choice",
    "check_unicode",
    "finite_number",
    "lone_surrogate",
    "positive_int",
    "printable",
    "sha256_file",
    "sha256_files",
    "string_list",
]

_CHUNK_BYTES = 1 << 20


def positive_int(name: str, value: Any) -> int:
    """``value`` as an ``int`` >= 1 (numpy integers accepted, bools refused)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise InvalidInputError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def finite_number(name: str, value: Any, *, minimum: float | None = None) -> float:
    """``value`` as a finite ``float`` (>= ``minimum`` when given); bools are refused."""
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Real)
        or not math.isfinite(value)
        or (minimum is not None and value < minimum)
    ):
        bound = f" >= {minimum:g}" if minimum is not None else ""
        raise InvalidInputError(f"{name} must be a finite number{bound}, got {value!r}")
    return float(value)


def check_choice(name: str, value: Any, choices: Sequence[str]) -> str:
    """``value`` if it is one of ``choices``, else an error listing them."""
    if not isinstance(value, str) or value not in choices:
        raise InvalidInputError(f"unknown {name} {value!r}; expected one of: {', '.join(choices)}")
    return value


def string_list(name: str, values: Any, *, what: str = "strings") -> list[str]:
    """``values`` as a list of ``str``, refusing a bare string (a common slip for ``[text]``).

    Args:
        name: The argument's name, for the message.
        values: Any iterable of strings except a string or bytes itself.
        what: What the strings are, for the message (``"texts"``, ``"tokens"``, ...).
    """
    if isinstance(values, str | bytes) or not isinstance(values, Iterable):
        raise InvalidInputError(
            f"{name} must be a sequence of {what} (a list, not a single string), got "
            f"{type(values).__name__}"
        )
    checked = list(values)
    for position, value in enumerate(checked):
        if not isinstance(value, str):
            raise InvalidInputError(
                f"{name}[{position}] is a {type(value).__name__}; expected a str"
            )
    return checked


def lone_surrogate(text: str) -> str | None:
    """Where ``text`` holds a lone surrogate, as a phrase for a message; None if it holds none.

    A lone surrogate (U+D800 to U+DFFF) is what Python makes of a byte that is not UTF-8 in
    a command-line argument or a file name (``surrogateescape``), and what a JSON escape such
    as ``"\\ud800"`` decodes to. It is not a character: it cannot be written as UTF-8,
    tokenised or stored, so text holding one is refused where it comes in (this is the rule
    everywhere; nothing is replaced silently).
    """
    if text.isascii():  # the common case, and a fast one
        return None
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as error:
        return (
            f"holds a lone surrogate (U+{ord(text[error.start]):04X}) at character {error.start}"
        )
    return None


def check_unicode(name: str, text: str) -> str:
    """``text`` unchanged, or InvalidInputError if it holds a lone surrogate (see
    :func:`lone_surrogate`); the message starts with ``name``."""
    where = lone_surrogate(text)
    if where is not None:
        raise InvalidInputError(
            f"{name} {where}; expected valid Unicode text (an undecodable byte in a "
            "command-line argument, a file name or a JSON escape makes one)"
        )
    return text


def printable(text: str) -> str:
    """``text`` with lone surrogates written as ``\\udcff`` escapes, safe to print or log."""
    if lone_surrogate(text) is None:
        return text
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def sha256_file(path: str | Path) -> str:
    """The hex sha256 of a file, read in 1 MiB chunks."""
    return sha256_files([path])


def sha256_files(paths: Iterable[str | Path]) -> str:
    """The hex sha256 of several files' bytes, read in order as one stream."""
    digest = hashlib.sha256()
    for path in paths:
        with open(path, "rb") as handle:
            while chunk := handle.read(_CHUNK_BYTES):
                digest.update(chunk)
    return digest.hexdigest()
