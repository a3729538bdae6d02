"""The BM25 postings on disk: one ``.npy`` per array (loadable by memory map) and ``bm25.json``.

``bm25.json`` describes the arrays only: its format version, the counts and the vocabulary.
The scoring settings are not written here: the index manifest holds them
(``BM25Settings.to_dict()`` under ``"bm25"``), so nothing is written twice.

Format 1 (before the settings moved to the manifest) is still read: its arrays had other file
names, and its ``bm25.json`` also recorded the variant and parameters, which
:func:`read_postings` returns so the caller can check them against the manifest's.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from hybridsearch.errors import IndexFormatError, IndexVersionError, InvalidInputError
from hybridsearch.sparse.postings import ARRAY_NAMES, Postings

__all__ = [
    "BM25_FORMAT_VERSION",
    "METADATA_FILE",
    "postings_file_names",
    "read_postings",
    "write_postings",
]

#: Version of the layout :func:`write_postings` writes.
BM25_FORMAT_VERSION = 2

METADATA_FILE = "bm25.json"
# Array name -> file name, per format version. Prefixed so the files can sit beside other
# parts of an index.
_ARRAY_FILES = {
    2: {name: f"bm25_{name}.npy" for name in ARRAY_NAMES},
    1: {
        "indptr": "bm25_indptr.npy",
        "posting_passage_ids": "bm25_posting_doc_ids.npy",
        "posting_tfs": "bm25_posting_tfs.npy",
        "passage_lengths": "bm25_doc_lengths.npy",
    },
}


def write_postings(directory: str | Path, postings: Postings) -> list[Path]:
    """Write ``postings`` into ``directory`` (created if missing); return the paths written.

    Each file is written under a temporary name and renamed into place, so saving over the
    files an index is memory-mapped from is safe. Atomicity of the whole directory is the
    storage layer's job.
    """
    directory = Path(directory)
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise InvalidInputError(f"cannot create index directory {directory}: {error}") from error
    written: list[Path] = []
    for name, array in postings.arrays().items():
        path = directory / _ARRAY_FILES[BM25_FORMAT_VERSION][name]
        with _replacing(path) as temporary, open(temporary, "wb") as handle:
            np.save(handle, np.ascontiguousarray(array), allow_pickle=False)
        written.append(path)
    metadata = {
        "format_version": BM25_FORMAT_VERSION,
        "counts": _counts(postings),
        # ensure_ascii (the default) keeps any str, lone surrogates included, writable.
        "vocabulary": postings.vocabulary,
    }
    path = directory / METADATA_FILE
    with _replacing(path) as temporary:
        temporary.write_text(json.dumps(metadata), encoding="utf-8")
    written.append(path)
    return written


def postings_file_names() -> list[str]:
    """The files :func:`write_postings` writes (current format), so a container of postings
    can require each of them."""
    return [METADATA_FILE, *_ARRAY_FILES[BM25_FORMAT_VERSION].values()]


def read_postings(
    directory: str | Path, *, mmap: bool = True
) -> tuple[Postings, dict[str, Any] | None]:
    """Read postings written by :func:`write_postings` (or by format 1).

    Args:
        directory: The directory written.
        mmap: Memory-map the arrays (read-only ``np.memmap``) instead of reading them.

    Returns:
        The postings, and for format 1 the ``{"variant": ..., "params": {...}}`` its
        ``bm25.json`` recorded (None for the current format).

    Raises:
        IndexVersionError: bm25.json has a format_version this release does not read.
        IndexFormatError: A file is missing, unreadable or inconsistent (the message names it).
    """
    directory = Path(directory)
    metadata = _read_metadata(directory / METADATA_FILE)
    file_names = _ARRAY_FILES[metadata["format_version"]]
    arrays = {name: _load_array(directory / file_names[name], mmap) for name in ARRAY_NAMES}
    postings = Postings(vocabulary=metadata["vocabulary"], **arrays)
    _check_arrays(postings, metadata["counts"], {n: directory / f for n, f in file_names.items()})
    recorded = None
    if metadata["format_version"] == 1:
        recorded = {"variant": metadata["variant"], "params": metadata["params"]}
    return postings, recorded


@contextmanager
def _replacing(path: Path) -> Iterator[Path]:
    """Yield a temporary sibling of ``path`` to write, then rename it over ``path``."""
    temporary = path.with_name(path.name + ".tmp")
    yield temporary
    os.replace(temporary, path)


def _counts(postings: Postings) -> dict[str, int]:
    return {
        "num_passages": postings.num_passages,
        "vocabulary_size": len(postings.vocabulary),
        "num_postings": postings.num_postings,
        "total_tokens": int(postings.passage_lengths.sum()),
    }


def _read_metadata(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise IndexFormatError(f"BM25 index file {path} is missing")
    try:
        metadata = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise IndexFormatError(f"BM25 index file {path} is not readable JSON: {error}") from error
    if not isinstance(metadata, dict):
        raise IndexFormatError(f"{path}: expected a JSON object, got {type(metadata).__name__}")
    found = metadata.get("format_version")
    if isinstance(found, bool) or found not in _ARRAY_FILES:
        raise IndexVersionError(
            f"{path}: BM25 format_version is {found!r}; this release reads versions "
            f"{', '.join(map(str, sorted(_ARRAY_FILES)))}; rebuild the index"
        )
    required = ("counts", "vocabulary") + (("variant", "params") if found == 1 else ())
    for key in required:
        if key not in metadata:
            raise IndexFormatError(f"{path}: missing the key {key!r}")
    counts = metadata["counts"]
    if not isinstance(counts, dict) or not all(
        type(counts.get(name)) is int for name in ("num_passages", "num_postings")
    ):
        raise IndexFormatError(f"{path}: counts must hold integer num_passages and num_postings")
    vocabulary = metadata["vocabulary"]
    if not isinstance(vocabulary, list) or not all(type(term) is str for term in vocabulary):
        raise IndexFormatError(f"{path}: vocabulary must be a list of str")
    if len(set(vocabulary)) != len(vocabulary):
        raise IndexFormatError(f"{path}: vocabulary has duplicate terms")
    return metadata


def _load_array(path: Path, mmap: bool) -> np.ndarray:
    if not path.is_file():
        raise IndexFormatError(f"BM25 index file {path} is missing")
    try:
        return np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
    except (OSError, ValueError) as error:
        raise IndexFormatError(f"BM25 index file {path} is not a readable .npy: {error}") from error


def _check_arrays(postings: Postings, counts: dict[str, Any], paths: dict[str, Path]) -> None:
    """Check shapes, dtypes and ranges, so a damaged index fails here and not in a query."""

    def fail(name: str, problem: str) -> IndexFormatError:
        return IndexFormatError(f"{paths[name]}: {problem}")

    for name, array in postings.arrays().items():
        if array.ndim != 1 or array.dtype.kind not in "iu":
            raise fail(name, f"expected a 1-D integer array, got {array.dtype} {array.shape}")
    indptr, passage_ids = postings.indptr, postings.posting_passage_ids
    tfs, lengths = postings.posting_tfs, postings.passage_lengths
    num_passages, num_postings = postings.num_passages, postings.num_postings
    if num_passages == 0 or num_passages != counts["num_passages"]:
        raise fail(
            "passage_lengths",
            f"holds {num_passages} passages; {METADATA_FILE} counts {counts['num_passages']}",
        )
    if indptr.shape[0] != len(postings.vocabulary) + 1:
        raise fail("indptr", f"length {indptr.shape[0]}, expected {len(postings.vocabulary) + 1}")
    if indptr[0] != 0 or indptr[-1] != num_postings or np.any(np.diff(indptr) < 0):
        raise fail("indptr", f"must rise from 0 to the number of postings {num_postings}")
    if num_postings != counts["num_postings"]:
        raise fail(
            "posting_passage_ids",
            f"holds {num_postings} postings; {METADATA_FILE} counts {counts['num_postings']}",
        )
    if tfs.shape[0] != num_postings:
        raise fail("posting_tfs", f"length {tfs.shape[0]}, expected {num_postings}")
    if num_postings and (passage_ids.min() < 0 or passage_ids.max() >= num_passages):
        raise fail("posting_passage_ids", f"holds passage ids outside 0..{num_passages - 1}")
    if num_postings and tfs.min() < 1:
        raise fail("posting_tfs", "holds term frequencies below 1")
    if lengths.min() < 0:
        raise fail("passage_lengths", "holds negative lengths")
