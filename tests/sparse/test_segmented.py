"""Tests of hybridsearch.sparse.segmented: BM25 over segments with live masks.

The oracle is a fresh BM25Index built from the live passages alone, in global-row order: the
i-th live global row is its passage i. Scores must agree to the bit (the same shared scoring
code, terms added in the same order), and ids and order exactly.
"""

from __future__ import annotations

from itertools import pairwise

import numpy as np
import pytest

from hybridsearch.errors import InvalidInputError
from hybridsearch.sparse.bm25 import BM25Index, BM25Settings
from hybridsearch.sparse.postings import Postings
from hybridsearch.sparse.segmented import SegmentedBM25, SparseSegment
from hybridsearch.sparse.variants import BM25_VARIANTS

Passages = list[list[str]]


def postings_of(passages: Passages) -> Postings:
    """Postings.from_tokens, or an empty segment's postings (from_tokens refuses none)."""
    if passages:
        return Postings.from_tokens(passages)
    empty = np.empty(0, dtype=np.int64)
    return Postings([], np.zeros(1, dtype=np.int64), empty.astype(np.int32), empty, empty)


def snapshot(
    segment_passages: list[Passages], live_masks: list[np.ndarray], settings: BM25Settings
) -> tuple[SegmentedBM25, BM25Index | None, np.ndarray]:
    """The segmented index, a fresh build of the live passages (None if none) and live rows."""
    segments = [
        SparseSegment(postings_of(passages), live)
        for passages, live in zip(segment_passages, live_masks, strict=True)
    ]
    all_passages = [passage for passages in segment_passages for passage in passages]
    live_rows = np.flatnonzero(np.concatenate([np.zeros(0, dtype=bool), *live_masks]))
    live_passages = [all_passages[row] for row in live_rows]
    fresh = BM25Index.build(live_passages, settings) if live_passages else None
    return SegmentedBM25(segments, settings), fresh, live_rows


def random_corpus(rng: np.random.Generator) -> tuple[list[Passages], list[np.ndarray], list[str]]:
    """1-5 segments (some empty) of short passages over a small Zipf-ish vocabulary, some dead."""
    vocabulary_size = int(rng.integers(2, 25))
    words = [f"t{rank}" for rank in range(vocabulary_size)]
    weights = 1.0 / np.arange(1, vocabulary_size + 1) ** rng.uniform(0.3, 1.5)
    weights /= weights.sum()
    segment_passages, live_masks = [], []
    for _ in range(int(rng.integers(1, 6))):
        passages = [
            [words[i] for i in rng.choice(vocabulary_size, size=int(rng.integers(0, 9)), p=weights)]
            for _ in range(int(rng.integers(0, 12)))
        ]
        dead_fraction = rng.choice([0.0, 0.0, 0.2, 0.5, 0.9, 1.0])
        segment_passages.append(passages)
        live_masks.append(rng.random(len(passages)) >= dead_fraction)
    return segment_passages, live_masks, words


def random_query(rng: np.random.Generator, words: list[str]) -> list[str]:
    query = [words[i] for i in rng.integers(0, len(words), size=int(rng.integers(1, 6)))]
    if rng.random() < 0.3:
        query.append(query[0])  # a repeated term
    if rng.random() < 0.3:
        query.insert(int(rng.integers(0, len(query) + 1)), "unknown")
    return query


def random_settings(rng: np.random.Generator, variant: str) -> BM25Settings:
    extra: dict[str, float] = {}
    if variant == "okapi":
        extra["epsilon"] = float(rng.choice([0.0, 0.25, 0.6]))
    elif variant in ("bm25l", "bm25plus") and rng.random() < 0.5:
        extra["delta"] = float(rng.uniform(0, 1.5))
    return BM25Settings(
        variant=variant, k1=float(rng.choice([0.0, 0.9, 1.5])), b=float(rng.uniform(0, 1)), **extra
    )


def assert_same_search(
    segmented: SegmentedBM25,
    fresh: BM25Index | None,
    live_rows: np.ndarray,
    query: list[str],
    k: int,
) -> None:
    rows, scores = segmented.search(query, k)
    assert rows.dtype == np.int64 and scores.dtype == np.float64
    if fresh is None:
        assert rows.shape == (0,) and scores.shape == (0,)
        return
    fresh_ids, fresh_scores = fresh.search(query, k)
    assert rows.tolist() == live_rows[fresh_ids].tolist(), (query, k)
    # The contract is 1e-12 relative; the shared code gives the same bits.
    np.testing.assert_allclose(scores, fresh_scores, rtol=1e-12, atol=0)
    np.testing.assert_array_equal(scores, fresh_scores)


# -- exactness against a fresh build ----------------------------------------------------------


@pytest.mark.parametrize("variant", BM25_VARIANTS)
def test_random_snapshots_search_as_a_fresh_build_of_the_live_passages(variant):
    rng = np.random.default_rng(sum(map(ord, variant)))
    for _ in range(150):
        segment_passages, live_masks, words = random_corpus(rng)
        settings = random_settings(rng, variant)
        segmented, fresh, live_rows = snapshot(segment_passages, live_masks, settings)
        assert segmented.num_live_passages == live_rows.shape[0]
        assert segmented.num_rows == sum(len(passages) for passages in segment_passages)
        if fresh is not None:
            assert segmented.average_passage_length == fresh.average_passage_length
        for _ in range(4):
            query = random_query(rng, words)
            expected_terms = fresh.known_terms(query) if fresh is not None else []
            assert segmented.known_terms(query) == expected_terms
            for k in (1, 5, 50):
                assert_same_search(segmented, fresh, live_rows, query, k)


@pytest.mark.parametrize("variant", BM25_VARIANTS)
def test_a_zipf_corpus_in_segments_with_deletes_searches_as_a_fresh_build(generated, variant):
    corpus, queries = generated
    rng = np.random.default_rng(3)
    cuts = [0, 300, 1100, 1100, 1150, len(corpus)]  # one empty segment
    segment_passages = [corpus[start:end] for start, end in pairwise(cuts)]
    live_masks = [rng.random(len(passages)) > 0.3 for passages in segment_passages]
    live_masks[0][:] = True  # a segment without deletes
    segmented, fresh, live_rows = snapshot(
        segment_passages, live_masks, BM25Settings(variant=variant)
    )
    assert fresh is not None
    for query in queries[:80]:
        for k in (1, 10, 3000):
            assert_same_search(segmented, fresh, live_rows, query, k)


def test_okapi_epsilon_floor_uses_the_mean_idf_of_the_live_vocabulary():
    # "c" is in every live passage (idf < 0, floored); "rare" and "gone" are only in dead
    # passages, so they leave the live vocabulary and its mean idf.
    segment_passages = [
        [["c", "a"], ["c", "rare", "rare"], ["c", "b"]],
        [["c", "gone"], ["c", "a", "b"], ["c"]],
    ]
    live_masks = [np.array([True, False, True]), np.array([False, True, True])]
    settings = BM25Settings(variant="okapi", epsilon=0.5)
    segmented, fresh, live_rows = snapshot(segment_passages, live_masks, settings)
    for query in (["c"], ["a", "c"], ["rare"], ["gone", "b"], ["c", "c", "b"]):
        for k in (1, 2, 10):
            assert_same_search(segmented, fresh, live_rows, query, k)
    assert segmented.known_terms(["rare", "c", "gone", "a"]) == ["c", "a"]


# -- filters ----------------------------------------------------------------------------------


@pytest.mark.parametrize("variant", BM25_VARIANTS)
def test_a_filter_drops_disallowed_rows_from_the_full_ranking(variant):
    rng = np.random.default_rng(100 + len(variant))
    for _ in range(100):
        segment_passages, live_masks, words = random_corpus(rng)
        segmented, _, _ = snapshot(segment_passages, live_masks, random_settings(rng, variant))
        allowed = [
            None if rng.random() < 0.25 else rng.random(len(passages)) < rng.uniform(0, 1)
            for passages in segment_passages
        ]
        allowed_rows = np.concatenate(
            [
                np.ones(len(passages), dtype=bool) if mask is None else mask
                for passages, mask in zip(segment_passages, allowed, strict=True)
            ]
            + [np.zeros(0, dtype=bool)]
        )
        live = np.concatenate([np.zeros(0, dtype=bool), *live_masks])
        for _ in range(3):
            query = random_query(rng, words)
            full_rows, full_scores = segmented.search(query, segmented.num_rows + 1)
            kept = allowed_rows[full_rows]
            for k in (1, 5, 50):
                rows, scores = segmented.search(query, k, allowed)
                assert rows.tolist() == full_rows[kept][:k].tolist()
                np.testing.assert_array_equal(scores, full_scores[kept][:k])
                assert live[rows].all() and allowed_rows[rows].all()


def test_fewer_allowed_rows_than_k_returns_only_those_never_fillers_at_zero():
    passages = [["x", "y"], ["y"], ["z"], ["x"], ["y", "z"]]
    segmented, _, _ = snapshot(
        [passages[:3], passages[3:]], [np.ones(3, bool), np.ones(2, bool)], BM25Settings()
    )
    allowed = [np.array([False, True, False]), np.array([False, False])]
    rows, scores = segmented.search(["y", "x"], 10, allowed)
    assert rows.tolist() == [1]
    assert (scores > 0).all()
    rows, _ = segmented.search(["x"], 10, allowed)  # the one allowed row lacks "x"
    assert rows.shape == (0,)
    # bm25plus gives every passage a constant; an allowed row without a query term still
    # does not match, so it is not returned either.
    segmented, _, _ = snapshot(
        [passages[:3], passages[3:]],
        [np.ones(3, bool), np.ones(2, bool)],
        BM25Settings(variant="bm25plus"),
    )
    rows, _ = segmented.search(["x"], 10, allowed)
    assert rows.shape == (0,)


def test_a_filter_never_returns_dead_rows_it_allows():
    segmented, _, _ = snapshot(
        [[["x"], ["x"], ["x"]]], [np.array([True, False, True])], BM25Settings()
    )
    rows, _ = segmented.search(["x"], 10, [np.ones(3, dtype=bool)])
    assert rows.tolist() == [0, 2]


# -- ties, empty and dead segments ------------------------------------------------------------


def test_equal_scores_across_segments_come_by_global_row():
    same = ["a", "b", "b"]
    segment_passages = [[same, ["c"], same], [same, same], [], [["c"], same, same, same]]
    live_masks = [
        np.array([True, True, False]),
        np.array([True, True]),
        np.zeros(0, dtype=bool),
        np.array([True, False, True, True]),
    ]
    for variant in BM25_VARIANTS:
        segmented, fresh, live_rows = snapshot(
            segment_passages, live_masks, BM25Settings(variant=variant)
        )
        rows, scores = segmented.search(["b", "a"], 10)
        assert rows.tolist() == [0, 3, 4, 7, 8]  # row 2 and 6 are dead
        assert len(set(scores.tolist())) == 1
        for k in (1, 2, 3, 4, 5):  # k cuts through the tied block: the lowest rows stay
            assert segmented.search(["b", "a"], k)[0].tolist() == [0, 3, 4, 7, 8][:k]
            assert_same_search(segmented, fresh, live_rows, ["b", "a"], k)


def test_no_segments_or_only_dead_or_empty_ones_find_nothing():
    settings = BM25Settings()
    empty = SegmentedBM25([], settings)
    assert empty.num_live_passages == 0 and empty.num_rows == 0
    assert empty.average_passage_length == 0.0
    assert empty.known_terms(["a"]) == []
    assert empty.search(["a"], 5)[0].shape == (0,)
    dead, _, _ = snapshot(
        [[["a", "b"], ["a"]], [], [["b"]]],
        [np.zeros(2, dtype=bool), np.zeros(0, dtype=bool), np.zeros(1, dtype=bool)],
        BM25Settings(variant="okapi"),
    )
    assert dead.num_live_passages == 0 and dead.num_rows == 3
    assert dead.average_passage_length == 0.0
    assert dead.known_terms(["a", "b"]) == []
    rows, scores = dead.search(["a", "b"], 5, [None, None, np.ones(1, dtype=bool)])
    assert rows.shape == (0,) and scores.shape == (0,)


def test_all_live_passages_empty_scores_nothing_like_a_fresh_build():
    segmented, fresh, _ = snapshot(
        [[[], ["a"]], [[]]], [np.array([True, False]), np.ones(1, bool)], BM25Settings()
    )
    assert fresh is not None and fresh.average_passage_length == 0.0
    assert segmented.average_passage_length == 0.0
    assert segmented.search(["a"], 3)[0].shape == (0,)


def test_known_terms_ignore_terms_held_only_by_dead_passages():
    segmented, _, _ = snapshot(
        [[["alive", "ghost"], ["ghost"]], [["other", "alive"]]],
        [np.array([True, False]), np.array([False])],
        BM25Settings(),
    )
    # "ghost" survives in row 0; "other" is only in a dead row; "never" nowhere.
    assert segmented.known_terms(["other", "never", "ghost", "alive", "ghost"]) == [
        "ghost",
        "alive",
    ]
    assert segmented.search(["other", "never"], 5)[0].shape == (0,)


def test_statistics_are_those_of_the_live_passages_and_computed_once():
    segmented, fresh, _ = snapshot(
        [[["a", "b", "c"], ["a"]], [["b", "b"], ["c"]]],
        [np.array([True, False]), np.array([True, True])],
        BM25Settings(),
    )
    assert segmented.num_live_passages == 3
    assert segmented.average_passage_length == pytest.approx(6 / 3)
    assert fresh is not None and fresh.average_passage_length == 2.0
    statistics = segmented._statistics
    assert statistics.doc_freq("a") == 1 and statistics.doc_freq("b") == 2
    segmented.search(["a", "b"], 2)
    assert statistics._doc_freqs == {"a": 1, "b": 2}  # cached by first use, not recomputed


# -- argument checks --------------------------------------------------------------------------


def test_bad_masks_and_arguments_are_refused():
    postings = postings_of([["a"], ["b"]])
    with pytest.raises(InvalidInputError, match=r"live must be a bool array of shape \(2,\)"):
        SparseSegment(postings, np.ones(2, dtype=np.int64))
    with pytest.raises(InvalidInputError, match="live must be a bool array"):
        SparseSegment(postings, np.ones(3, dtype=bool))
    with pytest.raises(InvalidInputError, match="live must be a bool array"):
        SparseSegment(postings, [True, True])
    with pytest.raises(InvalidInputError, match="segments\\[0\\] must be a SparseSegment"):
        SegmentedBM25([postings], BM25Settings())
    segmented = SegmentedBM25([SparseSegment(postings, np.ones(2, dtype=bool))], BM25Settings())
    with pytest.raises(InvalidInputError, match="allowed has 2 masks for 1 segments"):
        segmented.search(["a"], 1, [None, None])
    with pytest.raises(InvalidInputError, match=r"allowed\[0\] must be a bool array"):
        segmented.search(["a"], 1, [np.ones(3, dtype=bool)])
    with pytest.raises(InvalidInputError, match="one mask \\(or None\\) per segment"):
        segmented.search(["a"], 1, np.ones(2, dtype=bool))
    with pytest.raises(InvalidInputError, match="k must be a positive integer"):
        segmented.search(["a"], 0)
    with pytest.raises(InvalidInputError, match="not a single string"):
        segmented.search("a", 1)
    with pytest.raises(InvalidInputError, match="not a single string"):
        segmented.known_terms("a")
    assert SegmentedBM25([], {"variant": "okapi"}).settings.variant == "okapi"
