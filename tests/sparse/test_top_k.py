"""Tests of hybridsearch.sparse.top_k: the best k, equal scores by passage id ascending."""

from __future__ import annotations

import numpy as np
import pytest

from hybridsearch.sparse.top_k import best_first, top_k_matching
from tests.sparse.corpora import ranking


def oracle(scores: np.ndarray, top_k: int, shift: float = 0.0) -> list[int]:
    """Matching passages (unshifted score > 0) by shifted score, ties by lower id: a sort."""
    shifted = scores + shift if shift else scores
    return [int(i) for i in ranking(shifted) if scores[i] > 0][:top_k]


def test_best_first_breaks_ties_by_lower_id():
    ids = np.array([2, 5, 7, 9, 11])
    scores = np.array([1.0, 3.0, 3.0, 1.0, 3.0])
    assert best_first(ids, scores, 5).tolist() == [5, 7, 11, 2, 9]
    assert best_first(ids, scores, 2).tolist() == [5, 7]  # k cuts through the tied block
    assert best_first(ids, scores, 4).tolist() == [5, 7, 11, 2]
    assert best_first(ids, scores, 4).dtype == np.int64


def test_a_block_of_ties_larger_than_k_keeps_the_lowest_ids():
    scores = np.zeros(1000)
    scores[100:400] = 2.0  # 300 passages tie
    scores[[950, 960]] = 5.0
    for top_k in (1, 2, 3, 10, 299, 302, 500):
        ids, top_scores = top_k_matching(scores, top_k)
        expected = [950, 960, *range(100, 400)][:top_k]
        assert ids.tolist() == expected
        np.testing.assert_array_equal(top_scores, scores[expected])


@pytest.mark.parametrize("shift", [0.0, 0.7])
def test_random_scores_with_many_ties_match_a_full_sort(shift):
    rng = np.random.default_rng(11)
    for trial in range(200):
        size = int(rng.integers(1, 300))
        # Few distinct values, many zeros: long runs of ties at every cut-off.
        scores = rng.integers(0, 6, size=size) * rng.choice([0.5, 1.0, 1.5], size=size)
        for top_k in (1, 2, 5, 17, size, size + 3):
            ids, top_scores = top_k_matching(scores, top_k, shift)
            assert ids.tolist() == oracle(scores, top_k, shift), (trial, top_k)
            np.testing.assert_array_equal(top_scores, (scores + shift)[ids])


def test_a_smaller_k_is_the_head_of_a_larger_one():
    rng = np.random.default_rng(5)
    scores = rng.integers(0, 4, size=5000) / 4.0
    full, _ = top_k_matching(scores, 5000)
    for top_k in (1, 10, 50, 1234, 3000):
        assert top_k_matching(scores, top_k)[0].tolist() == full[:top_k].tolist()


def test_rounding_in_the_shift_is_ranked_by_the_shifted_score():
    # 1 + 1.5 ulp and 1 + 2 ulp both round to 1 + 2 ulp: two distinct unshifted scores become
    # equal once shifted, so the lower id comes first, although its unshifted score is lower.
    ulp = 2.0**-52
    scores = np.array([0.0, 1.5 * ulp, 2 * ulp, 0.0])
    ids, top_scores = top_k_matching(scores, 10, shift=1.0)
    assert top_scores.tolist() == [1.0 + 2 * ulp, 1.0 + 2 * ulp]
    assert ids.tolist() == [1, 2]
    assert top_k_matching(scores, 1, shift=1.0)[0].tolist() == [1]
    # Scores absorbed by the shift equal a passage without the term; they still count.
    scores = np.array([0.0, ulp / 4, 0.0, ulp / 8])
    ids, top_scores = top_k_matching(scores, 10, shift=1.0)
    assert ids.tolist() == [1, 3]
    assert top_scores.tolist() == [1.0, 1.0]


def test_nothing_above_zero_gives_nothing():
    ids, scores = top_k_matching(np.zeros(5), 3, shift=2.0)
    assert ids.shape == (0,) and scores.shape == (0,)
    assert ids.dtype == np.int64
