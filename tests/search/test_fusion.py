"""Tests for hybridsearch.search.fusion against hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pytest

from hybridsearch.errors import InvalidInputError
from hybridsearch.search.fusion import convex, dbsf, fuse, rrf

LIST_A = ["d1", "d2", "d3"]
LIST_B = ["d3", "d1", "d4"]


def assert_fused(actual: list[tuple[object, float]], expected: list[tuple[object, float]]) -> None:
    assert [item_id for item_id, _ in actual] == [item_id for item_id, _ in expected]
    for (_, actual_score), (_, expected_score) in zip(actual, expected, strict=True):
        assert actual_score == pytest.approx(expected_score, rel=1e-12, abs=1e-15)


# --- rrf -----------------------------------------------------------------------------------


def test_rrf_hand_computed_k60() -> None:
    # d1: ranks 1 and 2; d3: ranks 3 and 1; d2 only in A (rank 2); d4 only in B (rank 3).
    expected = [
        ("d1", 1 / 61 + 1 / 62),  # 0.0325224...
        ("d3", 1 / 63 + 1 / 61),  # 0.0322664...
        ("d2", 1 / 62),  # only A contributes
        ("d4", 1 / 63),  # only B contributes
    ]
    assert_fused(rrf([LIST_A, LIST_B]), expected)
    assert_fused(rrf([LIST_A, LIST_B], k=60), expected)


def test_rrf_weights_change_order() -> None:
    # Tripling B's weight lifts d3 (B's top) above d1: 1/63 + 3/61 > 1/61 + 3/62.
    fused = rrf([LIST_A, LIST_B], weights=[1, 3])
    assert_fused(
        fused,
        [
            ("d3", 1 / 63 + 3 / 61),
            ("d1", 1 / 61 + 3 / 62),
            ("d4", 3 / 63),
            ("d2", 1 / 62),
        ],
    )


def test_rrf_k_changes_scores() -> None:
    fused = rrf([LIST_A, LIST_B], k=0)
    assert_fused(fused, [("d1", 1 + 1 / 2), ("d3", 1 / 3 + 1), ("d2", 1 / 2), ("d4", 1 / 3)])
    fused_k1 = dict(rrf([LIST_A, LIST_B], k=1))
    assert fused_k1["d1"] == pytest.approx(1 / 2 + 1 / 3)


def test_rrf_ties_best_rank_then_first_appearance() -> None:
    # k=0: p = 1 (rank 1 in A), y = 1 (rank 1 in B), x = 1/2 + 1/2 = 1 (rank 2 in both).
    fused = rrf([["p", "x"], ["y", "x"]], k=0)
    assert fused == [("p", 1.0), ("y", 1.0), ("x", 1.0)]
    # Equal score and equal best rank: first appearance decides.
    assert [item_id for item_id, _ in rrf([["x", "y"], ["z", "w"]])] == ["x", "z", "y", "w"]


def test_rrf_duplicates_keep_first_occurrence() -> None:
    # The second "a" is dropped before counting ranks, so "c" is rank 3.
    assert_fused(rrf([["a", "b", "a", "c"]]), [("a", 1 / 61), ("b", 1 / 62), ("c", 1 / 63)])


def test_rrf_zero_weight_switches_list_off_and_empty_inputs() -> None:
    assert [item_id for item_id, _ in rrf([LIST_A, LIST_B], weights=[1, 0])] == LIST_A
    assert rrf([]) == []
    assert rrf([[], []]) == []


def test_rrf_int_ids() -> None:
    fused = rrf([np.array([3, 1]), [1, 2]])
    assert [int(item_id) for item_id, _ in fused] == [1, 3, 2]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"k": -1}, "k must be a finite number >= 0"),
        ({"k": math.nan}, "k must be a finite number >= 0"),
        ({"k": math.inf}, "k must be a finite number >= 0"),
        ({"weights": [1.0]}, "weights has 1 values but ranked_lists has 2 lists"),
        ({"weights": [1.0, -0.5]}, r"weights\[1\] is -0.5"),
        ({"weights": [1.0, math.inf]}, r"weights\[1\] is inf"),
        ({"weights": [1.0, "2"]}, r"weights\[1\] is '2'"),
    ],
)
def test_rrf_validation(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        rrf([LIST_A, LIST_B], **kwargs)  # type: ignore[arg-type]


def test_rrf_unhashable_id() -> None:
    with pytest.raises(InvalidInputError, match=r"ranked_lists\[0\]: ids must be hashable"):
        rrf([[["unhashable"]]])


# --- convex --------------------------------------------------------------------------------

SCORED_A = [("a", 10.0), ("b", 6.0), ("c", 2.0)]
SCORED_B = [("c", 0.9), ("d", 0.6), ("a", 0.1)]


def test_convex_minmax_hand_computed() -> None:
    # A: (s - 2) / 8 -> a 1, b 0.5, c 0.   B: (s - 0.1) / 0.8 -> c 1, d 0.625, a 0.
    fused = convex([SCORED_A, SCORED_B])
    assert_fused(fused, [("a", 1.0 + 0.0), ("c", 0.0 + 1.0), ("d", 0.625), ("b", 0.5)])


def test_convex_minmax_weights() -> None:
    fused = convex([SCORED_A, SCORED_B], weights=[0.7, 0.3])
    assert_fused(
        fused,
        [("a", 0.7 * 1.0), ("b", 0.7 * 0.5), ("c", 0.3 * 1.0), ("d", 0.3 * 0.625)],
    )


def test_convex_zscore_hand_computed() -> None:
    # A: mean 6, population std sqrt((16 + 0 + 16) / 3).
    std_a = math.sqrt(32 / 3)
    # B: mean 1.6 / 3, deviations 0.9 - m, 0.6 - m, 0.1 - m.
    mean_b = 1.6 / 3
    std_b = math.sqrt(((0.9 - mean_b) ** 2 + (0.6 - mean_b) ** 2 + (0.1 - mean_b) ** 2) / 3)
    expected_scores = {
        "a": 4 / std_a + (0.1 - mean_b) / std_b,
        "b": 0.0,  # A's mean; absent from B, which adds nothing
        "c": -4 / std_a + (0.9 - mean_b) / std_b,
        "d": (0.6 - mean_b) / std_b,  # absent from A, which adds nothing
    }
    fused = convex([SCORED_A, SCORED_B], normalization="zscore")
    assert [item_id for item_id, _ in fused] == ["d", "b", "a", "c"]
    for item_id, score in fused:
        assert score == pytest.approx(expected_scores[item_id], rel=1e-12, abs=1e-15)


def test_convex_all_equal_scores() -> None:
    assert convex([[("x", 5.0), ("y", 5.0)]]) == [("x", 1.0), ("y", 1.0)]
    assert convex([[("x", 5.0), ("y", 5.0)]], normalization="zscore") == [("x", 0.0), ("y", 0.0)]
    assert convex([[("only", -3.0)]]) == [("only", 1.0)]


# --- dbsf ----------------------------------------------------------------------------------

DBSF_A = [("a", 10.0), ("b", 6.0), ("c", 2.0)]
DBSF_B = [("c", 3.0), ("d", 2.0), ("a", 1.0)]


def test_dbsf_hand_computed() -> None:
    # A: mean 6, sample std sqrt(32 / 2) = 4, so [6 - 12, 6 + 12] -> [0, 1]:
    #    a (10 + 6) / 24 = 2/3, b 12/24 = 1/2, c 8/24 = 1/3.
    # B: mean 2, sample std sqrt(2 / 2) = 1, so [-1, 5] -> [0, 1]: c 4/6, d 3/6, a 2/6.
    # a = 2/3 + 1/3 and c = 1/3 + 2/3 tie at 1: both best-ranked 1st, a appeared first.
    fused = dbsf([DBSF_A, DBSF_B])
    assert_fused(fused, [("a", 1.0), ("c", 1.0), ("b", 0.5), ("d", 0.5)])
    assert_fused(fuse([DBSF_A, DBSF_B], method="dbsf"), fused)


def test_dbsf_weights() -> None:
    # a = 2 * 2/3 + 1/3, c = 2 * 1/3 + 2/3, b = 2 * 1/2, d = 1/2.
    fused = dbsf([DBSF_A, DBSF_B], weights=[2, 1])
    assert_fused(fused, [("a", 5 / 3), ("c", 4 / 3), ("b", 1.0), ("d", 0.5)])


def test_dbsf_degenerate_lists_and_no_clipping() -> None:
    assert dbsf([[("only", -3.0)]]) == [("only", 0.5)]
    assert dbsf([[("x", 5.0), ("y", 5.0)]]) == [("x", 0.5), ("y", 0.5)]
    # Qdrant does not clip: a list of 11 zeros and one 12 has mean 1 and sample std
    # sqrt((121 + 11) / 11) = sqrt(12), and 12 maps above 1.
    scores = [("top", 12.0)] + [(f"z{n}", 0.0) for n in range(11)]
    std = math.sqrt(12)
    top_score = dict(dbsf([scores]))["top"]
    assert top_score == pytest.approx((12 - (1 - 3 * std)) / (6 * std), rel=1e-12)
    assert top_score > 1.0


def test_convex_missing_id_gets_only_other_lists_contribution() -> None:
    fused = dict(convex([[("a", 1.0), ("b", 0.0)], [("c", 4.0), ("a", 2.0)]], weights=[2, 1]))
    # b is A's minimum (0) and not in B; c is B's max (1) and not in A.
    assert fused == {"a": 2 * 1.0 + 1 * 0.0, "b": 0.0, "c": 1.0}


def test_convex_accepts_numpy_scores_and_keeps_first_duplicate() -> None:
    fused = convex([[(1, np.float32(3.0)), (2, np.float32(1.0)), (1, np.float32(0.0))]])
    assert fused == [(1, 1.0), (2, 0.0)]


@pytest.mark.parametrize(
    ("lists", "kwargs", "message"),
    [
        ([SCORED_A], {"normalization": "softmax"}, "unknown normalization 'softmax'"),
        ([SCORED_A], {"weights": [1, 1]}, "weights has 2 values but scored_lists has 1 lists"),
        ([[("a", math.nan)]], {}, r"scored_lists\[0\]\[0\]: score nan for id 'a'"),
        ([[("a", "1.0")]], {}, "expected a finite number"),
        ([["a"]], {}, r"scored_lists\[0\]\[0\] is 'a'; expected an \(id, score\) pair"),
        ([[("a", 1.0, 2)]], {}, r"expected an \(id, score\) pair"),
    ],
)
def test_convex_validation(lists: list, kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        convex(lists, **kwargs)  # type: ignore[arg-type]


# --- fuse ----------------------------------------------------------------------------------


def test_fuse_dispatches_by_name() -> None:
    scored = [SCORED_A, SCORED_B]
    ranked = [[item_id for item_id, _ in scored_list] for scored_list in scored]
    assert fuse(scored) == rrf(ranked)
    assert fuse(scored, method="rrf", k=10, weights=[1, 2]) == rrf(ranked, k=10, weights=[1, 2])
    assert fuse(scored, method="convex", normalization="zscore") == convex(
        scored, normalization="zscore"
    )
    with pytest.raises(InvalidInputError, match="unknown method 'combmnz'"):
        fuse(scored, method="combmnz")


@pytest.mark.parametrize("weights", [[0, 0], [0.0, np.float32(0)]])
def test_all_zero_weights_are_refused(weights) -> None:
    """Issue 14 item 5: every list weighted 0 would fuse to nothing, silently."""
    with pytest.raises(InvalidInputError, match="every weight is 0"):
        rrf([LIST_A, LIST_B], weights=weights)
    with pytest.raises(InvalidInputError, match="every weight is 0"):
        convex([SCORED_A, SCORED_B], weights=weights)


def test_numpy_scalar_weights_are_accepted() -> None:
    assert rrf([LIST_A, LIST_B], weights=[np.float32(1), np.int64(3)]) == rrf(
        [LIST_A, LIST_B], weights=[1, 3]
    )
