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
    "finite_number",
    "positive_int",
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
