"""The writing half of HybridIndex: add, update, delete, merge, compact and commit.

Each write builds what it needs (a new segment, new delete bitmaps) beside the current
snapshot, then swaps in a new snapshot in one assignment; writes are serialised by a lock, and
searches never wait for them. Nothing is durable until :meth:`Updates.commit`.

BM25's statistics are always those of the live passages (see
:mod:`hybridsearch.sparse.segmented`), so after any writes the index ranks exactly as a fresh
build of its live documents, in index order, would.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from hybridsearch.corpus.documents import Document
from hybridsearch.corpus.metadata import MetadataColumns
from hybridsearch.errors import (
    DuplicateDocumentError,
    InvalidInputError,
    ModelMismatchError,
    ReadOnlyIndexError,
    UnknownDocumentError,
)
from hybridsearch.index.building import build_segment_content, checked_documents
from hybridsearch.index.merge import DEFAULT_MERGE_FACTOR, merge_content, runs_to_merge
from hybridsearch.index.snapshot import Snapshot
from hybridsearch.index.writer import new_segment, publish
from hybridsearch.validation import string_list

if TYPE_CHECKING:
    from hybridsearch.index.hybrid_index import HybridIndex

__all__ = ["Updates"]


class Updates:
    """add / update / delete / compact / commit, mixed into HybridIndex."""

    #: Segments of one size level merged together (see :mod:`hybridsearch.index.merge`).
    merge_factor: int = DEFAULT_MERGE_FACTOR
    _temporary: bool = False

    def add(self: HybridIndex, documents: Iterable[Document], *, progress: bool = False) -> int:
        """Add new documents (a new segment); returns how many were added.

        Raises:
            DuplicateDocumentError: an id is already in the index (use :meth:`update`) or
                given twice.
            InvalidInputError: an item is not a Document, or a metadata field has another
                type than it has in the index.
            ReadOnlyIndexError: the index was opened with ``load`` (use ``open``).
        """
        documents = checked_documents(documents)
        with self._write_lock:
            self._check_writable()
            snapshot = self.snapshot
            found = snapshot.find([d.id for d in documents])
            present = [d.id for d, where in zip(documents, found, strict=True) if where]
            if present:
                raise DuplicateDocumentError(
                    f"{len(present)} of the documents are already in the index "
                    f"({', '.join(map(repr, present[:5]))}{', ...' if len(present) > 5 else ''})"
                    "; use update() to replace them"
                )
            self._swap(self._appended(snapshot, snapshot.dead_documents, documents, progress))
        return len(documents)

    def update(self: HybridIndex, documents: Iterable[Document], *, progress: bool = False) -> int:
        """Replace documents by id (an id not in the index is added); returns how many.

        An updated document moves to the end of the index order, as a delete and an add.
        """
        documents = checked_documents(documents)
        with self._write_lock:
            self._check_writable()
            snapshot = self.snapshot
            dead = _with_deleted(snapshot, snapshot.find([d.id for d in documents]))
            self._swap(self._appended(snapshot, dead, documents, progress))
        return len(documents)

    def delete(self: HybridIndex, doc_ids: Sequence[str]) -> int:
        """Delete documents by id; returns how many.

        Raises:
            UnknownDocumentError: an id is not in the index (nothing is deleted then).
        """
        ids = list(dict.fromkeys(string_list("doc_ids", doc_ids, what="document ids")))
        with self._write_lock:
            self._check_writable()
            snapshot = self.snapshot
            found = snapshot.find(ids)
            unknown = [doc_id for doc_id, where in zip(ids, found, strict=True) if where is None]
            if unknown:
                raise UnknownDocumentError(
                    f"{len(unknown)} id(s) are not in the index, so nothing was deleted: "
                    f"{', '.join(map(repr, unknown[:10]))}{', ...' if len(unknown) > 10 else ''}"
                )
            self._swap(_drop_empty(snapshot.with_changes(_with_deleted(snapshot, found))))
            self.build_info = self.build_info.after_change()
        return len(ids)

    def compact(self: HybridIndex) -> None:
        """Merge every segment into one, dropping deleted documents for good."""
        with self._write_lock:
            self._check_writable()
            snapshot = self.snapshot
            if len(snapshot.segments) > 1 or any(d.any() for d in snapshot.dead_documents):
                self._swap(self._merged(snapshot, 0, len(snapshot.segments)))

    def commit(self: HybridIndex) -> int:
        """Make every change so far durable, atomically; returns the commit's generation.

        The tuned fusion (:meth:`tune`), if any, is committed with the documents.

        Raises:
            ReadOnlyIndexError: the index was not opened for writing with ``HybridIndex.open``.
            IndexWriteError: writing failed (a full disk...); the last commit is intact.
        """
        with self._write_lock:
            if self._lock is None or not self._lock.held:
                raise ReadOnlyIndexError(
                    "only an index opened with HybridIndex.open(path) commits; an index made "
                    "by build() is written with save(path)"
                )
            self._commit = publish(
                self.directory,
                self.snapshot,
                self._commit,
                self.build_info.to_dict(),
                search_defaults=self.search_defaults_data(),
            )
            return self._commit.generation

    # -- internals --------------------------------------------------------------------------

    def _check_writable(self: HybridIndex) -> None:
        if self._temporary or (self._lock is not None and self._lock.held):
            return
        raise ReadOnlyIndexError(
            f"{self.directory} was opened for reading (HybridIndex.load); open it with "
            "HybridIndex.open(path) to add, update or delete documents"
        )

    def _swap(self: HybridIndex, snapshot: Snapshot) -> None:
        self._view = self._make_view(snapshot)

    def _appended(
        self: HybridIndex,
        snapshot: Snapshot,
        dead: Sequence[np.ndarray],
        documents: list[Document],
        progress: bool,
    ) -> Snapshot:
        """The snapshot with ``dead`` as its deletes and ``documents`` as a new segment."""
        _check_field_types(snapshot, documents)
        _check_passage_encoder(self)
        content, report, _ = build_segment_content(
            documents,
            self.settings,
            self.encoder,
            self.analyzer,
            progress=progress,
            embedding_cache=self.embedding_cache,
        )
        segment = new_segment(self.directory, content)
        grown = snapshot.with_changes(
            [*dead, np.zeros(len(documents), np.bool_)], [*snapshot.segments, segment]
        )
        self.build_info = self.build_info.after_change(report)
        grown = _drop_empty(grown)
        while (run := runs_to_merge(_live_sizes(grown), self.merge_factor)) is not None:
            grown = self._merged(grown, *run)
        return grown

    def _merged(self: HybridIndex, snapshot: Snapshot, start: int, stop: int) -> Snapshot:
        """The snapshot with segments ``start:stop`` merged into one (live documents only)."""
        content = merge_content(
            snapshot.segments[start:stop], snapshot.dead_documents[start:stop],
            self.settings.vectors,
        )
        merged = new_segment(self.directory, content)
        segments = [*snapshot.segments[:start], merged, *snapshot.segments[stop:]]
        dead = [
            *snapshot.dead_documents[:start],
            np.zeros(merged.num_documents, np.bool_),
            *snapshot.dead_documents[stop:],
        ]
        return snapshot.with_changes(dead, segments)


def _with_deleted(snapshot: Snapshot, found: Sequence[Any]) -> list[np.ndarray]:
    """Copies of the snapshot's delete bitmaps with the found (segment, row) pairs set."""
    dead = list(snapshot.dead_documents)
    for number in {where[0] for where in found if where is not None}:
        dead[number] = dead[number].copy()
    for where in found:
        if where is not None:
            dead[where[0]][where[1]] = True
    return dead


def _drop_empty(snapshot: Snapshot) -> Snapshot:
    """The snapshot without segments whose documents are all deleted."""
    keep = [number for number, dead in enumerate(snapshot.dead_documents) if not dead.all()]
    if len(keep) == len(snapshot.segments):
        return snapshot
    return snapshot.with_changes(
        [snapshot.dead_documents[n] for n in keep], [snapshot.segments[n] for n in keep]
    )


def _live_sizes(snapshot: Snapshot) -> list[int]:
    return [int(live.sum()) for live in snapshot.live_passages]


def _check_field_types(snapshot: Snapshot, documents: list[Document]) -> None:
    """Refuse documents whose metadata gives a field another type than the index has."""
    incoming = MetadataColumns.from_documents([d.metadata for d in documents]).field_types
    for field_name, field_type in incoming.items():
        existing = snapshot.field_types.get(field_name)
        if existing is not None and existing != field_type:
            raise InvalidInputError(
                f"metadata field {field_name!r} is {field_type} in the new documents but "
                f"{existing} in the index; a field keeps one type"
            )


def _check_passage_encoder(index: HybridIndex) -> None:
    """New passages must be encoded by the passage model, not a paired query model."""
    if not index.encoder.identity.same_model_as(index.model_identity):
        raise ModelMismatchError(
            f"this index's passages are encoded by {index.model_identity.describe()}, but its "
            f"encoder is the query model {index.encoder.identity.describe()}; to add or "
            "update documents, open it with the passage model (model=...)"
        )
