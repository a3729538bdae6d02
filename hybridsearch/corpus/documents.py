"""Documents and passages: the records every layer passes around, and their checks.

A :class:`Document` is what a user adds to an index; a :class:`Passage` is what both legs
(BM25 and dense) index, a piece of one document small enough for the encoder. Hits point back
from passages to documents through ``Passage.doc_id``. The readers that stream documents from
disk are in :mod:`hybridsearch.corpus.readers`.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from hybridsearch.errors import DuplicateDocumentError, InvalidInputError
from hybridsearch.validation import check_unicode, lone_surrogate

__all__ = [
    "FIELD_TYPES",
    "TITLE_SEPARATOR",
    "Document",
    "Passage",
    "check_metadata",
    "check_metadata_value",
    "check_unique_ids",
    "metadata_type",
]

#: What joins a carried title to the passage body in :attr:`Passage.indexed_text`.
TITLE_SEPARATOR = "\n"

#: The types a metadata value may have (``None`` means the field is absent).
FIELD_TYPES = ("string", "number", "bool", "string_list")

# Numbers are stored as float64 columns; integers beyond 2**53 would silently round there.
_MAX_EXACT_INT = 2**53
_TYPE_OF_EXACT = {
    type(None): None,
    str: "string",
    bool: "bool",
    int: "number",
    float: "number",
    list: "string_list",
}
_EXPECTED_VALUE = "expected a string, a finite number, a bool, a list of strings or None"


@dataclass(frozen=True, slots=True)
class Document:
    """A document as the user gives it: an id, its text, an optional title and metadata.

    Attributes:
        id: Unique, non-empty identifier; hits refer to documents by it. Readers convert
            integer ids found in JSON to ``str``; this class does not, so ids stay one type.
            The id, text, title, metadata keys and string values must be valid Unicode: a
            lone surrogate (from an undecodable byte, or a ``"\\ud800"`` JSON escape) is
            refused with InvalidInputError naming the field.
        text: The body text.
        title: Optional title; the chunker may prepend it to each passage's indexed text.
        metadata: Typed fields carried to results and used by filters (not indexed): each
            value a string, a finite number (int within +-2**53, or float), a bool, a list of
            strings, or ``None`` (absent); keys are non-empty strings. Checked when the
            document is made (:func:`check_metadata`) and kept as a copy, numpy scalars and
            tuples converted to their Python forms. It takes no part in hashing.
    """

    id: str
    text: str
    title: str = ""
    metadata: Mapping[str, Any] = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        if not isinstance(self.id, str) or not self.id:
            raise InvalidInputError(
                f"Document id must be a non-empty str, got {type(self.id).__name__} {self.id!r}"
            )
        if not isinstance(self.text, str):
            raise InvalidInputError(
                f"Document {self.id!r}: text must be a str, got {type(self.text).__name__}"
            )
        if not isinstance(self.title, str):
            raise InvalidInputError(
                f"Document {self.id!r}: title must be a str, got {type(self.title).__name__}"
            )
        # Text that UTF-8 cannot hold fails here, naming the field, not in a tokenizer or
        # when the index is written (repr escapes the surrogate, so the message prints).
        for name in ("id", "text", "title"):
            check_unicode(f"Document {self.id!r}: {name}", getattr(self, name))
        # A checked copy: later changes to the caller's mapping cannot bypass the checks.
        checked = check_metadata(self.metadata, f"Document {self.id!r}")
        object.__setattr__(self, "metadata", checked)


@dataclass(frozen=True, slots=True)
class Passage:
    """A piece of one document: the unit both the BM25 and the dense leg index.

    Attributes:
        passage_id: Integer id, the row of this passage in the index's arrays.
        doc_id: Id of the document this passage comes from.
        indexed_text: What both legs index: the title line when carried (``title`` then
            :data:`TITLE_SEPARATOR`), then the body. A hit shows the body alone
            (``document.text[start:end]``).
        start: Start of the passage's body in the document's text (character offset).
        end: End (exclusive), so ``document.text[start:end]`` is the body of this passage.
        title: The document's title when the chunker carries it, else ``""``.
    """

    passage_id: int
    doc_id: str
    indexed_text: str
    start: int
    end: int
    title: str = ""

    def __post_init__(self) -> None:
        # bool is an int subclass; True as an id or offset is always a bug upstream.
        if not _is_int(self.passage_id) or self.passage_id < 0:
            raise InvalidInputError(
                f"Passage passage_id must be a non-negative int, got {self.passage_id!r}"
            )
        if not isinstance(self.doc_id, str) or not self.doc_id:
            raise InvalidInputError(
                f"Passage {self.passage_id}: doc_id must be a non-empty str, got {self.doc_id!r}"
            )
        if not isinstance(self.indexed_text, str):
            raise InvalidInputError(
                f"Passage {self.passage_id}: indexed_text must be a str, got "
                f"{type(self.indexed_text).__name__}"
            )
        if not isinstance(self.title, str):
            raise InvalidInputError(
                f"Passage {self.passage_id}: title must be a str, got {type(self.title).__name__}"
            )
        if not (_is_int(self.start) and _is_int(self.end) and 0 <= self.start <= self.end):
            raise InvalidInputError(
                f"Passage {self.passage_id}: span must satisfy 0 <= start <= end (ints), got "
                f"start={self.start!r}, end={self.end!r}"
            )

    @classmethod
    def from_span(
        cls,
        document: Document,
        passage_id: int,
        start: int,
        end: int,
        *,
        carry_title: bool,
    ) -> Passage:
        """The passage of ``document.text[start:end]``, its title line carried or not.

        The one place ``indexed_text`` is composed, for the chunker and for an index that
        rebuilds its passages from stored spans.

        Args:
            document: The document the span is in.
            passage_id: The passage's row in the index.
            start: Start of the body (character offset in ``document.text``).
            end: End of the body (exclusive).
            carry_title: Prefix the document's title (if it has one) and
                :data:`TITLE_SEPARATOR`.
        """
        title = document.title if carry_title else ""
        prefix = title + TITLE_SEPARATOR if title else ""
        return cls(
            passage_id=passage_id,
            doc_id=document.id,
            indexed_text=prefix + document.text[start:end],
            start=start,
            end=end,
            title=title,
        )


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def check_metadata(metadata: Any, where: str) -> dict[str, Any]:
    """``metadata`` as a new dict of checked values (see :func:`check_metadata_value`).

    Args:
        metadata: A mapping of field name -> value.
        where: What holds it, the start of any message (``"Document 'd1'"``).

    Raises:
        InvalidInputError: Not a mapping, a key that is not a non-empty str, or a value of
            another type; the message names ``where`` and the key.
    """
    if not isinstance(metadata, Mapping):
        raise InvalidInputError(
            f"{where}: metadata must be a mapping, got {type(metadata).__name__}"
        )
    checked: dict[str, Any] = {}
    for key, value in metadata.items():
        if not isinstance(key, str) or not key:
            raise InvalidInputError(f"{where}: metadata key {key!r} must be a non-empty str")
        if (surrogate := lone_surrogate(key)) is not None:
            raise InvalidInputError(f"{where}: metadata key {key!r} {surrogate}")
        try:
            checked[key] = check_metadata_value(value)
        except InvalidInputError as error:
            raise InvalidInputError(f"{where}: metadata {key!r} {error}") from None
    return checked


def check_metadata_value(value: Any) -> Any:
    """``value`` in its stored form, or InvalidInputError saying why it cannot be stored.

    Accepted: ``None``; ``str`` (valid Unicode: no lone surrogate, which JSON's UTF-8 cannot
    hold; a str subclass is stored as its text); ``bool`` (numpy's too); an integer within
    +-2**53 or a finite float (numpy scalars become ``int``/``float``); a list or tuple of
    strings (becomes a ``list``). The message starts with the offending value, for callers to
    prefix.
    """
    # Fast paths for the exact JSON types: this runs for every value of every document.
    exact = type(value)
    if exact is str:
        return _valid_string(value)
    if exact is bool or value is None:
        return value
    if exact is int and -_MAX_EXACT_INT <= value <= _MAX_EXACT_INT:
        return value
    if exact is float and math.isfinite(value):
        return value
    if exact is list and all(type(item) is str and item.isascii() for item in value):
        return list(value)
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        # str.__str__: a str subclass's own text (a str Enum's value, not "Colour.RED").
        return _valid_string(str.__str__(value))
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, numbers.Integral):
        if abs(int(value)) > _MAX_EXACT_INT:
            raise InvalidInputError(
                f"is the integer {int(value)}, beyond +-2**53 (stored as float64, it would "
                "round); store it as a string"
            )
        return int(value)
    if isinstance(value, numbers.Real):
        if not math.isfinite(value):
            raise InvalidInputError(f"is {float(value)!r}; expected a finite number")
        return float(value)
    if isinstance(value, list | tuple):
        for position, item in enumerate(value):
            if not isinstance(item, str):
                raise InvalidInputError(
                    f"is a list whose item {position} is a {type(item).__name__} ({item!r}); "
                    "expected a list of strings"
                )
            if (surrogate := lone_surrogate(item)) is not None:
                raise InvalidInputError(f"item {position} {surrogate}")
        return [str.__str__(item) for item in value]
    raise InvalidInputError(f"is a {type(value).__name__} ({value!r}); {_EXPECTED_VALUE}")


def _valid_string(value: str) -> str:
    """A string metadata value, refused if JSON's UTF-8 cannot hold it."""
    surrogate = lone_surrogate(value)
    if surrogate is not None:
        raise InvalidInputError(surrogate)
    return value


def metadata_type(value: Any) -> str | None:
    """Which of :data:`FIELD_TYPES` a checked metadata value is; ``None`` for ``None``."""
    exact = _TYPE_OF_EXACT.get(type(value), "")
    if exact != "":
        return exact
    if value is None:
        return None
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "string_list"
    return "number"


def check_unique_ids(documents: Iterable[Document]) -> list[Document]:
    """Materialise documents, checking that each is a Document and no id repeats.

    Use it on documents that did not come from a reader (a user's list); the JSONL readers
    already reject duplicates within their file, with line numbers.

    Args:
        documents: Any iterable of documents.

    Returns:
        The documents as a list, in the given order.

    Raises:
        InvalidInputError: An item is not a :class:`Document`.
        DuplicateDocumentError: Two documents share an id (the message gives both positions).
    """
    checked: list[Document] = []
    position_by_id: dict[str, int] = {}
    for position, document in enumerate(documents):
        if not isinstance(document, Document):
            raise InvalidInputError(
                f"documents[{position}] is a {type(document).__name__}; expected a Document"
            )
        first_position = position_by_id.setdefault(document.id, position)
        if first_position != position:
            raise DuplicateDocumentError(
                f"duplicate document id {document.id!r} at positions {first_position} and "
                f"{position}; expected unique ids"
            )
        checked.append(document)
    return checked
