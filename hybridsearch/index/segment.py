"""A segment: an immutable slice of the index, everything about its documents in one folder.

::

    seg_<id>/
      segment.json            counts, vector dimension, sha256 and size of every file
      documents.jsonl, offsets.npy, ids.npy, ids_order.npy     (the document store)
      passage_*.npy           per passage: document row, span start and end, title carried
      bm25/                   the segment's postings (its own vocabulary)
      vectors.npy             float32 passage vectors, loaded by memory map
      hnsw.faiss              the HNSW graph over the vectors (only with kind "hnsw")
      ivf.faiss               the IVF index over the vectors (only with kind "ivf")
      metadata/               typed metadata columns per document row

A segment never changes once written: deletes are bitmaps named by commits, and merges write
new segments. Passage texts are not stored; a passage is its document's text over its span.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from hybridsearch.corpus.documents import Document, Passage
from hybridsearch.corpus.metadata import MetadataColumns
from hybridsearch.errors import ChecksumError, IndexFormatError
from hybridsearch.index.document_store import DocumentStore
from hybridsearch.index.storage import fsync_directory, fsync_file
from hybridsearch.sparse.bm25_files import read_postings, write_postings
from hybridsearch.sparse.postings import Postings
from hybridsearch.validation import sha256_file

__all__ = ["PASSAGE_COLUMNS", "Segment", "SegmentContent", "open_segment", "write_segment"]

SEGMENT_FILE = "segment.json"
PASSAGE_COLUMNS = {
    "document_rows": np.int64,
    "starts": np.int64,
    "ends": np.int64,
    "title_carried": np.bool_,
}


@dataclass(frozen=True)
class SegmentContent:
    """What a segment holds, in memory, before it is written."""

    documents: list[Document]
    passage_columns: dict[str, np.ndarray]
    postings: Postings
    vectors: np.ndarray
    metadata: MetadataColumns
    hnsw: Any = None
    ivf: Any = None

    @staticmethod
    def passage_columns_of(documents: list[Document], passages: list[Passage]) -> dict:
        """The passage columns of the chunker's passages (document rows by id)."""
        row_of = {document.id: row for row, document in enumerate(documents)}
        count = len(passages)
        return {
            "document_rows": np.fromiter((row_of[p.doc_id] for p in passages), np.int64, count),
            "starts": np.fromiter((p.start for p in passages), np.int64, count),
            "ends": np.fromiter((p.end for p in passages), np.int64, count),
            "title_carried": np.fromiter((bool(p.title) for p in passages), np.bool_, count),
        }


@dataclass(frozen=True)
class Segment:
    """An opened segment: arrays memory-mapped, documents read on demand."""

    name: str
    directory: Path
    documents: DocumentStore
    passage_columns: dict[str, np.ndarray]
    postings: Postings
    vectors: np.ndarray
    metadata: MetadataColumns
    hnsw: Any = None
    ivf: Any = None

    @property
    def num_documents(self) -> int:
        """Documents in the segment, dead ones included."""
        return len(self.documents)

    @property
    def num_passages(self) -> int:
        """Passages in the segment, dead ones included."""
        return len(self.passage_columns["document_rows"])

    @property
    def passage_document_rows(self) -> np.ndarray:
        """Each passage's document row."""
        return self.passage_columns["document_rows"]


def write_segment(directory: Path, content: SegmentContent) -> None:
    """Write a segment's files into the new folder ``directory``, fsynced, with checksums."""
    directory.mkdir(parents=True)
    DocumentStore.write(content.documents, directory)
    for name, dtype in PASSAGE_COLUMNS.items():
        np.save(directory / f"passage_{name}.npy", content.passage_columns[name].astype(dtype))
    write_postings(directory / "bm25", content.postings)
    np.save(directory / "vectors.npy", np.ascontiguousarray(content.vectors, dtype=np.float32))
    if content.hnsw is not None:
        from hybridsearch.dense.segmented import save_hnsw

        save_hnsw(content.hnsw, directory / "hnsw.faiss")
    if content.ivf is not None:
        from hybridsearch.dense.ivf import save_ivf

        save_ivf(content.ivf, directory / "ivf.faiss")
    (directory / "metadata").mkdir()
    content.metadata.save(directory / "metadata")
    files = {}
    for path in sorted(p for p in directory.rglob("*") if p.is_file()):
        fsync_file(path)
        files[path.relative_to(directory).as_posix()] = {
            "sha256": sha256_file(path),
            "bytes": path.stat().st_size,
        }
    description = {
        "documents": len(content.documents),
        "passages": len(content.passage_columns["document_rows"]),
        "dimension": int(content.vectors.shape[1]) if content.vectors.ndim == 2 else 0,
        "files": files,
    }
    segment_file = directory / SEGMENT_FILE
    segment_file.write_text(json.dumps(description, indent=1) + "\n")
    fsync_file(segment_file)
    fsync_directory(directory)


def open_segment(directory: Path, *, verify_checksums: bool = False, mmap: bool = True) -> Segment:
    """Open a segment written by :func:`write_segment`.

    Raises:
        IndexFormatError: a file is missing or unreadable, or counts disagree.
        ChecksumError: with ``verify_checksums``, a file's size or sha256 differs.
    """
    description = _read_description(directory)
    _check_files(directory, description["files"], verify_checksums)
    mode = "r" if mmap else None
    try:
        columns = {
            name: np.load(directory / f"passage_{name}.npy", mmap_mode=mode, allow_pickle=False)
            for name in PASSAGE_COLUMNS
        }
        vectors = np.load(directory / "vectors.npy", mmap_mode=mode, allow_pickle=False)
    except (OSError, ValueError) as error:
        raise IndexFormatError(f"{directory}: unreadable segment array ({error})") from error
    postings, _ = read_postings(directory / "bm25", mmap=mmap)
    hnsw = None
    if (directory / "hnsw.faiss").is_file():
        from hybridsearch.dense.segmented import load_hnsw

        hnsw = load_hnsw(directory / "hnsw.faiss")
    ivf = _open_ivf(directory, mmap)
    segment = Segment(
        name=directory.name,
        directory=directory,
        documents=DocumentStore.open(directory, mmap_arrays=mmap),
        passage_columns=columns,
        postings=postings,
        vectors=vectors,
        metadata=MetadataColumns.load(directory / "metadata", mmap=mmap),
        hnsw=hnsw,
        ivf=ivf,
    )
    counts = (segment.num_documents, segment.num_passages, postings.num_passages, len(vectors))
    expected = (description["documents"], *[description["passages"]] * 3)
    if counts != expected:
        raise IndexFormatError(
            f"{directory / SEGMENT_FILE}: expects {expected[0]} documents and {expected[1]} "
            f"passages, but the files hold {counts}"
        )
    return segment


def _open_ivf(directory: Path, mmap: bool) -> Any:
    """The segment's IVF index (memory-mapped unless ``mmap`` is False), or None."""
    if not (directory / "ivf.faiss").is_file():
        return None
    from hybridsearch.dense.ivf import load_ivf

    return load_ivf(directory / "ivf.faiss", mmap=mmap)


def _read_description(directory: Path) -> dict[str, Any]:
    path = directory / SEGMENT_FILE
    try:
        description = json.loads(path.read_text())
        for key in ("documents", "passages", "dimension", "files"):
            description[key]
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise IndexFormatError(f"{path}: missing or malformed ({error})") from error
    return description


def _check_files(directory: Path, files: dict[str, Any], verify_checksums: bool) -> None:
    for relative, expected in files.items():
        path = directory / relative
        if not path.is_file():
            raise IndexFormatError(f"{path}: missing from the segment (listed in {SEGMENT_FILE})")
        if path.stat().st_size != expected["bytes"]:
            raise ChecksumError(
                f"{path}: {path.stat().st_size} bytes, but {SEGMENT_FILE} says "
                f"{expected['bytes']} (truncated or altered); restore or rebuild the index"
            )
        if verify_checksums and sha256_file(path) != expected["sha256"]:
            raise ChecksumError(
                f"{path}: sha256 differs from {SEGMENT_FILE} (altered); restore or rebuild"
            )
