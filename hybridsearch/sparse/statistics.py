"""Corpus statistics of the live passages of several segments: what BM25 scores with.

:class:`LiveStatistics` is one snapshot's: the number of live passages, their total and average
length, each term's live document frequency and idf. Nothing here is computed per query: the
counts over rows once on first use, a term's document frequency and idf once on its first use
(kept in a dict), and, for a variant whose idf depends on the whole vocabulary (okapi's floor),
every term's at once. A term held only by dead passages has document frequency 0: it is absent
from the live corpus, as it is from a fresh build of the live passages.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property
from typing import TYPE_CHECKING

import numpy as np

from hybridsearch.sparse.bm25 import BM25Settings
from hybridsearch.sparse.variants import VARIANTS, average_length, normalising_length

if TYPE_CHECKING:
    from hybridsearch.sparse.segmented import SparseSegment

__all__ = ["LiveStatistics"]


class LiveStatistics:
    """BM25's corpus statistics over the live passages of a list of segments.

    The segments and their live masks must not change while this is in use: it caches.
    """

    def __init__(self, segments: Sequence[SparseSegment], settings: BM25Settings) -> None:
        self._segments = tuple(segments)
        self._settings = settings
        self._variant = VARIANTS[settings.variant]
        self._doc_freqs: dict[str, int] = {}
        self._idfs: dict[str, float] = {}

    @cached_property
    def _live_counts(self) -> tuple[int, int, tuple[bool, ...]]:
        """(live passages, their total length, per segment whether all its rows are live)."""
        num_live = total_length = 0
        all_live = []
        for segment in self._segments:
            lengths = segment.postings.passage_lengths
            segment_live = int(np.count_nonzero(segment.live))
            every_row = segment_live == segment.num_rows
            num_live += segment_live
            # Integer sums: exact in any grouping, so the same as a fresh build's one sum.
            total_length += int(lengths.sum() if every_row else lengths[segment.live].sum())
            all_live.append(every_row)
        return num_live, total_length, tuple(all_live)

    @property
    def num_live_passages(self) -> int:
        """How many live passages (BM25's N)."""
        return self._live_counts[0]

    @property
    def total_length(self) -> int:
        """The live passages' total length in terms."""
        return self._live_counts[1]

    @property
    def all_live(self) -> tuple[bool, ...]:
        """Per segment, whether every row of it is live (no mask needed)."""
        return self._live_counts[2]

    @property
    def average_passage_length(self) -> float:
        """Mean live passage length (0.0 when no passage is live)."""
        return average_length(self.total_length, self.num_live_passages)

    @property
    def normalising_length(self) -> float:
        """The ``avgdl`` the saturations divide by."""
        return normalising_length(self.average_passage_length)

    def doc_freq(self, term: str) -> int:
        """How many live passages hold ``term``: O(its postings) on first use, then cached."""
        doc_freq = self._doc_freqs.get(term)
        if doc_freq is None:
            doc_freq = 0
            for segment, every_row in zip(self._segments, self.all_live, strict=True):
                term_id = segment.postings.term_ids.get(term)
                if term_id is None:
                    continue
                start = int(segment.postings.indptr[term_id])
                end = int(segment.postings.indptr[term_id + 1])
                if every_row:
                    doc_freq += end - start
                else:
                    rows = segment.postings.posting_passage_ids[start:end]
                    doc_freq += int(np.count_nonzero(segment.live[rows]))
            self._doc_freqs[term] = doc_freq
        return doc_freq

    def idfs(self, terms: Sequence[str]) -> list[float]:
        """The idfs of terms that some live passage holds (doc_freq > 0), in order.

        Computed with the variant's own idf function, as a fresh BM25Index computes them.
        """
        if self._variant.idf_uses_vocabulary:
            table = self._vocabulary_idfs
            return [table[term] for term in terms]
        missing = [term for term in dict.fromkeys(terms) if term not in self._idfs]
        if missing:
            doc_freqs = np.array([self.doc_freq(term) for term in missing], dtype=np.float64)
            values = self._variant.idf(doc_freqs, self.num_live_passages, self._settings.params)
            self._idfs.update(zip(missing, values.tolist(), strict=True))
        return [self._idfs[term] for term in terms]

    @cached_property
    def _vocabulary_idfs(self) -> dict[str, float]:
        """Every live term's idf, from one call over the whole live vocabulary (okapi).

        The variant's idf sees the same document frequencies as a fresh build's, in another
        order (by segment, then by term id in the segment); okapi's mean idf does not depend on
        that order (see :mod:`hybridsearch.sparse.variants`). Also fills the document frequency
        cache, since every term's is at hand.
        """
        positions: dict[str, int] = {}
        doc_freqs: list[int] = []
        for segment in self._segments:
            segment_doc_freqs = _live_doc_freqs(segment)
            present = np.flatnonzero(segment_doc_freqs)
            vocabulary = segment.postings.vocabulary
            for term_id, doc_freq in zip(
                present.tolist(), segment_doc_freqs[present].tolist(), strict=True
            ):
                term = vocabulary[term_id]
                position = positions.get(term)
                if position is None:
                    positions[term] = len(doc_freqs)
                    doc_freqs.append(doc_freq)
                else:
                    doc_freqs[position] += doc_freq
        idfs = self._variant.idf(
            np.array(doc_freqs, dtype=np.float64), self.num_live_passages, self._settings.params
        )
        self._doc_freqs.update(zip(positions, doc_freqs, strict=True))
        return dict(zip(positions, idfs.tolist(), strict=True))


def _live_doc_freqs(segment: SparseSegment) -> np.ndarray:
    """Per term id of the segment, how many of its live passages hold the term: O(postings)."""
    postings = segment.postings
    if not postings.num_postings:
        return np.zeros(len(postings.vocabulary), dtype=np.int64)
    # Running count of live postings; a term's is the count's rise over its CSR span.
    live_so_far = np.zeros(postings.num_postings + 1, dtype=np.int64)
    np.cumsum(segment.live[postings.posting_passage_ids], out=live_so_far[1:])
    return live_so_far[postings.indptr[1:]] - live_so_far[postings.indptr[:-1]]
