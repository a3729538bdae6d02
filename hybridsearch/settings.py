"""The settings protocol every component follows.

A component's settings are a frozen dataclass that derives from :class:`Settings` and lives
beside the component (``BM25Settings`` in ``sparse/bm25.py``, ``VectorSettings`` in
``dense/vectors.py``, ...). The protocol:

- **validated when made**: ``__post_init__`` calls :meth:`Settings.validate`, so an
  instance that exists is a valid one, and bad values fail before any work starts;
- **strict on disk**: :meth:`Settings.to_dict` writes every field; :meth:`Settings.from_dict`
  refuses an unknown or a missing key with an :class:`~hybridsearch.errors.IndexFormatError`
  naming it, so a manifest never silently half-applies;
- **lenient in code**: :meth:`Settings.coerce` takes an instance, a mapping of some fields
  (the rest default) or ``None`` (all defaults), which is what user-facing arguments accept.

The index manifest maps component name -> ``to_dict()``; nothing is written twice.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, Self

from hybridsearch.errors import IndexFormatError, InvalidInputError

__all__ = ["Settings"]


class Settings:
    """Base of the components' frozen settings dataclasses (see the module docstring)."""

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Raise :class:`~hybridsearch.errors.InvalidInputError` if a field is out of range.

        Subclasses override this; the base accepts anything.
        """

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        """The settings' field names, in declaration order."""
        return tuple(field.name for field in dataclasses.fields(cls))  # type: ignore[arg-type]

    def to_dict(self) -> dict[str, Any]:
        """Every field, JSON-ready (tuples become lists)."""
        return {
            name: list(value) if isinstance(value, tuple) else value
            for name in self.field_names()
            for value in [getattr(self, name)]
        }

    @classmethod
    def from_dict(cls, data: Any, *, where: str = "settings") -> Self:
        """Read settings written by :meth:`to_dict`, strictly.

        Args:
            data: The mapping read from disk.
            where: Where it came from (file and key), for the error message.

        Raises:
            IndexFormatError: ``data`` is not a mapping, has an unknown or missing key, or a
                value out of range; the message names ``where`` and the key.
        """
        if not isinstance(data, Mapping):
            raise IndexFormatError(
                f"{where}: expected an object of {cls.__name__} fields, got {type(data).__name__}"
            )
        names = cls.field_names()
        for key in data:
            if key not in names:
                raise IndexFormatError(
                    f"{where}: unknown {cls.__name__} key {key!r}; expected: {', '.join(names)}"
                )
        for name in names:
            if name not in data:
                raise IndexFormatError(f"{where}: {cls.__name__} key {name!r} is missing")
        values = {
            name: tuple(value) if isinstance(value, list) else value
            for name, value in data.items()
        }
        try:
            return cls(**values)
        except InvalidInputError as error:
            raise IndexFormatError(f"{where}: {error}") from error

    @classmethod
    def coerce(cls, value: Any, name: str) -> Self:
        """An instance from an instance, a mapping of some of its fields, or ``None``.

        Raises:
            InvalidInputError: an unknown field, a bad value, or another type.
        """
        if value is None:
            return cls()
        if isinstance(value, cls):
            return value
        if isinstance(value, Mapping):
            names = cls.field_names()
            for key in value:
                if key not in names:
                    raise InvalidInputError(
                        f"{name}: unknown {cls.__name__} field {key!r}; expected: "
                        f"{', '.join(names)}"
                    )
            return cls(**value)
        raise InvalidInputError(
            f"{name} must be a {cls.__name__}, a mapping of its fields, or None; got "
            f"{type(value).__name__}"
        )
