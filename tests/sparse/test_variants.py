"""Tests of the BM25 variants (hybridsearch.sparse.variants), scored through BM25Index.

rank-bm25 is the independent oracle for okapi, bm25l and bm25plus; the lucene variant is checked
against its formula written out by hand.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import rank_bm25

from hybridsearch.sparse.bm25 import BM25Index, BM25Settings
from hybridsearch.sparse.variants import BM25_VARIANTS, DEFAULT_DELTAS, VARIANTS

ORACLES = {
    "okapi": rank_bm25.BM25Okapi,
    "bm25l": rank_bm25.BM25L,
    "bm25plus": rank_bm25.BM25Plus,
}


def build(corpus: list[list[str]], **settings: object) -> BM25Index:
    return BM25Index.build(corpus, BM25Settings(**settings))


@pytest.mark.parametrize("variant", ["okapi", "bm25l", "bm25plus"])
def test_get_scores_equals_rank_bm25(generated, variant):
    corpus, queries = generated
    assert sum(1 for passage in corpus if not passage) > 0  # empty passages are covered
    index = build(corpus, variant=variant)
    oracle = ORACLES[variant](corpus)
    for query in queries:
        np.testing.assert_allclose(
            index.get_scores(query), oracle.get_scores(query), rtol=1e-6, atol=1e-12
        )


@pytest.mark.parametrize("variant", ["okapi", "bm25l", "bm25plus"])
def test_parameters_reach_the_scores_like_rank_bm25(generated, variant):
    corpus, queries = generated
    corpus, queries = corpus[:300], queries[:30]
    extra = {"epsilon": 0.5} if variant == "okapi" else {"delta": 0.8}
    index = build(corpus, variant=variant, k1=0.9, b=0.4, **extra)
    oracle = ORACLES[variant](corpus, k1=0.9, b=0.4, **extra)
    for query in queries:
        np.testing.assert_allclose(
            index.get_scores(query), oracle.get_scores(query), rtol=1e-6, atol=1e-12
        )


def test_defaults_are_rank_bm25s():
    # BM25Settings' defaults (k1, b, epsilon; delta per variant) are rank-bm25's own.
    import inspect

    settings = BM25Settings()
    for variant, oracle in ORACLES.items():
        defaults = {
            name: parameter.default
            for name, parameter in inspect.signature(oracle.__init__).parameters.items()
            if name in ("k1", "b", "epsilon", "delta")
        }
        assert defaults["k1"] == settings.k1 and defaults["b"] == settings.b
        if variant == "okapi":
            assert defaults["epsilon"] == settings.epsilon
        else:
            assert defaults["delta"] == DEFAULT_DELTAS[variant]


def test_okapi_epsilon_floor_on_a_tiny_corpus():
    # "common" is in 3 of 4 passages: its raw idf is negative and rank-bm25 floors it.
    corpus = [["common", "rare"], ["common"], ["common", "other"], ["other"]]
    index = build(corpus, variant="okapi")
    oracle = rank_bm25.BM25Okapi(corpus)
    for query in (["common"], ["rare", "common"], ["other"], ["common", "common"]):
        np.testing.assert_allclose(index.get_scores(query), oracle.get_scores(query), rtol=1e-6)


def test_lucene_matches_the_formula_by_hand():
    corpus = [["apple", "banana", "apple"], ["banana"], ["cherry", "apple", "date", "date"], []]
    index = build(corpus, k1=1.2, b=0.75)
    num_passages, avgdl = 4, (3 + 1 + 4 + 0) / 4

    def term_score(term: str, passage: list[str]) -> float:
        doc_freq = sum(1 for other in corpus if term in other)
        idf = math.log(1 + (num_passages - doc_freq + 0.5) / (doc_freq + 0.5))
        tf = passage.count(term)
        return idf * tf / (tf + 1.2 * (1 - 0.75 + 0.75 * len(passage) / avgdl))

    for query in (["apple"], ["banana", "date"], ["apple", "apple", "zebra"], ["cherry"]):
        expected = [sum(term_score(term, passage) for term in query) for passage in corpus]
        np.testing.assert_allclose(index.get_scores(query), expected, rtol=1e-12)
    # A concrete value, worked out on paper: idf(apple) = log(1 + 2.5/2.5) = log 2;
    # passage 0: tf 2, length 3, avgdl 2 -> 2 / (2 + 1.2 * 1.375) = 2 / 3.65.
    assert index.get_scores(["apple"])[0] == pytest.approx(math.log(2) * 2 / 3.65, rel=1e-12)


def test_repeated_query_terms_count_per_occurrence(generated):
    corpus, _ = generated
    index = build(corpus)
    single = index.get_scores(["w5"])
    np.testing.assert_allclose(index.get_scores(["w5", "w5", "w5"]), 3 * single, rtol=1e-12)


def test_variant_functions_are_pure_numpy():
    # Picked by name, they need only arrays and a params mapping.
    doc_freqs = np.array([1.0, 2.0, 4.0])
    params = {"k1": 1.5, "b": 0.75, "delta": 1.0, "epsilon": 0.25}
    tfs, lengths = np.array([1.0, 3.0]), np.array([2.0, 6.0])
    for name in BM25_VARIANTS:
        variant = VARIANTS[name]
        assert set(variant.param_names) <= set(params)
        idf = variant.idf(doc_freqs, 4, params)
        assert idf.shape == (3,) and np.isfinite(idf).all()
        parts = variant.passage_parts(lengths, 4.0, params)
        saturation = variant.posting_scores(tfs, parts.copy(), params)
        assert saturation.shape == (2,) and (saturation > 0).all()
    assert VARIANTS["bm25plus"].absent_value(params) == 1.0
    assert VARIANTS["lucene"].absent_value(params) == 0.0


def test_saturation_from_passage_parts_matches_the_formulas_bit_for_bit():
    # Each variant's saturation, from the per-passage part gathered per posting, against the
    # formula written out per posting (rank-bm25's and Lucene's expressions).
    rng = np.random.default_rng(3)
    lengths = rng.integers(1, 300, size=50).astype(np.float64)
    rows = rng.integers(0, 50, size=400)
    tfs = rng.integers(1, 9, size=400).astype(np.float64)
    params = {"k1": 1.2, "b": 0.7, "delta": 0.5, "epsilon": 0.25}
    k1, b, delta, avgdl = params["k1"], params["b"], params["delta"], 97.3
    dl = lengths[rows]
    expected = {
        "lucene": tfs / (tfs + k1 * (1 - b + b * dl / avgdl)),
        "okapi": tfs * (k1 + 1) / (tfs + k1 * (1 - b + b * dl / avgdl)),
        "bm25plus": tfs * (k1 + 1) / (tfs + k1 * (1 - b + b * dl / avgdl)),
    }
    ctd = tfs / (1 - b + b * dl / avgdl)
    expected["bm25l"] = tfs * (k1 + 1) * (ctd + delta) / (k1 + ctd + delta)
    for name, formula in expected.items():
        variant = VARIANTS[name]
        parts = variant.passage_parts(lengths, avgdl, params)
        got = variant.posting_scores(tfs, parts[rows], params)
        assert np.array_equal(got, formula), name
        assert parts.shape == (50,) and not np.shares_memory(got, parts)
