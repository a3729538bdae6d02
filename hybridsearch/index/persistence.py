"""An index on disk: which file holds what, and the manifest that ties them together.

A directory, written atomically by :mod:`hybridsearch.index.storage`::

    manifest.json        format version, model identity, settings per component, counts,
                         build information, sha256 per file
    documents.jsonl      the documents as given (id, title, text, metadata)
    passages/*.npy       per passage: its document's row, and its span in the document
    bm25/                the BM25 arrays and vocabulary (its parameters are in the manifest)
    vectors.faiss        the FAISS index, ids = passage ids
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hybridsearch.corpus.chunking import ChunkingReport
from hybridsearch.errors import IndexFormatError
from hybridsearch.index import storage
from hybridsearch.index.building import BuildInfo, BuiltIndex
from hybridsearch.index.passages import PassageTable
from hybridsearch.index.settings import IndexSettings
from hybridsearch.sparse.analysis import Analyzer
from hybridsearch.sparse.bm25 import BM25Index

__all__ = ["StoredIndex", "read_index", "write_index"]

_BM25_DIR = "bm25"
_VECTORS_FILE = "vectors.faiss"


@dataclass(frozen=True)
class StoredIndex:
    """What :func:`read_index` found: the built parts, and the model they were made with."""

    parts: BuiltIndex
    settings: IndexSettings
    model_identity: Any


def write_index(
    path: str | Path, parts: BuiltIndex, settings: IndexSettings, model_identity: Any
) -> None:
    """Write an index directory atomically (an existing index is replaced only when done)."""

    def write_files(directory: Path) -> None:
        parts.passages.save(directory)
        parts.bm25_index.save(directory / _BM25_DIR)
        parts.vector_index.save(directory / _VECTORS_FILE)

    manifest = {
        "model": model_identity.to_dict(),
        "model_source": parts.info.model_source,
        "settings": settings.to_dict(),
        "counts": {"documents": len(parts.passages.documents), "passages": len(parts.passages)},
        "chunking_report": parts.info.chunking_report.to_dict(),
        "build_seconds": dict(parts.info.seconds),
        "source": dict(parts.info.source),
    }
    storage.write_index_directory(path, write_files, manifest)


def read_manifest_parts(
    directory: Path, *, verify_checksums: bool
) -> tuple[dict[str, Any], IndexSettings, Any, BuildInfo]:
    """The manifest, its settings, model identity and build information, strictly read."""
    from hybridsearch.dense.identity import ModelIdentity

    manifest = storage.read_manifest(directory, verify_checksums=verify_checksums)
    where = str(directory / storage.MANIFEST_NAME)
    for key in ("model", "settings", "counts", "chunking_report", "source"):
        if key not in manifest:
            raise IndexFormatError(f"{where}: the manifest has no {key!r}")
    settings = IndexSettings.from_dict(manifest["settings"], where=f"{where}: settings")
    identity = ModelIdentity.from_dict(manifest["model"], where=f"{where}: model")
    info = BuildInfo(
        chunking_report=ChunkingReport.from_dict(
            manifest["chunking_report"], where=f"{where}: chunking_report"
        ),
        seconds=manifest.get("build_seconds") or {},
        source=manifest["source"] or {},
        model_source=manifest.get("model_source"),
    )
    return manifest, settings, identity, info


def read_index(
    path: str | Path, *, mmap: bool = True, verify_checksums: bool = True
) -> StoredIndex:
    """Read every part of an index directory and check that they agree.

    Raises:
        IndexFormatError: not an index, a file missing or malformed, or counts that disagree.
        IndexVersionError: another format version (the message says how to rebuild).
        ChecksumError: a file was truncated or altered.
    """
    from hybridsearch.dense.vectors import VectorIndex

    directory = storage.resolve_index_directory(path)
    manifest, settings, identity, info = read_manifest_parts(
        directory, verify_checksums=verify_checksums
    )
    passages = PassageTable.load(directory)
    bm25_index = BM25Index.load(directory / _BM25_DIR, settings.bm25, mmap=mmap)
    vector_index = VectorIndex.load(directory / _VECTORS_FILE, dimension=identity.dimension)
    found = {"documents": len(passages.documents), "passages": len(passages)}
    if (
        manifest["counts"] != found
        or bm25_index.num_passages != len(passages)
        or len(vector_index) != len(passages)
    ):
        raise IndexFormatError(
            f"{directory}: the manifest counts {manifest['counts']}, but the files hold {found}, "
            f"{bm25_index.num_passages} BM25 passages and {len(vector_index)} vectors"
        )
    analyzer = Analyzer.from_settings(settings.analyzer)
    parts = BuiltIndex(passages, analyzer, bm25_index, vector_index, info)
    return StoredIndex(parts=parts, settings=settings, model_identity=identity)
