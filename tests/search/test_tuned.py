"""Tests for hybridsearch.search.tuned: a tuned fusion is checked when made and read strictly."""

from __future__ import annotations

import pytest

from hybridsearch.errors import IndexFormatError, InvalidInputError
from hybridsearch.search.options import SearchOptions
from hybridsearch.search.tuned import TunedFusion

TUNED = TunedFusion(
    fusion="convex",
    normalization="zscore",
    weights={"dense": 2.0},
    tuned_on=40,
    folds=5,
    estimate=0.7312,
    leg_estimates={"bm25": 0.69, "dense": 0.66},
)


def test_round_trip_and_what_it_sets():
    assert TUNED.weights == {"bm25": 1.0, "dense": 2.0}
    assert TunedFusion.from_dict(TUNED.to_dict(), where="commit") == TUNED
    assert TUNED.search_options() == {
        "fusion": "convex",
        "rrf_k": 60.0,
        "normalization": "zscore",
        "weights": {"bm25": 1.0, "dense": 2.0},
        "bm25_feedback": "none",
    }
    assert TUNED.applies_to(SearchOptions(**TUNED.search_options(), k=3, unit="passages"))
    assert not TUNED.applies_to(SearchOptions(fusion="convex", normalization="zscore"))
    assert TUNED.note() == (
        "fusion tuned on 40 queries (5-fold cross-validated ndcg@10 0.7312; bm25 alone "
        "0.6900, dense alone 0.6600)"
    )


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("fusion", "median", "fusion"),
        ("weights", {"sparse": 1.0}, "leg in weights"),
        ("tuned_on", 0, "tuned_on"),
        ("leg_estimates", {"colbert": 0.5}, "leg"),
        ("kept", "both", "kept"),
        ("bm25_feedback", "rm4", "bm25_feedback"),
    ],
)
def test_bad_values_are_refused(field, value, message):
    with pytest.raises(InvalidInputError, match=message):
        TunedFusion(**{**TUNED.to_dict(), field: value})
    with pytest.raises(IndexFormatError, match=f"commit_3.json: search_defaults: .*{message}"):
        TunedFusion.from_dict(
            {**TUNED.to_dict(), field: value}, where="commit_3.json: search_defaults"
        )
