"""SearchOptions: every option checked once, when made; strict on the wire."""

from __future__ import annotations

import numpy as np
import pytest

from hybridsearch.errors import IndexFormatError, InvalidInputError
from hybridsearch.search.options import DEFAULT_DEPTH, SearchOptions


def test_defaults():
    options = SearchOptions()
    assert (options.k, options.mode, options.fusion) == (10, "hybrid", "rrf")
    assert options.unit == "documents"
    assert options.depth == DEFAULT_DEPTH
    assert options.weights == {"bm25": 1.0, "dense": 1.0}


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("k", 0, "k must be a positive integer"),
        ("k", True, "k must be a positive integer"),
        ("k", 2.5, "k must be a positive integer"),
        ("mode", "sparse", "unknown mode 'sparse'"),
        ("fusion", "max", "unknown fusion 'max'"),
        ("unit", "chunks", "unknown unit 'chunks'"),
        ("depth", -1, "depth must be a positive integer"),
        ("rrf_k", -1, "rrf_k must be a finite number >= 0"),
        ("rrf_k", float("nan"), "rrf_k must be a finite number"),
        ("normalization", "l2", "unknown normalization 'l2'"),
        ("weights", {"bm25": -1}, "weight of 'bm25' must be a finite number >= 0"),
        ("weights", {"colbert": 1}, "unknown leg in weights 'colbert'"),
        ("weights", [1, 2], "weights must be a mapping"),
    ],
)
def test_bad_options_name_the_option(field, value, message):
    with pytest.raises(InvalidInputError, match=message):
        SearchOptions(**{field: value})


def test_weights_fill_missing_legs():
    assert SearchOptions(weights={"dense": 2}).weights == {"bm25": 1.0, "dense": 2.0}


def test_from_call_refuses_unknown_options():
    with pytest.raises(InvalidInputError, match="unknown SearchOptions field 'topk'"):
        SearchOptions.from_call(10, {"topk": 5})
    assert SearchOptions.from_call(3, {"mode": "bm25"}) == SearchOptions(k=3, mode="bm25")


def test_round_trip_and_strict_from_dict():
    options = SearchOptions(k=5, fusion="convex", weights={"bm25": 0.5})
    assert SearchOptions.from_dict(options.to_dict()) == options
    data = options.to_dict()
    data["extra"] = 1
    with pytest.raises(IndexFormatError, match="unknown SearchOptions key 'extra'"):
        SearchOptions.from_dict(data)
    del data["extra"], data["mode"]
    with pytest.raises(IndexFormatError, match="key 'mode' is missing"):
        SearchOptions.from_dict(data)


# -- issue 14 item 5: weights and rrf_k checked the same way whatever legs run ----------------


@pytest.mark.parametrize("mode", ["hybrid", "bm25", "dense"])
def test_all_zero_weights_are_refused_in_every_mode(mode):
    with pytest.raises(InvalidInputError, match="every leg's weight is 0"):
        SearchOptions(mode=mode, weights={"bm25": 0, "dense": 0})
    with pytest.raises(InvalidInputError, match="every leg's weight is 0"):
        SearchOptions(mode=mode, weights={"bm25": 0.0, "dense": np.float32(0)})


@pytest.mark.parametrize("mode", ["hybrid", "bm25", "dense"])
@pytest.mark.parametrize("rrf_k", [-1, -0.5, float("nan"), float("inf"), np.float64("nan")])
def test_bad_rrf_k_is_refused_in_every_mode(mode, rrf_k):
    with pytest.raises(InvalidInputError, match="rrf_k must be a finite number >= 0"):
        SearchOptions(mode=mode, rrf_k=rrf_k)


def test_numpy_scalar_weights_and_rrf_k_are_accepted():
    options = SearchOptions(
        weights={"bm25": np.float32(2.0), "dense": np.int64(0)}, rrf_k=np.float32(10)
    )
    assert options.weights == {"bm25": 2.0, "dense": 0.0}
    assert all(type(weight) is float for weight in options.weights.values())
    assert options.rrf_k == 10.0
