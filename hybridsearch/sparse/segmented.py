"""BM25 over several immutable segments, scored with the statistics of their live passages.

A living index keeps its passages in segments, each with its own postings
(:class:`~hybridsearch.sparse.postings.Postings`, own vocabulary, rows 0..n-1), and marks
deleted passages dead in a per-segment ``live`` mask instead of rewriting the segment.
:class:`SegmentedBM25` scores such a snapshot exactly as
:class:`~hybridsearch.sparse.bm25.BM25Index` scores a fresh build of the live passages alone:
BM25's N, average length and document frequencies count live passages only, and the scoring
code is the one both share
(:mod:`hybridsearch.sparse.variants`, :mod:`hybridsearch.sparse.top_k`), with the query terms
added per passage in the same order, so the scores agree to the bit.

A passage's **global row** is its row in its segment plus the sizes (dead rows included) of the
segments before it. Equal scores are ordered by global row ascending, which is the passage order
of a fresh build of the live passages, so ids map one to one: the i-th live global row is the
fresh build's passage i.

The statistics (:class:`~hybridsearch.sparse.statistics.LiveStatistics`) belong to one
snapshot: make a new :class:`SegmentedBM25` when a segment or a live mask changes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np

from hybridsearch.errors import InvalidInputError
from hybridsearch.sparse.bm25 import BM25Settings
from hybridsearch.sparse.postings import Postings
from hybridsearch.sparse.statistics import LiveStatistics
from hybridsearch.sparse.top_k import (
    EMPTY_PASSAGE_IDS,
    EMPTY_SCORES,
    top_k_marked,
    top_k_matching,
)
from hybridsearch.sparse.variants import VARIANTS, scale_by_term, sum_by_passage
from hybridsearch.validation import positive_int, string_list

__all__ = ["SegmentedBM25", "SparseSegment"]


@dataclass(frozen=True, eq=False)
class SparseSegment:
    """One segment's BM25 side: its postings and which of its passages are live.

    Attributes:
        postings: The segment's postings over its passages, rows 0..n-1, own vocabulary.
        live: bool array of shape (n,), True where the passage is live (not deleted). It
            belongs to one snapshot and must not change while an index over it is in use.
    """

    postings: Postings
    live: np.ndarray

    def __post_init__(self) -> None:
        if not isinstance(self.postings, Postings):
            raise InvalidInputError(
                f"a segment's postings must be a Postings, got {type(self.postings).__name__}"
            )
        _check_mask("live", self.live, self.postings.num_passages)

    @property
    def num_rows(self) -> int:
        """How many passages the segment holds, dead ones included."""
        return self.postings.num_passages


class SegmentedBM25:
    """BM25 over the live passages of several segments, as if they were one fresh index.

    Cost: the snapshot's statistics are computed once, on first use: live N and total length
    in O(rows); each query term's live document frequency on its first use, in O(its postings
    in all segments), then kept in a dict; for okapi, whose idf floor needs every term's, all
    of them at once in O(all postings) plus a dict entry per live term. A query then costs
    what :meth:`BM25Index.search <hybridsearch.sparse.bm25.BM25Index.search>` costs over the
    same passages: numpy over the postings of its terms only (all segments' at once), one
    ``bincount`` and one top-k selection over the global rows, plus two numpy expressions per
    posting, because the term-frequency saturation depends on the snapshot's average length
    and is computed per query from a per-row part cached per snapshot rather than cached per
    posting (BM25Index caches it at build), and a pass over a bool mask per row when some rows
    are dead or filtered out. At a million passages (scifact repeated, 2 dead-marked segments,
    200 queries of ~465k postings at p50, quiet) the per-row part took the summing of a
    query's postings from 10.3 to 5.8 ms at p50.
    Measured on 2 shared cores, 10k random passages of ~110 terms, 300 queries of 3-11 terms,
    k = 10: p50 0.07 ms for BM25Index, 0.13-0.15 ms in one segment, 0.22-0.25 ms in four
    segments with 10% dead rows (with or without a 10% filter); at 100k passages 0.15-0.17 ms
    against 0.31-0.38 ms and 0.47-0.53 ms.
    """

    def __init__(
        self,
        segments: Sequence[SparseSegment],
        settings: BM25Settings | Mapping[str, Any] | None = None,
        statistics: LiveStatistics | None = None,
    ) -> None:
        """Index a snapshot.

        Args:
            segments: The segments in index order (global rows follow this order).
            settings: The variant and its parameters (a :class:`BM25Settings`, a mapping of
                some of its fields, or None for the defaults).
            statistics: The corpus statistics to score with, or None for those of these
                segments' live passages. A shard of a larger index passes the statistics of
                the whole corpus (N, average length, document frequencies, idfs), so its
                scores are those one index over the whole corpus would give
                (:mod:`hybridsearch.index.sharding`); it must answer as
                :class:`LiveStatistics` does, ``all_live`` about these segments.

        Raises:
            InvalidInputError: A segment is not a :class:`SparseSegment`, or bad settings.
        """
        segments = tuple(segments)
        for position, segment in enumerate(segments):
            if not isinstance(segment, SparseSegment):
                raise InvalidInputError(
                    f"segments[{position}] must be a SparseSegment, got {type(segment).__name__}"
                )
        self._segments = segments
        self._settings = BM25Settings.coerce(settings, "settings")
        self._variant = VARIANTS[self._settings.variant]
        self._params = self._settings.params
        self._statistics = (
            LiveStatistics(segments, self._settings) if statistics is None else statistics
        )
        self._offsets = [0]
        for segment in segments:
            self._offsets.append(self._offsets[-1] + segment.num_rows)

    @property
    def settings(self) -> BM25Settings:
        """The variant and parameters this index scores with."""
        return self._settings

    @property
    def segments(self) -> tuple[SparseSegment, ...]:
        """The segments, in index order."""
        return self._segments

    @property
    def num_rows(self) -> int:
        """How many global rows there are, dead ones included."""
        return self._offsets[-1]

    @property
    def num_live_passages(self) -> int:
        """How many live passages there are (BM25's N)."""
        return self._statistics.num_live_passages

    @property
    def average_passage_length(self) -> float:
        """Mean length in terms of the live passages (BM25's ``avgdl``; 0.0 when none)."""
        return self._statistics.average_passage_length

    def __repr__(self) -> str:
        return (
            f"SegmentedBM25({self._settings}, segments={len(self._segments)}, "
            f"num_rows={self.num_rows})"
        )

    def known_terms(self, query_tokens: Sequence[str]) -> list[str]:
        """The distinct query terms some live passage holds, in query order.

        As :meth:`BM25Index.known_terms <hybridsearch.sparse.bm25.BM25Index.known_terms>` on a
        fresh build of the live passages: a term held by dead passages only is unknown.
        """
        tokens = string_list("query_tokens", query_tokens, what="analysed terms")
        return [term for term in dict.fromkeys(tokens) if self._statistics.doc_freq(term) > 0]

    def search(
        self,
        query_tokens: Sequence[str],
        k: int,
        allowed: Sequence[np.ndarray | None] | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """The best ``k`` live passages for a query: (global rows int64, scores float64).

        Exactly :meth:`BM25Index.search <hybridsearch.sparse.bm25.BM25Index.search>` on a
        fresh build of the live passages in global-row order, its ids mapped to global rows:
        best first, equal scores by global row ascending, only passages holding a query term,
        at most ``k``. With ``allowed``, exactly that ranking over all live passages with the
        disallowed ones dropped (scores unchanged; a filter never changes the statistics, and
        never fills up ``k`` with rows that fail it).

        Args:
            query_tokens: The analysed query (repeats count; unknown terms add nothing).
            k: How many results at most (>= 1).
            allowed: None, or one entry per segment: None (every row allowed) or a bool
                array of the segment's shape, True where a row may be returned.

        Raises:
            InvalidInputError: ``k`` is not an int >= 1, the query is malformed, or
                ``allowed`` does not match the segments.
        """
        top_k = positive_int("k", k)
        eligible = self._eligible(allowed)
        terms, counts = self._query_terms(query_tokens)
        if not terms:
            return EMPTY_PASSAGE_IDS, EMPTY_SCORES
        idfs = self._statistics.idfs(terms)
        rows, scores = self._accumulate(terms, idfs, counts)
        shift = self._variant.query_constant(idfs, counts, self._params)
        if all(idf > 0 for idf in idfs):
            # As BM25Index: every posting score is > 0, so the rows holding a query term are
            # exactly those scoring above 0; ineligible rows are set to 0 to leave them out.
            if eligible is not None:
                scores *= eligible
            return top_k_matching(scores, top_k, shift)
        # okapi's epsilon floor can give an idf <= 0: mark the matching rows instead.
        matching = np.zeros(self.num_rows, dtype=bool)
        matching[rows] = True
        if eligible is not None:
            matching &= eligible
        return top_k_marked(scores + shift if shift else scores, matching, top_k)

    def search_weighted(
        self,
        term_weights: Mapping[str, float],
        k: int,
        allowed: Sequence[np.ndarray | None] | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """As :meth:`search`, each term's BM25 score scaled by its weight (an expanded query).

        Terms no live passage holds, and weights <= 0, add nothing. The variants' per-query
        constant is left out: it shifts every matching passage alike, so the order is the
        same.
        """
        top_k = positive_int("k", k)
        eligible = self._eligible(allowed)
        doc_freq = self._statistics.doc_freq
        known = [(term, float(w)) for term, w in term_weights.items() if w > 0 and doc_freq(term)]
        if not known:
            return EMPTY_PASSAGE_IDS, EMPTY_SCORES
        terms = [term for term, _ in known]
        rows, scores = self._accumulate(terms, self._statistics.idfs(terms), [w for _, w in known])
        matching = np.zeros(self.num_rows, dtype=bool)
        matching[rows] = True
        if eligible is not None:
            matching &= eligible
        return top_k_marked(scores, matching, top_k)

    def passage_terms(self, rows: np.ndarray) -> tuple[list[str], np.ndarray, np.ndarray]:
        """Every term of the given global rows: (term, position in ``rows``, tf) per posting.

        One pass over each segment's postings (what pseudo-relevance feedback needs: the
        postings are stored by term, not by passage).
        """
        rows = np.asarray(rows, dtype=np.int64)
        terms: list[str] = []
        positions, tfs = [], []
        for segment, offset in zip(self._segments, self._offsets, strict=False):
            postings = segment.postings
            local = rows - offset
            inside = (local >= 0) & (local < segment.num_rows)
            if not inside.any():
                continue
            hits = np.flatnonzero(np.isin(postings.posting_passage_ids, local[inside]))
            term_ids = np.searchsorted(postings.indptr, hits, side="right") - 1
            vocabulary = postings.vocabulary
            terms.extend(str(vocabulary[term_id]) for term_id in term_ids.tolist())
            position_of = {int(row): n for n, row in enumerate(local) if inside[n]}
            positions.append(
                np.fromiter(
                    (position_of[int(r)] for r in postings.posting_passage_ids[hits]),
                    np.int64,
                    len(hits),
                )
            )
            tfs.append(postings.posting_tfs[hits])
        if not terms:
            return [], np.empty(0, np.int64), np.empty(0, np.float64)
        return terms, np.concatenate(positions), np.concatenate(tfs).astype(np.float64)

    def passage_lengths(self, rows: np.ndarray) -> np.ndarray:
        """The length in terms of each global row."""
        rows = np.asarray(rows, dtype=np.int64)
        numbers = np.searchsorted(np.array(self._offsets), rows, side="right") - 1
        return np.array(
            [
                self._segments[n].postings.passage_lengths[row - self._offsets[n]]
                for n, row in zip(numbers.tolist(), rows.tolist(), strict=True)
            ],
            dtype=np.float64,
        )

    def _accumulate(
        self, terms: list[str], idfs: list[float], counts: list[float]
    ) -> tuple[np.ndarray, np.ndarray]:
        """The global rows of the terms' postings, and every row's summed score (float64).

        All segments' postings of all the terms go through one numpy expression per step, as
        one fresh index's would; within a segment the terms come in query order, so each
        passage adds its terms' scores in the order a fresh BM25Index adds them (the order of
        segments does not matter: a passage is in one).
        """
        rows_parts, tfs_parts = [], []
        part_offsets, part_idfs, part_counts, part_sizes = [], [], [], []
        for segment, offset in zip(self._segments, self._offsets, strict=False):
            postings = segment.postings
            term_ids, indptr = postings.term_ids, postings.indptr
            for term, idf, count in zip(terms, idfs, counts, strict=True):
                term_id = term_ids.get(term)
                if term_id is None:
                    continue
                start, end = int(indptr[term_id]), int(indptr[term_id + 1])
                rows_parts.append(postings.posting_passage_ids[start:end])
                tfs_parts.append(postings.posting_tfs[start:end])
                part_offsets.append(offset)
                part_idfs.append(idf)
                part_counts.append(count)
                part_sizes.append(end - start)
        rows = np.concatenate(rows_parts, dtype=np.int64)
        if any(part_offsets):
            start = 0
            for size, offset in zip(part_sizes, part_offsets, strict=True):
                rows[start : start + size] += offset
                start += size
        saturations = self._variant.posting_scores(
            np.concatenate(tfs_parts, dtype=np.float64), self._passage_parts[rows], self._params
        )
        posting_scores = scale_by_term(saturations, part_sizes, part_idfs)
        return rows, sum_by_passage(rows, posting_scores, part_sizes, part_counts, self.num_rows)

    @cached_property
    def _passage_parts(self) -> np.ndarray:
        """Every global row's length part of the saturation (float64, dead rows included).

        It depends on the snapshot's average length, so it is computed once per snapshot, on
        the first query: a pass over the passage lengths (5 ms and 8 MB per million rows),
        which saves each query a gather of lengths and three operations per posting.
        """
        average = self._statistics.normalising_length
        return np.concatenate(
            [np.zeros(0)]
            + [
                self._variant.passage_parts(segment.postings.passage_lengths, average, self._params)
                for segment in self._segments
            ]
        )

    def _query_terms(self, query_tokens: Sequence[str]) -> tuple[list[str], list[int]]:
        """The query's live terms (first-occurrence order) and how often each occurs."""
        counts: dict[str, int] = {}
        for token in string_list("query_tokens", query_tokens, what="analysed terms"):
            counts[token] = counts.get(token, 0) + 1
        doc_freq = self._statistics.doc_freq
        known = [(term, count) for term, count in counts.items() if doc_freq(term) > 0]
        return [term for term, _ in known], [count for _, count in known]

    @cached_property
    def _live_mask(self) -> np.ndarray | None:
        """The live mask over global rows (one byte a row), or None when every row is live."""
        if all(self._statistics.all_live):
            return None
        return np.concatenate([segment.live for segment in self._segments])

    def _eligible(self, allowed: Sequence[np.ndarray | None] | None) -> np.ndarray | None:
        """The global rows a search may return (live and allowed), or None for every row."""
        if allowed is None:
            return self._live_mask
        if isinstance(allowed, np.ndarray) or not isinstance(allowed, Sequence):
            raise InvalidInputError(
                "allowed must be None or a list with one mask (or None) per segment, "
                f"got {type(allowed).__name__}"
            )
        if len(allowed) != len(self._segments):
            raise InvalidInputError(
                f"allowed has {len(allowed)} masks for {len(self._segments)} segments"
            )
        all_live = self._statistics.all_live
        masks = [np.zeros(0, dtype=bool)]
        for position, (segment, mask) in enumerate(zip(self._segments, allowed, strict=True)):
            if mask is None:
                masks.append(segment.live)
            else:
                _check_mask(f"allowed[{position}]", mask, segment.num_rows)
                masks.append(mask if all_live[position] else mask & segment.live)
        return np.concatenate(masks)


def _check_mask(name: str, mask: Any, num_rows: int) -> None:
    """Refuse anything but a bool array of shape (num_rows,)."""
    if not isinstance(mask, np.ndarray) or mask.dtype != np.bool_ or mask.shape != (num_rows,):
        got = (
            f"{mask.dtype} array of shape {mask.shape}"
            if isinstance(mask, np.ndarray)
            else type(mask).__name__
        )
        raise InvalidInputError(f"{name} must be a bool array of shape ({num_rows},), got {got}")
