"""The two legs of a search, each a small function: BM25 over the postings, FAISS over vectors.

A leg returns a :class:`LegRanking`: passage ids best first with their raw scores. Within a
leg, equal scores are ordered by passage id (both searchers do so themselves), so a leg's list
is a pure function of the query and the depth.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from hybridsearch.sparse.feedback import RM3_PARAMETERS, rm3_weights

__all__ = ["DenseSearcher", "LegRanking", "SparseSearcher", "run_bm25", "run_dense"]


class SparseSearcher(Protocol):
    """What the BM25 leg needs: top passages for analysed query terms, within ``allowed``."""

    def known_terms(self, query_tokens: Sequence[str]) -> list[str]: ...

    def search(
        self, query_tokens: Sequence[str], k: int, allowed: Any = None
    ) -> tuple[np.ndarray, np.ndarray]: ...


class DenseSearcher(Protocol):
    """What the dense leg needs: top passages for a query vector, within ``allowed``."""

    def search(
        self, query_vector: np.ndarray, k: int, allowed: Any = None
    ) -> tuple[np.ndarray, np.ndarray]: ...

    def method(self, allowed_count: int | None = None) -> str: ...


@dataclass(frozen=True)
class LegRanking:
    """One leg's passages, best first.

    Attributes:
        passage_ids: Passage ids, best first (int64).
        scores: The leg's raw score of each (BM25 score, or cosine similarity).
        asked: How many passages the leg was asked for; a leg that returned fewer has
            nothing more to give (it is exhausted).
    """

    passage_ids: np.ndarray
    scores: np.ndarray
    asked: int
    _rank_of: dict[int, int] = field(default_factory=dict, repr=False, compare=False)

    @property
    def exhausted(self) -> bool:
        """Whether going deeper could not add a passage."""
        return len(self.passage_ids) < self.asked

    def rank_of(self, passage_id: int) -> int | None:
        """The 1-based rank this leg gave ``passage_id``, or None if it did not return it."""
        if not self._rank_of and len(self.passage_ids):
            self._rank_of.update(
                (passage, rank) for rank, passage in enumerate(self.passage_ids.tolist(), 1)
            )
        return self._rank_of.get(passage_id)

    def score_of(self, passage_id: int) -> float | None:
        """The leg's raw score of ``passage_id``, or None if it did not return it."""
        rank = self.rank_of(passage_id)
        return None if rank is None else float(self.scores[rank - 1])

    def scored_pairs(self) -> list[tuple[int, float]]:
        """``(passage id, score)`` pairs, best first: what fusion takes."""
        return list(zip(self.passage_ids.tolist(), self.scores.tolist(), strict=True))


def run_bm25(
    bm25: SparseSearcher,
    query_terms: Sequence[str],
    depth: int,
    allowed: Any = None,
    feedback: str = "none",
) -> LegRanking:
    """The BM25 leg: the ``depth`` best passages (within ``allowed``) for the query terms,
    or, with ``feedback="rm3"``, for the query expanded by RM3 (see
    :mod:`hybridsearch.sparse.feedback`)."""
    if not query_terms:
        return LegRanking(np.empty(0, np.int64), np.empty(0, np.float64), depth)
    if feedback == "rm3":
        weights = rm3_weights(bm25, query_terms, allowed, **RM3_PARAMETERS)  # type: ignore[arg-type]
        passage_ids, scores = bm25.search_weighted(weights, depth, allowed)  # type: ignore[attr-defined]
        return LegRanking(np.asarray(passage_ids, np.int64), np.asarray(scores), depth)
    passage_ids, scores = bm25.search(list(query_terms), depth, allowed)
    return LegRanking(np.asarray(passage_ids, np.int64), np.asarray(scores), depth)


def run_dense(
    vectors: DenseSearcher, query_vector: np.ndarray, depth: int, allowed: Any = None
) -> LegRanking:
    """The dense leg: the ``depth`` passages (within ``allowed``) most like the query vector."""
    passage_ids, scores = vectors.search(query_vector, depth, allowed)
    return LegRanking(np.asarray(passage_ids, np.int64), np.asarray(scores), depth)
