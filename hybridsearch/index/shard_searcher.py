"""One shard of a sharded index, searched with statistics that come from outside it.

A shard is an ordinary index directory (segments, commits) holding the documents a stable hash
of their ids routes to it (:mod:`hybridsearch.index.shard_routing`). What makes it a shard is
how it is searched: its BM25 leg scores with the **global** corpus statistics the coordinator
gathered from every shard (the DFS phase of Elasticsearch's ``dfs_query_then_fetch``), so each
of its passages gets exactly the score one index over the whole corpus would give it; its dense
leg needs nothing global (scores depend on a row alone, :mod:`hybridsearch.dense.exact`).

:class:`ShardSearcher` answers the coordinator's calls with plain data (ints, dicts, numpy
arrays, :class:`~hybridsearch.search.hits.PassageView`), so the same object runs in-process
(simulated shards) or inside a Ray actor (:mod:`hybridsearch.distributed`).

Every candidate a leg returns carries its document's **corpus position**, recorded in the
reserved metadata field :data:`POSITION_FIELD` when the document entered the sharded index
(its place in the corpus at build, then one more per document added). Within a shard, rows
follow positions (documents are appended in position order; merges keep segment order), so a
shard's own tie order (score, then row) is the global one (score, then position, then row);
the coordinator merges shards by that key, which is the order of one index built from the same
corpus and changed in the same order.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from hybridsearch.errors import IndexFormatError
from hybridsearch.index.reader import read_index
from hybridsearch.index.settings import IndexSettings
from hybridsearch.index.snapshot import Snapshot
from hybridsearch.search.filters import Filter, check_filter
from hybridsearch.search.hits import PassageView
from hybridsearch.sparse.segmented import SegmentedBM25
from hybridsearch.sparse.statistics import LiveStatistics

__all__ = [
    "POSITION_FIELD",
    "Candidates",
    "GlobalTermStatistics",
    "ShardCounts",
    "ShardSearcher",
]

#: The reserved metadata field holding a document's corpus position (hidden from hits).
POSITION_FIELD = "_hybridsearch_position"


@dataclass(frozen=True)
class ShardCounts:
    """What the coordinator needs of a shard to plan: sizes, BM25 totals, metadata types."""

    documents: int
    passages: int
    total_length: int
    field_types: Mapping[str, str]
    max_position: int


@dataclass(frozen=True)
class GlobalTermStatistics:
    """The whole corpus's BM25 statistics for one query's terms (sent to every shard).

    Attributes:
        num_passages: Live passages in all shards (BM25's N).
        total_length: Their total length in terms.
        doc_freqs: Each distinct query term's live document frequency over all shards.
        idfs: Each query term's idf, computed once by the coordinator from those counts.
    """

    num_passages: int
    total_length: int
    doc_freqs: Mapping[str, int]
    idfs: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Candidates:
    """One shard's answer for one leg: its best rows, best first (ties by row).

    Attributes:
        rows: The shard's global passage rows (int64).
        scores: The leg's raw scores (float64).
        positions: The corpus position of each row's document (int64), the tie-break key.
        document_rows: Each row's document row in the shard (int64), for aggregation.
    """

    rows: np.ndarray
    scores: np.ndarray
    positions: np.ndarray
    document_rows: np.ndarray

    @staticmethod
    def empty() -> Candidates:
        """No candidates."""
        nothing = np.empty(0, np.int64)
        return Candidates(nothing, np.empty(0, np.float64), nothing, nothing)


class _GlobalStatistics(LiveStatistics):
    """The global statistics, answering as the shard's own :class:`LiveStatistics` would.

    ``all_live`` stays the shard's (it says which of *its* segments need a mask).
    """

    def __init__(self, local: LiveStatistics, terms: GlobalTermStatistics) -> None:
        self._local = local
        self._terms = terms

    @property
    def num_live_passages(self) -> int:
        return self._terms.num_passages

    @property
    def total_length(self) -> int:
        return self._terms.total_length

    @property
    def all_live(self) -> tuple[bool, ...]:
        return self._local.all_live

    def doc_freq(self, term: str) -> int:
        return int(self._terms.doc_freqs.get(term, 0))

    def idfs(self, terms: Sequence[str]) -> list[float]:
        return [float(self._terms.idfs[term]) for term in terms]


class ShardSearcher:
    """Searches one shard's snapshot for the coordinator (see the module docstring).

    Args:
        snapshot: The shard's segments and deletes.
        settings: The index settings (every shard of an index has the same).
    """

    def __init__(self, snapshot: Snapshot, settings: IndexSettings) -> None:
        self.snapshot = snapshot
        self.settings = settings
        self._local = LiveStatistics(snapshot.bm25.segments, settings.bm25)

    @classmethod
    def open(cls, directory: str | Path) -> ShardSearcher:
        """The newest commit of the shard at ``directory`` (no encoder is loaded)."""
        opened = read_index(directory)
        return cls(opened.snapshot, opened.settings)

    # -- the DFS phase ----------------------------------------------------------------------

    def counts(self) -> ShardCounts:
        """Live documents and passages, total passage length, metadata field types."""
        types = dict(self.snapshot.field_types)
        types.pop(POSITION_FIELD, None)
        return ShardCounts(
            documents=self.snapshot.num_documents,
            passages=self._local.num_live_passages,
            total_length=self._local.total_length,
            field_types=types,
            max_position=self._max_position(),
        )

    def doc_freqs(self, terms: Sequence[str]) -> dict[str, int]:
        """Each term's live document frequency in this shard."""
        return {term: self._local.doc_freq(term) for term in dict.fromkeys(terms)}

    def vocabulary_doc_freqs(self) -> dict[str, int]:
        """Every live term's document frequency here (okapi's idf floor needs them all)."""
        totals: dict[str, int] = {}
        for segment in self.snapshot.bm25.segments:
            postings = segment.postings
            if not postings.num_postings:
                continue
            live_so_far = np.zeros(postings.num_postings + 1, dtype=np.int64)
            np.cumsum(segment.live[postings.posting_passage_ids], out=live_so_far[1:])
            counts = live_so_far[postings.indptr[1:]] - live_so_far[postings.indptr[:-1]]
            for term_id in np.flatnonzero(counts).tolist():
                term = postings.vocabulary[term_id]
                totals[term] = totals.get(term, 0) + int(counts[term_id])
        return totals

    def filter_count(self, flt: Filter) -> int:
        """How many live passages pass ``flt`` here."""
        return self._allowed(flt)[1]

    # -- the legs ---------------------------------------------------------------------------

    def bm25(
        self,
        terms: Sequence[str],
        depth: int,
        statistics: GlobalTermStatistics,
        flt: Filter | None = None,
    ) -> Candidates:
        """The ``depth`` best passages here for the query terms, scored with global statistics."""
        segments = self.snapshot.bm25.segments
        if not any(term in s.postings.term_ids for s in segments for term in terms):
            return Candidates.empty()  # no local postings: nothing here can match
        global_statistics = _GlobalStatistics(self._local, statistics)
        bm25 = SegmentedBM25(segments, self.settings.bm25, statistics=global_statistics)
        allowed = None if flt is None else self._allowed(flt)[0]
        rows, scores = bm25.search(list(terms), depth, allowed)
        return self._candidates(rows, scores)

    def dense(self, query_vector: np.ndarray, depth: int, flt: Filter | None = None) -> Candidates:
        """The ``depth`` passages here most like the query vector (exact float64 scores)."""
        if self.snapshot.num_passages == 0:
            return Candidates.empty()
        allowed = None if flt is None else self._allowed(flt)[0]
        rows, scores = self.snapshot.vectors.search(query_vector, depth, allowed)
        return self._candidates(rows, scores)

    def dense_method(self, flt: Filter | None = None) -> str:
        """How the dense leg searches here, in words."""
        if self.snapshot.num_passages == 0:
            return "empty"
        if flt is None:
            return self.snapshot.vectors.method()
        return self.snapshot.vectors.method(allowed=self._allowed(flt)[0])

    # -- passages ---------------------------------------------------------------------------

    def views(self, rows: Sequence[int]) -> list[PassageView]:
        """What hits show of these passage rows (without the reserved position field)."""
        views = []
        for row in rows:
            view = self.snapshot.passage_view(int(row))
            metadata = {k: v for k, v in view.metadata.items() if k != POSITION_FIELD}
            views.append(view._replace(metadata=metadata))
        return views

    def find(self, doc_ids: Sequence[str]) -> list[bool]:
        """Whether each document id is live here."""
        return [where is not None for where in self.snapshot.find(list(doc_ids))]

    # -- internals --------------------------------------------------------------------------

    def _allowed(self, flt: Filter) -> tuple[list[np.ndarray], int]:
        check_filter(flt, self.snapshot.field_types)
        return self.snapshot.allowed(flt)

    def _candidates(self, rows: np.ndarray, scores: np.ndarray) -> Candidates:
        rows = np.asarray(rows, dtype=np.int64)
        document_rows = self.snapshot.document_rows_of(rows)
        return Candidates(
            rows, np.asarray(scores, np.float64), self._positions(document_rows), document_rows
        )

    def _positions(self, document_rows: np.ndarray) -> np.ndarray:
        """The corpus position of each (global) document row."""
        offsets = self.snapshot.document_offsets
        numbers = np.searchsorted(offsets, document_rows, side="right") - 1
        positions = np.empty(len(document_rows), dtype=np.int64)
        for index, (number, row) in enumerate(
            zip(numbers.tolist(), document_rows.tolist(), strict=True)
        ):
            segment = self.snapshot.segments[number]
            value = segment.metadata.value(row - int(offsets[number]), POSITION_FIELD)
            if value is None:
                raise IndexFormatError(
                    f"a document of this shard has no {POSITION_FIELD!r} metadata: the shard "
                    "was not written by a sharded build; rebuild it with --shards"
                )
            positions[index] = int(value)
        return positions

    def _max_position(self) -> int:
        """The largest corpus position any document here (live or dead) holds; -1 if none."""
        largest = -1
        for segment in self.snapshot.segments:
            if segment.num_documents:
                value = segment.metadata.value(segment.num_documents - 1, POSITION_FIELD)
                largest = max(largest, -1 if value is None else int(value))
        return largest
