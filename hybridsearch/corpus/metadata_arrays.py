"""The arrays behind :class:`~hybridsearch.corpus.metadata.MetadataColumns` (internal).

One column per field, a dict of array name -> numpy array whose names and dtypes per field
type are :data:`LAYOUT` (the storage is described in :mod:`hybridsearch.corpus.metadata`).
This module builds columns from values, gathers and concatenates rows, and reads and checks
them from disk; it knows nothing of filters.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np

from hybridsearch.corpus.documents import FIELD_TYPES
from hybridsearch.errors import IndexFormatError, IndexVersionError

__all__ = [
    "LAYOUT",
    "METADATA_FILE",
    "METADATA_FORMAT_VERSION",
    "Column",
    "Vocabulary",
    "build_column",
    "concatenate_columns",
    "load_column",
    "read_description",
    "rows_containing",
    "save_column",
    "take_column",
    "write_description",
]

METADATA_FORMAT_VERSION = 1
METADATA_FILE = "metadata.json"

VOCABULARY = {"vocab_offsets": np.int64, "vocab_bytes": np.uint8}
# Array name -> dtype, per field type: what is saved, loaded and checked.
LAYOUT: dict[str, dict[str, Any]] = {
    "string": {"codes": np.int32, **VOCABULARY},
    "string_list": {"indptr": np.int64, "codes": np.int32, "present": np.bool_, **VOCABULARY},
    "number": {"values": np.float64, "present": np.bool_},
    "bool": {"values": np.int8},
}

#: One field's arrays: array name -> array, names and dtypes as in :data:`LAYOUT`.
Column = dict[str, np.ndarray]


def encode(text: str) -> bytes:
    # surrogatepass: a lone surrogate is a valid Python str; it must round-trip, not crash.
    return text.encode("utf-8", "surrogatepass")


class Vocabulary:
    """A field's distinct strings, sorted by UTF-8 bytes, as one byte array + offsets."""

    def __init__(self, column: Column) -> None:
        self.offsets = column["vocab_offsets"]
        self.blob = column["vocab_bytes"]

    @staticmethod
    def build(encoded: Iterable[bytes]) -> tuple[Column, dict[bytes, int]]:
        """The vocabulary arrays of ``encoded`` strings, and each one's code."""
        ordered = sorted(set(encoded))
        offsets = np.zeros(len(ordered) + 1, dtype=np.int64)
        np.cumsum([len(entry) for entry in ordered], out=offsets[1:])
        blob = np.frombuffer(b"".join(ordered), dtype=np.uint8).copy()
        arrays = {"vocab_offsets": offsets, "vocab_bytes": blob}
        return arrays, {entry: code for code, entry in enumerate(ordered)}

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def entry(self, code: int) -> bytes:
        return self.blob[self.offsets[code] : self.offsets[code + 1]].tobytes()

    def entries(self, codes: np.ndarray) -> list[bytes]:
        """The entries of many codes; one copy of the bytes instead of a slice per code."""
        blob = self.blob.tobytes()
        starts = self.offsets[codes].tolist()
        ends = self.offsets[np.asarray(codes) + 1].tolist()
        return [blob[start:end] for start, end in zip(starts, ends, strict=True)]

    def string(self, code: int) -> str:
        try:
            return self.entry(code).decode("utf-8", "surrogatepass")
        except UnicodeDecodeError as error:
            raise IndexFormatError(f"metadata vocabulary entry {code} is not UTF-8") from error

    def code(self, value: str) -> int:
        """The code of ``value``, or -1 when no row holds it (binary search, nothing decoded)."""
        target = encode(value)
        low, high = 0, len(self)
        while low < high:
            middle = (low + high) // 2
            if self.entry(middle) < target:
                low = middle + 1
            else:
                high = middle
        return low if low < len(self) and self.entry(low) == target else -1


def build_column(field_type: str, count: int, pairs: list[tuple[int, Any]]) -> Column:
    """The column of ``count`` rows holding ``(row, checked value)`` pairs (rows ascending)."""
    return _BUILDERS[field_type](count, pairs)


def take_column(field_type: str, column: Column, rows: np.ndarray) -> Column:
    """The column of ``rows`` (checked int64 indices, any order); the vocabulary is kept."""
    if field_type == "string_list":
        return {**_take_list_column(column, rows), **_vocabulary_of(column)}
    taken = {
        name: np.asarray(array[rows]) for name, array in column.items() if name not in VOCABULARY
    }
    return {**taken, **_vocabulary_of(column)}


def concatenate_columns(field_type: str, parts: list[tuple[int, Column | None]]) -> Column:
    """One column of the parts' rows in order; a part is (its row count, its column or None)."""
    return _CONCATENATE[field_type](parts)


def _vocabulary_of(column: Column) -> Column:
    return {name: column[name] for name in VOCABULARY if name in column}


def rows_containing(column: Column, matched_items: np.ndarray) -> np.ndarray:
    """Rows of a list column with at least one matched item (a mask over the flat codes)."""
    rows = np.zeros(len(column["present"]), dtype=bool)
    items = np.flatnonzero(matched_items)
    rows[np.searchsorted(column["indptr"], items, side="right") - 1] = True
    return rows


def _take_list_column(column: Column, rows: np.ndarray) -> Column:
    indptr = column["indptr"]
    starts = np.asarray(indptr[rows])
    lengths = np.asarray(indptr[rows + 1]) - starts
    new_indptr = np.zeros(len(rows) + 1, dtype=np.int64)
    np.cumsum(lengths, out=new_indptr[1:])
    # Position j of the new flat array reads old position j + (old start - new start).
    gather = np.repeat(starts - new_indptr[:-1], lengths) + np.arange(new_indptr[-1])
    return {
        "indptr": new_indptr,
        "codes": np.asarray(column["codes"][gather], dtype=np.int32),
        "present": np.asarray(column["present"][rows]),
    }


# --- building columns ----------------------------------------------------------------------


def _string_column(count: int, pairs: list[tuple[int, Any]]) -> Column:
    encoded = [encode(value) for _, value in pairs]
    arrays, code_of = Vocabulary.build(encoded)
    codes = np.full(count, -1, dtype=np.int32)
    codes[[row for row, _ in pairs]] = [code_of[entry] for entry in encoded]
    return {"codes": codes, **arrays}


def _string_list_column(count: int, pairs: list[tuple[int, Any]]) -> Column:
    encoded = [[encode(item) for item in items] for _, items in pairs]
    arrays, code_of = Vocabulary.build(entry for items in encoded for entry in items)
    lengths = np.zeros(count, dtype=np.int64)
    present = np.zeros(count, dtype=bool)
    rows = [row for row, _ in pairs]
    lengths[rows] = [len(items) for items in encoded]
    present[rows] = True
    indptr = np.zeros(count + 1, dtype=np.int64)
    np.cumsum(lengths, out=indptr[1:])
    flat = [code_of[entry] for items in encoded for entry in items]
    return {"indptr": indptr, "codes": np.array(flat, dtype=np.int32), "present": present, **arrays}


def _number_column(count: int, pairs: list[tuple[int, Any]]) -> Column:
    values = np.full(count, np.nan, dtype=np.float64)
    present = np.zeros(count, dtype=bool)
    values[[row for row, _ in pairs]] = [value for _, value in pairs]
    present[[row for row, _ in pairs]] = True
    return {"values": values, "present": present}


def _bool_column(count: int, pairs: list[tuple[int, Any]]) -> Column:
    values = np.full(count, -1, dtype=np.int8)
    values[[row for row, _ in pairs]] = [int(value) for _, value in pairs]
    return {"values": values}


_BUILDERS = {
    "string": _string_column,
    "string_list": _string_list_column,
    "number": _number_column,
    "bool": _bool_column,
}


# --- concatenating columns (each part: its row count and its column, None if absent) --------


def _concatenate_values(
    field_type: str, fill: dict[str, Any]
) -> Callable[[list[tuple[int, Column | None]]], Column]:
    """The concatenation of a number or bool column; ``fill`` is each array's absent value."""
    dtypes = LAYOUT[field_type]

    def concatenate(parts: list[tuple[int, Column | None]]) -> Column:
        return {
            name: np.concatenate(
                [np.full(n, value, dtype=dtypes[name]) if c is None else c[name] for n, c in parts]
            ).astype(dtypes[name], copy=False)
            for name, value in fill.items()
        }

    return concatenate


def _concatenate_strings(parts: list[tuple[int, Column | None]]) -> Column:
    arrays, codes = _merge_vocabularies([c for _, c in parts])
    absent = [np.full(n, -1, dtype=np.int32) for n, _ in parts]
    merged = [absent[i] if c is None else codes[i] for i, (_, c) in enumerate(parts)]
    return {"codes": np.concatenate([np.zeros(0, np.int32), *merged]), **arrays}


def _concatenate_string_lists(parts: list[tuple[int, Column | None]]) -> Column:
    arrays, codes = _merge_vocabularies([c for _, c in parts])
    lengths = [np.zeros(n, np.int64) if c is None else np.diff(c["indptr"]) for n, c in parts]
    indptr = np.zeros(sum(n for n, _ in parts) + 1, dtype=np.int64)
    np.cumsum(np.concatenate([np.zeros(0, np.int64), *lengths]), out=indptr[1:])
    present = [np.zeros(n, bool) if c is None else c["present"] for n, c in parts]
    return {
        "indptr": indptr,
        "codes": np.concatenate([np.zeros(0, np.int32), *[c for c in codes if c is not None]]),
        "present": np.concatenate([np.zeros(0, bool), *present]),
        **arrays,
    }


def _merge_vocabularies(columns: list[Column | None]) -> tuple[Column, list[np.ndarray | None]]:
    """One vocabulary of the strings the parts use, and each part's codes re-encoded in it."""
    used: list[np.ndarray] = []
    entries: list[list[bytes]] = []
    for column in columns:
        codes = np.zeros(0, np.int32) if column is None else np.asarray(column["codes"])
        used.append(np.unique(codes[codes >= 0]))
        entries.append([] if column is None else Vocabulary(column).entries(used[-1]))
    arrays, code_of = Vocabulary.build(entry for part in entries for entry in part)
    remapped: list[np.ndarray | None] = []
    for column, part_used, part_entries in zip(columns, used, entries, strict=True):
        if column is None:
            remapped.append(None)
            continue
        # One slot past the end holds -1, so an absent code (-1) maps to -1.
        table = np.full(len(Vocabulary(column)) + 1, -1, dtype=np.int32)
        table[part_used] = [code_of[entry] for entry in part_entries]
        remapped.append(table[column["codes"]])
    return arrays, remapped


_CONCATENATE = {
    "string": _concatenate_strings,
    "string_list": _concatenate_string_lists,
    "number": _concatenate_values("number", {"values": np.nan, "present": False}),
    "bool": _concatenate_values("bool", {"values": -1}),
}


# --- reading and checking ---------------------------------------------------------------------


def save_column(directory: Path, position: int, field_type: str, column: Column) -> list[str]:
    """Write one field's arrays as ``metadata.{position}.{array}.npy``; return the names."""
    names = []
    for name, dtype in LAYOUT[field_type].items():
        names.append(f"metadata.{position}.{name}.npy")
        with open(directory / names[-1], "wb") as handle:
            np.save(handle, np.ascontiguousarray(column[name], dtype=dtype), allow_pickle=False)
    return names


def load_column(
    directory: Path, position: int, field_type: str, num_rows: int, *, mmap: bool
) -> Column:
    """Read and structurally check one field's arrays (IndexFormatError names the file)."""
    files = {name: directory / f"metadata.{position}.{name}.npy" for name in LAYOUT[field_type]}
    column = {
        name: _load_array(files[name], dtype, mmap) for name, dtype in LAYOUT[field_type].items()
    }
    _check_column(field_type, column, num_rows, files)
    return column


def write_description(directory: Path, num_rows: int, field_types: dict[str, str]) -> str:
    """Write ``metadata.json`` (fields in the order given); return its name."""
    description = {
        "format_version": METADATA_FORMAT_VERSION,
        "num_rows": num_rows,
        "fields": [{"name": name, "type": kind} for name, kind in field_types.items()],
    }
    (directory / METADATA_FILE).write_text(json.dumps(description), encoding="utf-8")
    return METADATA_FILE


def read_description(path: Path) -> tuple[int, dict[str, str]]:
    """The row count and the fields (in file order) of a ``metadata.json``, checked."""
    try:
        description = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise IndexFormatError(f"{path}: cannot read metadata description: {error}") from error
    expected = {"format_version", "num_rows", "fields"}
    if not isinstance(description, dict) or set(description) != expected:
        keys = sorted(description) if isinstance(description, dict) else type(description).__name__
        raise IndexFormatError(
            f"{path}: expected an object with keys {sorted(expected)}, got {keys}"
        )
    if description["format_version"] != METADATA_FORMAT_VERSION:
        raise IndexVersionError(
            f"{path}: metadata format version {description['format_version']!r}; this release "
            f"reads version {METADATA_FORMAT_VERSION}"
        )
    num_rows = description["num_rows"]
    if not isinstance(num_rows, int) or isinstance(num_rows, bool) or num_rows < 0:
        raise IndexFormatError(f"{path}: num_rows must be a non-negative integer, got {num_rows!r}")
    fields: dict[str, str] = {}
    entries = description["fields"]
    for position, entry in enumerate(entries if isinstance(entries, list) else [entries]):
        if (
            not isinstance(entries, list)
            or not isinstance(entry, dict)
            or set(entry) != {"name", "type"}
            or not isinstance(entry["name"], str)
            or not entry["name"]
            or entry["name"] in fields
            or entry["type"] not in FIELD_TYPES
        ):
            raise IndexFormatError(
                f"{path}: fields[{position}] must be {{'name': a new non-empty string, 'type': "
                f"one of {', '.join(FIELD_TYPES)}}}, got {entry!r}"
            )
        fields[entry["name"]] = entry["type"]
    return num_rows, fields


def _load_array(path: Path, dtype: Any, mmap: bool) -> np.ndarray:
    try:
        array = np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
    except (OSError, ValueError, EOFError) as error:
        raise IndexFormatError(f"{path}: cannot read metadata array: {error}") from error
    if array.dtype != np.dtype(dtype) or array.ndim != 1:
        raise IndexFormatError(
            f"{path}: expected a 1-D {np.dtype(dtype)} array, got {array.dtype} {array.shape}"
        )
    return array


def _check_column(field_type: str, column: Column, num_rows: int, files: dict[str, Path]) -> None:
    """Structural checks, so a damaged file fails here rather than indexing out of range."""

    def require(ok: Any, name: str, expected: str) -> None:
        if not ok:
            raise IndexFormatError(f"{files[name]}: {expected}")

    for name in ("codes", "values", "present"):
        if name in column and (name != "codes" or field_type == "string"):
            require(len(column[name]) == num_rows, name, f"expected {num_rows} rows")
    if field_type == "number":
        present = np.asarray(column["present"])
        require(np.isfinite(column["values"][present]).all(), "values", "non-finite number")
    if field_type == "bool":
        require(np.isin(column["values"], (-1, 0, 1)).all(), "values", "expected -1, 0 or 1")
    if field_type not in ("string", "string_list"):
        return
    offsets, blob = column["vocab_offsets"], column["vocab_bytes"]
    require(
        len(offsets) >= 1
        and offsets[0] == 0
        and offsets[-1] == len(blob)
        and (np.diff(offsets) >= 0).all(),
        "vocab_offsets",
        f"expected offsets rising from 0 to {len(blob)}",
    )
    codes, lowest = column["codes"], -1 if field_type == "string" else 0
    require(
        codes.size == 0 or (codes.min() >= lowest and codes.max() < len(offsets) - 1),
        "codes",
        f"expected codes from {lowest} to {len(offsets) - 2}",
    )
    if field_type == "string_list":
        indptr = column["indptr"]
        require(
            len(indptr) == num_rows + 1
            and indptr[0] == 0
            and indptr[-1] == len(codes)
            and (np.diff(indptr) >= 0).all()
            and not np.diff(indptr)[~np.asarray(column["present"])].any(),
            "indptr",
            f"expected {num_rows + 1} offsets rising from 0 to {len(codes)}, empty where absent",
        )
