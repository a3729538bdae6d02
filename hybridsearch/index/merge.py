"""Merging segments: the policy that keeps their number small, and the merge itself.

Policy (as Lucene's LogMergePolicy): a segment's *level* is ``floor(log10(live passages))``;
whenever the last ``factor`` segments share a level they are merged into one of the next
level, repeatedly. Only adjacent segments merge, so the index order of documents never
changes, and the number of segments stays at most ``factor - 1`` per level: logarithmic in
the corpus. Merging drops deleted documents for good.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from hybridsearch.corpus.metadata import MetadataColumns
from hybridsearch.index.building import approximate_index_for
from hybridsearch.index.segment import Segment, SegmentContent
from hybridsearch.sparse.merging import merge_postings

__all__ = ["DEFAULT_MERGE_FACTOR", "merge_content", "runs_to_merge"]

DEFAULT_MERGE_FACTOR = 10


def _level(live_passages: int) -> int:
    return int(math.log10(live_passages)) if live_passages > 0 else 0


def runs_to_merge(
    live_passages: Sequence[int], factor: int = DEFAULT_MERGE_FACTOR
) -> tuple[int, int] | None:
    """The ``(start, stop)`` run of segments to merge next, or None when none needs merging."""
    if factor < 2 or len(live_passages) < factor:
        return None
    tail = live_passages[-factor:]
    if len({_level(size) for size in tail}) == 1:
        return len(live_passages) - factor, len(live_passages)
    return None


def merge_content(
    segments: Sequence[Segment], dead_documents: Sequence[np.ndarray], vector_settings: Any
) -> SegmentContent:
    """The content of one segment holding the live documents of ``segments``, in order.

    Args:
        segments: Adjacent segments, in index order.
        dead_documents: Each segment's deleted-documents bitmap.
        vector_settings: The index's VectorSettings (whether the merged segment gets a graph).
    """
    documents, columns, vectors, metadata_parts, postings_parts = [], [], [], [], []
    document_offset = 0
    for segment, dead in zip(segments, dead_documents, strict=True):
        live_documents = ~np.asarray(dead, dtype=np.bool_)
        new_rows = np.cumsum(live_documents, dtype=np.int64) - 1 + document_offset
        documents.extend(segment.documents.get(row) for row in np.flatnonzero(live_documents))
        live = live_documents[segment.passage_document_rows]
        part = {name: np.asarray(column)[live] for name, column in segment.passage_columns.items()}
        part["document_rows"] = new_rows[np.asarray(segment.passage_document_rows)[live]]
        columns.append(part)
        vectors.append(np.asarray(segment.vectors)[live])
        metadata_parts.append((segment.metadata, live_documents))
        postings_parts.append((segment.postings, live))
        document_offset += int(live_documents.sum())
    merged_vectors = np.ascontiguousarray(np.concatenate(vectors), dtype=np.float32)
    approximate = approximate_index_for(merged_vectors, vector_settings)
    return SegmentContent(
        documents=documents,
        passage_columns={
            name: np.concatenate([part[name] for part in columns]) for name in columns[0]
        },
        postings=merge_postings(postings_parts),
        vectors=merged_vectors,
        metadata=MetadataColumns.concatenate(metadata_parts),
        **approximate,
    )
