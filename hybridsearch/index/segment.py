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
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from hybridsearch.corpus.documents import Document, Passage
from hybridsearch.corpus.metadata import MetadataColumns
from hybridsearch.errors import ChecksumError, IndexFormatError
from hybridsearch.index.document_store import STORE_FILES, DocumentStore
from hybridsearch.index.storage import check_inside, fsync_directory, fsync_file, listed_path
from hybridsearch.sparse.bm25_files import postings_file_names, read_postings, write_postings
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

    Structural checks always run: ``segment.json`` lists every file the segment holds (and
    every file a segment must hold), each entry a path inside the segment, each file's size
    as listed; array dtypes, lengths and ranges (passage rows, spans, vectors)
    as the format says (the document store checks its own arrays, the postings theirs).
    ``verify_checksums`` adds only the sha256 of every file.

    Raises:
        IndexFormatError: a file is missing, unlisted, outside the segment or unreadable, or
            an array is malformed or its counts disagree.
        ChecksumError: a file's size (always) or sha256 (with ``verify_checksums``) differs.
    """
    description = _read_description(directory)
    paths = _check_listing(directory, description["files"])
    _check_sizes(paths, description["files"])
    if verify_checksums:
        _verify_checksums(paths, description["files"])
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
    counts = (segment.num_documents, postings.num_passages, len(vectors))
    expected = (description["documents"], description["passages"], description["passages"])
    if counts != expected:
        raise IndexFormatError(
            f"{directory / SEGMENT_FILE}: expects {expected[0]} documents and {expected[1]} "
            f"passages, but the files hold {counts}"
        )
    _check_passage_columns(directory, columns, description["passages"], segment.num_documents)
    _check_vectors(directory, vectors, description)
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


def required_files() -> set[str]:
    """The files every segment holds (an HNSW graph and metadata columns come on top)."""
    from hybridsearch.corpus.metadata import METADATA_FILE

    return {
        *STORE_FILES,
        *(f"passage_{name}.npy" for name in PASSAGE_COLUMNS),
        *(f"bm25/{name}" for name in postings_file_names()),
        "vectors.npy",
        f"metadata/{METADATA_FILE}",
    }


def _check_listing(directory: Path, files: Any) -> dict[str, Path]:
    """Each listed file's path, once the listing is checked: entries inside the segment,
    every required file listed, and every file present listed (none read unverified)."""
    listing = directory / SEGMENT_FILE
    if not isinstance(files, dict) or not all(isinstance(e, dict) for e in files.values()):
        raise IndexFormatError(f"{listing}: \"files\" must map each file to its sha256 and size")
    paths = {name: listed_path(directory, name, listing, "segment") for name in files}
    unlisted = sorted(required_files() - set(files))
    if unlisted:
        raise IndexFormatError(
            f"{listing} does not list {', '.join(unlisted)}, which every segment holds; a "
            "segment lists each of its files with a checksum"
        )
    present = {
        Path(folder, name).relative_to(directory).as_posix()
        for folder, _, names in os.walk(directory)
        for name in names
    } - {SEGMENT_FILE}
    extra = sorted(present - set(files))
    if extra:
        raise IndexFormatError(
            f"{directory}: {', '.join(extra)} is in the segment but not listed in "
            f"{SEGMENT_FILE}; a segment lists each of its files with a checksum"
        )
    root = directory.resolve()
    for path in paths.values():
        check_inside(path, root, "segment")
    return paths


def _check_sizes(paths: dict[str, Path], files: dict[str, Any]) -> None:
    """Every listed file exists with its listed size (cheap: always run)."""
    for name, path in paths.items():
        if not path.is_file():
            raise IndexFormatError(f"{path}: missing from the segment (listed in {SEGMENT_FILE})")
        expected = files[name].get("bytes")
        if path.stat().st_size != expected:
            raise ChecksumError(
                f"{path}: {path.stat().st_size} bytes, but {SEGMENT_FILE} says "
                f"{expected} (truncated or altered); restore or rebuild the index"
            )


def _verify_checksums(paths: dict[str, Path], files: dict[str, Any]) -> None:
    """Every listed file's sha256 (reads every byte: what ``verify_checksums`` adds)."""
    for name, path in paths.items():
        if sha256_file(path) != files[name].get("sha256"):
            raise ChecksumError(
                f"{path}: sha256 differs from {SEGMENT_FILE} (altered); restore or rebuild"
            )


def _check_passage_columns(
    directory: Path, columns: dict[str, np.ndarray], passages: int, documents: int
) -> None:
    """Dtypes, lengths and ranges of the passage columns (vectorised: O(passages))."""

    def fail(name: str, problem: str) -> IndexFormatError:
        return IndexFormatError(f"{directory / f'passage_{name}.npy'}: {problem}")

    for name, dtype in PASSAGE_COLUMNS.items():
        column = columns[name]
        if column.ndim != 1 or column.dtype != dtype:
            expected = np.dtype(dtype).name
            raise fail(name, f"expected a 1-D {expected} array, got {column.dtype} {column.shape}")
        if len(column) != passages:
            raise fail(name, f"holds {len(column)} passages; {SEGMENT_FILE} counts {passages}")
    if not passages:
        return
    rows, starts, ends = columns["document_rows"], columns["starts"], columns["ends"]
    if rows.min() < 0 or rows.max() >= documents:
        raise fail("document_rows", f"holds document rows outside 0..{documents - 1}")
    if starts.min() < 0 or bool(np.any(starts > ends)):
        bad = "starts" if starts.min() < 0 else "ends"
        raise fail(bad, "holds a passage span that is negative or after its end")


def _check_vectors(directory: Path, vectors: np.ndarray, description: dict[str, Any]) -> None:
    """The vectors: float32, one row of the recorded dimension per passage."""
    expected = (description["passages"], description["dimension"])
    if vectors.dtype != np.float32 or vectors.ndim != 2 or vectors.shape != expected:
        raise IndexFormatError(
            f"{directory / 'vectors.npy'}: expected a float32 array of shape {expected}, got "
            f"{vectors.dtype} {vectors.shape}"
        )
