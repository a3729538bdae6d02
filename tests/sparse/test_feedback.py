"""RM3 feedback (hybridsearch.sparse.feedback) and the weighted BM25 search it runs, checked
against hand-computed weights and against the plain search."""

from __future__ import annotations

import numpy as np
import pytest

from hybridsearch.sparse.feedback import rm3_weights
from hybridsearch.sparse.postings import Postings
from hybridsearch.sparse.segmented import SegmentedBM25, SparseSegment

# Two segments, so feedback reads postings across segments (global rows 0-2, then 3-4).
FIRST = [["tea", "leaf", "green"], ["coffee", "bean"], ["tea", "tea", "cup"]]
SECOND = [["green", "leaf", "leaf", "garden"], ["water"]]


def bm25_over(*segments: list[list[str]]) -> SegmentedBM25:
    parts = [
        SparseSegment(Postings.from_tokens(passages), np.ones(len(passages), dtype=bool))
        for passages in segments
    ]
    return SegmentedBM25(parts)


def test_weighted_search_with_integer_weights_is_the_repeated_query():
    bm25 = bm25_over(FIRST, SECOND)
    rows, scores = bm25.search(["tea", "tea", "leaf"], 5)
    weighted_rows, weighted_scores = bm25.search_weighted({"tea": 2.0, "leaf": 1.0}, 5)
    assert weighted_rows.tolist() == rows.tolist()
    np.testing.assert_allclose(weighted_scores, scores, rtol=1e-12)
    # A term's share scales its contribution: half of "tea" ranks the "leaf" passages higher.
    half_rows, _ = bm25.search_weighted({"tea": 0.1, "leaf": 1.0}, 5)
    assert half_rows[0] == 3  # the passage with leaf twice
    assert bm25.search_weighted({"unknown": 1.0}, 5)[0].size == 0


def test_rm3_weights_by_hand():
    bm25 = bm25_over(FIRST, SECOND)
    rows, scores = bm25.search(["tea"], 2)
    assert sorted(rows.tolist()) == [0, 2]
    share = dict(zip(rows.tolist(), (scores / scores.sum()).tolist(), strict=True))
    # Relevance of each term: sum over the two passages of share * tf / length.
    relevance = {
        "tea": share[0] * 1 / 3 + share[2] * 2 / 3,
        "leaf": share[0] / 3,
        "green": share[0] / 3,
        "cup": share[2] / 3,
    }
    # Passage 2 (tea twice) scores higher, so "cup" outweighs "leaf" and "green", which tie.
    assert share[2] > share[0] and relevance["leaf"] == relevance["green"]
    # Keep the 3 best: "tea", "cup", then of the tied two the first by term: "green".
    kept = relevance["tea"] + relevance["cup"] + relevance["green"]
    weights = rm3_weights(bm25, ["tea"], feedback_passages=2, feedback_terms=3)
    assert list(weights) == ["tea", "cup", "green"]
    assert weights["tea"] == pytest.approx(0.5 * 1.0 + 0.5 * relevance["tea"] / kept)
    assert weights["cup"] == pytest.approx(0.5 * relevance["cup"] / kept)
    assert weights["green"] == pytest.approx(0.5 * relevance["green"] / kept)
    assert sum(weights.values()) == pytest.approx(1.0)


def test_rm3_without_results_keeps_the_query():
    bm25 = bm25_over(FIRST)
    assert rm3_weights(bm25, ["water", "water"]) == {"water": 1.0}
