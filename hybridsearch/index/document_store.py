"""A segment's documents, read on demand: no Python object per document in a loaded index.

Why not SQLite: a segment is immutable and a commit names whole segments, so a store that is
written once and never updated needs no transactions of its own, and sharing the segment's
lifecycle (written, committed by the commit file's rename, deleted by garbage collection)
gives readers a consistent snapshot for free. Three files::

    documents.jsonl      one JSON object per document (id, title, text, metadata)
    offsets.npy          int64 byte offset of each line, and the file's length at the end
    ids.npy              the document ids (numpy unicode), and ids_order.npy, their argsort,
                         so an id is found by binary search

The JSONL file is memory-mapped; a document is parsed only when a hit or a lookup needs it.
"""

from __future__ import annotations

import json
import mmap
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from hybridsearch.corpus.documents import Document
from hybridsearch.corpus.readers import document_from_record
from hybridsearch.errors import IndexFormatError

__all__ = ["STORE_FILES", "DocumentStore"]

_DOCUMENTS = "documents.jsonl"
_OFFSETS = "offsets.npy"
_IDS = "ids.npy"
_IDS_ORDER = "ids_order.npy"
#: The files a store is made of.
STORE_FILES = (_DOCUMENTS, _OFFSETS, _IDS, _IDS_ORDER)


class DocumentStore:
    """The documents of one segment, by row, read from a memory-mapped JSONL file."""

    def __init__(self, directory: Path, offsets: np.ndarray, ids: np.ndarray, order: np.ndarray):
        self.directory = directory
        self.offsets = offsets
        self.ids = ids
        self._order = order
        self._map: mmap.mmap | None = None

    @staticmethod
    def write(documents: Sequence[Document], directory: Path) -> None:
        """Write ``documents`` (in row order) into ``directory``."""
        offsets = np.zeros(len(documents) + 1, dtype=np.int64)
        with open(directory / _DOCUMENTS, "wb") as handle:
            for row, document in enumerate(documents):
                record = {
                    "id": document.id,
                    "title": document.title,
                    "text": document.text,
                    "metadata": dict(document.metadata),
                }
                line = (json.dumps(record, ensure_ascii=False) + "\n").encode("utf-8")
                handle.write(line)
                offsets[row + 1] = offsets[row] + len(line)
        ids = np.array([document.id for document in documents], dtype=np.str_)
        np.save(directory / _OFFSETS, offsets)
        np.save(directory / _IDS, ids)
        np.save(directory / _IDS_ORDER, np.argsort(ids, kind="stable"))

    @classmethod
    def open(cls, directory: Path, *, mmap_arrays: bool = True) -> DocumentStore:
        """Open a store written by :meth:`write` (IndexFormatError naming a bad file)."""
        mode = "r" if mmap_arrays else None
        arrays = []
        for name in (_OFFSETS, _IDS, _IDS_ORDER):
            try:
                arrays.append(np.load(directory / name, mmap_mode=mode, allow_pickle=False))
            except (OSError, ValueError) as error:
                raise IndexFormatError(f"{directory / name}: unreadable ({error})") from error
        offsets, ids, order = arrays
        size = (directory / _DOCUMENTS).stat().st_size if (directory / _DOCUMENTS).exists() else -1
        if len(offsets) != len(ids) + 1 or len(order) != len(ids) or offsets[-1] != size:
            raise IndexFormatError(
                f"{directory}: the document store's offsets, ids and {_DOCUMENTS} disagree"
            )
        _check_order(directory / _IDS_ORDER, order, len(ids))
        store = cls(directory, offsets, ids, order)
        # Map the texts now, as the arrays are: once newer commits replace this segment,
        # garbage collection deletes its files, and a reader of this snapshot still reads it.
        store._bytes()
        return store

    def __len__(self) -> int:
        return len(self.ids)

    def _bytes(self) -> mmap.mmap | bytes:
        if self._map is None:
            if self.offsets[-1] == 0:
                return b""
            with open(self.directory / _DOCUMENTS, "rb") as handle:
                self._map = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
        return self._map

    def get(self, row: int) -> Document:
        """The document at ``row``, parsed from its line."""
        start, end = int(self.offsets[row]), int(self.offsets[row + 1])
        where = f"{self.directory / _DOCUMENTS}:{row + 1}"
        try:
            record = json.loads(self._bytes()[start:end])
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            raise IndexFormatError(f"{where}: unreadable document ({error})") from error
        return document_from_record(record, where, error=IndexFormatError)

    def text_and_title(self, row: int) -> tuple[str, str]:
        """The text and title of the document at ``row``."""
        document = self.get(row)
        return document.text, document.title

    def find(self, doc_ids: Sequence[str]) -> np.ndarray:
        """The row of each id, or -1 where this store does not hold it."""
        if len(self.ids) == 0 or not len(doc_ids):
            return np.full(len(doc_ids), -1, dtype=np.int64)
        wanted = np.asarray(doc_ids, dtype=np.str_)
        sorted_ids = self.ids[self._order]
        positions = np.searchsorted(sorted_ids, wanted)
        positions = np.minimum(positions, len(sorted_ids) - 1)
        found = sorted_ids[positions] == wanted
        return np.where(found, self._order[positions], -1).astype(np.int64)

    def __iter__(self) -> Iterator[Document]:
        return (self.get(row) for row in range(len(self)))


def _check_order(path: Path, order: np.ndarray, count: int) -> None:
    """The id order (what lookups by id index with) must be a permutation of the rows:
    checked on every open, with or without checksums (vectorised, O(documents))."""
    if (
        order.ndim != 1
        or order.dtype.kind not in "iu"
        or (count and (order.min() < 0 or order.max() >= count))
        or (count and np.bincount(order, minlength=count).max() != 1)
    ):
        raise IndexFormatError(f"{path}: expected a permutation of the rows 0..{count - 1}")
