"""RM3 pseudo-relevance feedback for the BM25 leg: expand the query with the terms of its own
best passages.

RM3 (Abdul-Jaleel et al., 2004; Anserini's defaults): run the query, take the top
``feedback_passages`` passages, weight each by its share of their summed BM25 scores, and
score every term of them by ``sum over passages of weight(p) * tf(t, p) / len(p)``; keep the
``feedback_terms`` best, normalise them to sum 1, and mix them with the original query
(normalised the same way): ``original_weight * original + (1 - original_weight) * expansion``.
The expanded query is then scored by BM25 with each term's score scaled by its weight.

It helps where relevant documents share vocabulary the query lacks; it can drift where the
first results are off-topic, so :meth:`HybridIndex.tune` keeps it only where labelled queries
say so.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np

__all__ = ["FEEDBACK", "RM3_PARAMETERS", "rm3_weights"]

#: The BM25 leg's feedback options: none, or RM3.
FEEDBACK: tuple[str, ...] = ("none", "rm3")
#: Anserini's RM3 defaults: feedback passages, feedback terms, original query weight.
RM3_PARAMETERS = {"feedback_passages": 10, "feedback_terms": 10, "original_weight": 0.5}


class _FeedbackSource(Protocol):
    def search(
        self, query_tokens: Sequence[str], k: int, allowed: Any = None
    ) -> tuple[np.ndarray, np.ndarray]: ...

    def passage_terms(self, rows: np.ndarray) -> tuple[list[str], np.ndarray, np.ndarray]: ...

    def passage_lengths(self, rows: np.ndarray) -> np.ndarray: ...


def rm3_weights(
    bm25: _FeedbackSource,
    query_terms: Sequence[str],
    allowed: Any = None,
    *,
    feedback_passages: int = 10,
    feedback_terms: int = 10,
    original_weight: float = 0.5,
) -> dict[str, float]:
    """The RM3-expanded query: term -> weight (original terms first, in query order).

    Args:
        bm25: The BM25 index (a :class:`~hybridsearch.sparse.segmented.SegmentedBM25`).
        query_terms: The analysed query terms BM25 knows.
        allowed: The filter's per-segment masks, or None (feedback reads allowed passages
            only, as the leg returns only those).
        feedback_passages: Top passages read for feedback.
        feedback_terms: Expansion terms kept.
        original_weight: The original query's share of the weight, in [0, 1].

    Returns:
        Term -> weight, summing to 1; the original query alone when nothing comes back.
    """
    counts = Counter(query_terms)
    total = sum(counts.values())
    original = {term: count / total for term, count in counts.items()} if total else {}
    rows, scores = bm25.search(list(query_terms), feedback_passages, allowed)
    if not len(rows) or float(np.sum(scores)) <= 0:
        return original
    passage_weights = np.asarray(scores, dtype=np.float64) / float(np.sum(scores))
    terms, positions, tfs = bm25.passage_terms(rows)
    lengths = np.maximum(bm25.passage_lengths(rows), 1.0)
    unique_terms, term_index = np.unique(np.asarray(terms, dtype=np.str_), return_inverse=True)
    relevance = np.bincount(
        term_index,
        weights=passage_weights[positions] * tfs / lengths[positions],
        minlength=len(unique_terms),
    )
    # Best first; equal weights by term, so the expansion is deterministic.
    order = np.lexsort((unique_terms, -relevance))[:feedback_terms]
    kept_total = float(relevance[order].sum())
    expansion = {str(unique_terms[n]): float(relevance[n]) / kept_total for n in order}
    combined = {term: original_weight * weight for term, weight in original.items()}
    for term, weight in expansion.items():
        combined[term] = combined.get(term, 0.0) + (1 - original_weight) * weight
    return combined
