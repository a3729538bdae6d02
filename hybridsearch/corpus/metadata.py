"""Typed metadata columns of one segment: numpy arrays per field, no Python object per row.

Each field has one of :data:`FIELD_TYPES`; its column over the segment's ``n`` document rows:

- ``string``: ``codes`` int32 (n,) into the field's vocabulary, -1 = absent;
- ``string_list``: CSR ``indptr`` int64 (n+1,) + ``codes`` int32, and ``present`` bool (n,)
  (an empty list is present; ``None`` is not);
- ``number``: ``values`` float64 (n,) + ``present`` bool (n,);
- ``bool``: ``values`` int8 (n,): 1 true, 0 false, -1 absent.

A vocabulary holds a field's distinct strings sorted by their UTF-8 bytes, stored back to back
(``vocab_bytes`` uint8) with ``vocab_offsets`` int64, so a lookup is a binary search over the
memory map and nothing is decoded per row. A field this segment does not hold is absent in
every row. On disk: ``metadata.json`` (format version, row count, the fields in order with
their types) and one ``metadata.{position}.{array}.npy`` per array; no pickle.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from hybridsearch.corpus.documents import (
    FIELD_TYPES,
    check_metadata,
    check_metadata_value,
    metadata_type,
)
from hybridsearch.corpus.metadata_arrays import (
    METADATA_FILE,
    METADATA_FORMAT_VERSION,
    Column,
    Vocabulary,
    build_column,
    concatenate_columns,
    load_column,
    read_description,
    rows_containing,
    save_column,
    take_column,
    write_description,
)
from hybridsearch.errors import InvalidInputError

__all__ = [
    "FIELD_TYPES",
    "METADATA_FILE",
    "METADATA_FORMAT_VERSION",
    "RANGE_OPERATORS",
    "VALUE_KIND",
    "MetadataColumns",
]

#: The comparisons of number fields.
RANGE_OPERATORS = ("gt", "gte", "lt", "lte")
_COMPARE = {"gt": np.greater, "gte": np.greater_equal, "lt": np.less, "lte": np.less_equal}
#: The kind of value (:func:`metadata_type` of a scalar) each field type is matched against.
VALUE_KIND = {"string": "string", "string_list": "string", "number": "number", "bool": "bool"}


class MetadataColumns:
    """The typed metadata of one segment's documents, as columns (see the module docstring).

    Attributes:
        num_rows: Number of document rows.
        field_types: Field name -> one of :data:`FIELD_TYPES` (a copy).
    """

    def __init__(
        self, num_rows: int, field_types: Mapping[str, str], columns: Mapping[str, Column]
    ):
        self.num_rows = int(num_rows)
        self._field_types = dict(field_types)
        self._columns = dict(columns)

    @property
    def field_types(self) -> dict[str, str]:
        return dict(self._field_types)

    def __repr__(self) -> str:
        return f"MetadataColumns(num_rows={self.num_rows}, field_types={self._field_types})"

    @classmethod
    def from_documents(
        cls,
        metadatas: Sequence[Mapping[str, Any]],
        *,
        known_types: Mapping[str, str] | None = None,
        ids: Sequence[str] | None = None,
    ) -> MetadataColumns:
        """Columns of the documents' metadata (row i = ``metadatas[i]``), types inferred.

        Args:
            metadatas: One mapping per document (``Document.metadata``), checked again.
            known_types: Field types already fixed elsewhere (the index's other segments);
                a value of another type is refused, so a later merge cannot fail.
            ids: The documents' ids, only to name them in messages.

        Raises:
            InvalidInputError: A value that is not typed metadata, or a field holding two
                types; the message names the field, both types and the document row.
        """
        known = dict(known_types or {})
        types: dict[str, str] = {}
        first_where: dict[str, str] = {}
        values: dict[str, list[tuple[int, Any]]] = {}
        for row, metadata in enumerate(metadatas):
            where = f"document row {row}" if ids is None else f"document {ids[row]!r} (row {row})"
            for field, value in check_metadata(metadata, where).items():
                if value is None:
                    continue
                kind = metadata_type(value)
                pairs = values.get(field)
                if pairs is None:
                    pairs = values[field] = []
                    types[field] = known.get(field, kind)
                    first_where[field] = (
                        where if field not in known else "this index's other segments"
                    )
                if types[field] != kind:
                    raise InvalidInputError(
                        f"metadata field {field!r} holds {types[field]} values (first in "
                        f"{first_where[field]}) and a {kind} value in {where}; a field holds "
                        "one type"
                    )
                pairs.append((row, value))
        count = len(metadatas)
        columns = {
            field: build_column(types[field], count, pairs) for field, pairs in values.items()
        }
        return cls(count, types, columns)

    # --- column access (used by filters) ---------------------------------------------------

    def equals(self, field: str, value: Any) -> np.ndarray:
        """Rows whose ``field`` equals ``value`` (a string_list field: contains it)."""
        return self.isin(field, [value])

    def isin(self, field: str, values: Iterable[Any]) -> np.ndarray:
        """Rows whose ``field`` equals any of ``values`` (a string_list: contains any)."""
        if isinstance(values, str | bytes) or not isinstance(values, Iterable):
            raise InvalidInputError(f"values for {field!r} must be a list, got {values!r}")
        column = self._columns.get(field)
        field_type = self._field_types.get(field)
        operands = [self._operand(field, field_type, value) for value in values]
        if column is None or field_type is None:
            return np.zeros(self.num_rows, dtype=bool)
        if field_type == "number":
            return column["present"] & np.isin(column["values"], np.array(operands, np.float64))
        if field_type == "bool":
            return np.isin(column["values"], np.array(operands, dtype=np.int8))
        vocabulary = Vocabulary(column)
        found = {vocabulary.code(value) for value in operands} - {-1}
        matched = np.isin(column["codes"], np.array(sorted(found), dtype=np.int32))
        return matched if field_type == "string" else rows_containing(column, matched)

    def compare(self, field: str, op: str, number: Any) -> np.ndarray:
        """Rows whose number ``field`` is ``op`` (gt, gte, lt, lte) ``number``."""
        if op not in _COMPARE:
            raise InvalidInputError(f"unknown comparison {op!r}; expected one of: gt, gte, lt, lte")
        self._operand(field, "number", number)
        field_type = self._field_types.get(field)
        if field_type is None:
            return np.zeros(self.num_rows, dtype=bool)
        if field_type != "number":
            raise InvalidInputError(
                f"metadata field {field!r} is a {field_type} field; {op!r} compares numbers only"
            )
        column = self._columns[field]
        return column["present"] & _COMPARE[op](column["values"], float(number))

    def exists(self, field: str) -> np.ndarray:
        """Rows that hold a value (not ``None``) for ``field``."""
        column = self._columns.get(field)
        field_type = self._field_types.get(field)
        if column is None:
            return np.zeros(self.num_rows, dtype=bool)
        if field_type == "string":
            return column["codes"] >= 0
        if field_type == "bool":
            return column["values"] >= 0
        return np.array(column["present"], dtype=bool)

    def value(self, row: int, field: str) -> Any:
        """The value of ``field`` in ``row`` as given (a number comes back as ``float``)."""
        if not 0 <= row < self.num_rows:
            raise InvalidInputError(f"row {row} is out of range for {self.num_rows} rows")
        column = self._columns.get(field)
        field_type = self._field_types.get(field)
        if column is None:
            return None
        if field_type == "bool":
            flag = int(column["values"][row])
            return None if flag < 0 else bool(flag)
        if field_type == "string":
            code = int(column["codes"][row])
            return None if code < 0 else Vocabulary(column).string(code)
        if not column["present"][row]:
            return None
        if field_type == "number":
            return float(column["values"][row])
        vocabulary = Vocabulary(column)
        start, end = column["indptr"][row], column["indptr"][row + 1]
        return [vocabulary.string(int(code)) for code in column["codes"][start:end]]

    def _operand(self, field: str, field_type: str | None, value: Any) -> Any:
        try:
            checked = check_metadata_value(value)
        except InvalidInputError as error:
            raise InvalidInputError(f"metadata field {field!r}: the value {error}") from None
        kind = metadata_type(checked)
        if kind in (None, "string_list") or (
            field_type is not None and kind != VALUE_KIND[field_type]
        ):
            raise InvalidInputError(
                f"metadata field {field!r} is a {field_type or 'absent'} field; cannot match "
                f"{value!r} (a {kind or 'null'} value) against it"
            )
        return checked

    # --- rows and merges ---------------------------------------------------------------------

    def take(self, rows: Any) -> MetadataColumns:
        """The columns of ``rows`` (int array, any order) as a new segment's; vocabularies kept."""
        rows = np.asarray(rows)
        if rows.ndim != 1 or (rows.size and rows.dtype.kind not in "iu"):
            raise InvalidInputError(
                f"rows must be a 1-D integer array, got {rows.dtype} {rows.shape}"
            )
        rows = rows.astype(np.int64)
        if rows.size and (rows.min() < 0 or rows.max() >= self.num_rows):
            raise InvalidInputError(f"rows out of range for {self.num_rows} rows")
        columns = {
            field: take_column(self._field_types[field], column, rows)
            for field, column in self._columns.items()
        }
        return MetadataColumns(len(rows), self._field_types, columns)

    @classmethod
    def concatenate(cls, parts: Sequence[tuple[MetadataColumns, np.ndarray]]) -> MetadataColumns:
        """The kept rows of each part, in order, as one segment's columns (for merges).

        Args:
            parts: ``(columns, keep)`` pairs, ``keep`` a bool mask over the part's rows.

        Raises:
            InvalidInputError: A mask of the wrong shape or dtype, or a field with two types.
        """
        taken: list[MetadataColumns] = []
        types: dict[str, str] = {}
        for position, (columns, keep) in enumerate(parts):
            keep = np.asarray(keep)
            if keep.dtype != np.bool_ or keep.shape != (columns.num_rows,):
                raise InvalidInputError(
                    f"parts[{position}]: keep must be a bool mask of {columns.num_rows} rows, "
                    f"got {keep.dtype} {keep.shape}"
                )
            for field, field_type in columns.field_types.items():
                if types.setdefault(field, field_type) != field_type:
                    raise InvalidInputError(
                        f"metadata field {field!r} is a {types[field]} field in an earlier part "
                        f"and a {field_type} field in parts[{position}]; a field holds one type"
                    )
            taken.append(columns.take(np.flatnonzero(keep)))
        merged = {
            field: concatenate_columns(
                field_type, [(p.num_rows, p._columns.get(field)) for p in taken]
            )
            for field, field_type in types.items()
        }
        return cls(sum(p.num_rows for p in taken), types, merged)

    # --- disk --------------------------------------------------------------------------------

    def save(self, directory: str | Path) -> list[str]:
        """Write the columns into ``directory`` (created if missing); return the file names."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        types = {field: self._field_types[field] for field in sorted(self._field_types)}
        names: list[str] = []
        for position, (field, field_type) in enumerate(types.items()):
            names += save_column(directory, position, field_type, self._columns[field])
        # The description last: a directory without it is not a readable one.
        return [*names, write_description(directory, self.num_rows, types)]

    @classmethod
    def load(cls, directory: str | Path, *, mmap: bool = True) -> MetadataColumns:
        """Read columns written by :meth:`save`, checking their structure.

        Raises:
            IndexFormatError: A file is missing, unreadable, of another dtype or shape, or
                its values are out of range; the message names the file.
        """
        directory = Path(directory)
        num_rows, fields = read_description(directory / METADATA_FILE)
        columns = {
            field: load_column(directory, position, field_type, num_rows, mmap=mmap)
            for position, (field, field_type) in enumerate(fields.items())
        }
        return cls(num_rows, fields, columns)
