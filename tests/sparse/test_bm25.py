"""Tests of hybridsearch.sparse.bm25: BM25Settings and BM25Index (building and searching)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import rank_bm25

from hybridsearch.errors import EmptyCorpusError, IndexFormatError, InvalidInputError
from hybridsearch.sparse.bm25 import BM25Index, BM25Settings
from hybridsearch.sparse.variants import BM25_VARIANTS
from tests.sparse.corpora import ranking


def build(corpus: list[list[str]], **settings: object) -> BM25Index:
    return BM25Index.build(corpus, BM25Settings(**settings))


# -- settings ---------------------------------------------------------------------------------


def test_settings_defaults_and_params():
    settings = BM25Settings()
    assert settings.to_dict() == {
        "variant": "lucene",
        "k1": 1.5,
        "b": 0.75,
        "delta": None,
        "epsilon": 0.25,
    }
    assert settings.params == {"k1": 1.5, "b": 0.75}
    assert BM25Settings(variant="bm25l").params == {"k1": 1.5, "b": 0.75, "delta": 0.5}
    assert BM25Settings(variant="bm25plus").params == {"k1": 1.5, "b": 0.75, "delta": 1.0}
    assert BM25Settings(variant="bm25plus", delta=0.3).params["delta"] == 0.3
    assert BM25Settings(variant="okapi", epsilon=0.1).params == {
        "k1": 1.5,
        "b": 0.75,
        "epsilon": 0.1,
    }


@pytest.mark.parametrize(
    "settings",
    [
        BM25Settings(),
        BM25Settings(variant="okapi", k1=0.9, b=0.4, epsilon=0.5),
        BM25Settings(variant="bm25l", delta=0.25),
        BM25Settings(variant="bm25plus", k1=0, b=1),
    ],
)
def test_settings_round_trip_through_json(settings):
    data = json.loads(json.dumps(settings.to_dict()))
    assert BM25Settings.from_dict(data) == settings


def test_numbers_become_plain_floats():
    settings = BM25Settings(variant="bm25l", k1=np.float32(1.25), b=1, delta=np.float32(0.5))
    assert settings.to_dict() == {
        "variant": "bm25l",
        "k1": 1.25,
        "b": 1.0,
        "delta": 0.5,
        "epsilon": 0.25,
    }
    assert all(type(value) is float for value in settings.params.values())
    json.dumps(settings.to_dict())


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"variant": "bm42"}, "unknown BM25 variant 'bm42'; expected one of: lucene, okapi"),
        ({"variant": "lucene", "delta": 0.5}, "delta applies to bm25l and bm25plus only"),
        ({"variant": "okapi", "delta": 0.5}, "not to variant 'okapi'"),
        ({"k1": -1.0}, "k1 must be >= 0"),
        ({"b": 1.5}, "b must be between 0 and 1"),
        ({"b": -0.1}, "b must be between 0 and 1"),
        ({"k1": float("nan")}, "k1 must be a finite number"),
        ({"epsilon": float("inf")}, "epsilon must be a finite number"),
        ({"variant": "bm25plus", "delta": -1.0}, "delta must be >= 0"),
        ({"k1": "1.2"}, "k1 must be a finite number"),
        ({"b": True}, "b must be a finite number"),
    ],
)
def test_bad_settings_are_refused(fields, message):
    with pytest.raises(InvalidInputError, match=message):
        BM25Settings(**fields)
    with pytest.raises(InvalidInputError, match=message):
        BM25Index.build([["apple"]], fields)  # a mapping of fields is coerced, then checked


def test_from_dict_is_strict():
    data = BM25Settings().to_dict()
    with pytest.raises(IndexFormatError, match="unknown BM25Settings key 'k3'"):
        BM25Settings.from_dict({**data, "k3": 1.0})
    del data["epsilon"]
    with pytest.raises(IndexFormatError, match="BM25Settings key 'epsilon' is missing"):
        BM25Settings.from_dict(data, where="manifest.json bm25")
    with pytest.raises(IndexFormatError, match=r"manifest\.json bm25: .*b must be between"):
        BM25Settings.from_dict({**BM25Settings().to_dict(), "b": 3}, where="manifest.json bm25")


def test_build_takes_settings_a_mapping_or_none():
    corpus = [["apple", "banana"], ["banana"]]
    assert BM25Index.build(corpus).settings == BM25Settings()
    assert BM25Index.build(corpus, {"k1": 1.2}).settings == BM25Settings(k1=1.2)
    settings = BM25Settings(variant="okapi")
    assert BM25Index.build(corpus, settings).settings is settings
    with pytest.raises(InvalidInputError, match="unknown BM25Settings field 'kl'"):
        BM25Index.build(corpus, {"kl": 1.2})
    with pytest.raises(InvalidInputError, match="settings must be a BM25Settings"):
        BM25Index.build(corpus, "okapi")


# -- search -------------------------------------------------------------------------------


@pytest.mark.parametrize("variant", BM25_VARIANTS)
@pytest.mark.parametrize("k", [1, 10, 100])
def test_search_is_the_head_of_get_scores_ranking(generated, variant, k):
    corpus, queries = generated
    index = build(corpus, variant=variant)
    for query in queries[:100]:
        scores = index.get_scores(query)
        passage_ids, top_scores = index.search(query, k)
        matching = {i for i, passage in enumerate(corpus) if set(passage) & set(query)}
        expected = [i for i in ranking(scores) if i in matching][:k]
        assert passage_ids.dtype == np.int64
        assert passage_ids.tolist() == expected
        np.testing.assert_array_equal(top_scores, scores[passage_ids])
        if variant != "okapi":  # no epsilon floor: matching passages rank first anyway
            assert passage_ids.tolist() == ranking(scores)[: len(expected)].tolist()


@pytest.mark.parametrize("variant", BM25_VARIANTS)
def test_a_smaller_k_is_exactly_the_head_of_a_larger_one(generated, variant):
    corpus, queries = generated
    # Duplicated passages make ties at every cut-off.
    index = build(corpus[:300] * 3, variant=variant)
    for query in queries:
        ids_50, scores_50 = index.search(query, 50)
        ids_10, scores_10 = index.search(query, 10)
        assert ids_10.tolist() == ids_50[:10].tolist()
        assert scores_10.tolist() == scores_50[:10].tolist()  # exactly, not approximately


def test_ties_are_broken_by_lower_passage_id():
    # Passages 1, 3, 4 and 6 are identical, so they tie; k cuts through the tie.
    corpus = [["x", "y"], ["a", "b"], ["b", "c"], ["a", "b"], ["a", "b"], ["a"], ["a", "b"]]
    index = build(corpus)
    passage_ids, scores = index.search(["a", "b"], 3)
    assert passage_ids.tolist() == [1, 3, 4]
    assert scores[0] == scores[1] == scores[2]
    passage_ids, _ = index.search(["a", "b"], 10)
    # "a" and "b" have equal document frequencies, so the shorter passage 5 beats passage 2.
    assert passage_ids.tolist() == [1, 3, 4, 6, 5, 2]
    assert passage_ids.tolist() == ranking(index.get_scores(["a", "b"]))[:6].tolist()


@pytest.mark.parametrize("variant", BM25_VARIANTS)
def test_a_block_of_ties_larger_than_k(variant):
    # 40 identical passages tie below two better ones; k cuts the block at every size.
    # "apple" is in under half the passages, so okapi's idf is positive too.
    corpus = [["other"]] * 50 + [["apple", "pear"]] * 40 + [["apple", "apple"], ["apple"]]
    index = build(corpus, variant=variant)
    scores = index.get_scores(["apple"])
    tied = list(range(50, 90))
    assert len({scores[i] for i in tied}) == 1
    head = ranking(scores)[:2].tolist()
    assert set(head) == {90, 91}
    for k in (1, 2, 3, 7, 20, 42, 100):
        passage_ids, top_scores = index.search(["apple"], k)
        assert passage_ids.tolist() == (head + tied)[:k]
        np.testing.assert_array_equal(top_scores, scores[passage_ids])


def test_search_with_many_equal_scores_matches_the_oracle():
    # Many duplicated passages create long runs of ties at every cut-off.
    rng = np.random.default_rng(3)
    templates = [["a"], ["a", "b"], ["b", "c", "c"], ["c"], ["a", "c", "d"]]
    corpus = [templates[i] for i in rng.integers(0, len(templates), size=400)]
    for variant in BM25_VARIANTS:
        index = build(corpus, variant=variant)
        for query in (["a"], ["c"], ["a", "c"], ["b", "d"]):
            scores = index.get_scores(query)
            matching = [i for i, passage in enumerate(corpus) if set(passage) & set(query)]
            for k in (1, 7, 50, 399):
                passage_ids, _ = index.search(query, k)
                expected = [i for i in ranking(scores) if i in set(matching)][:k]
                assert passage_ids.tolist() == expected


def test_search_returns_only_passages_holding_a_query_term():
    corpus = [["apple"], ["banana"], ["cherry"], ["apple", "cherry"]]
    for variant in BM25_VARIANTS:
        index = build(corpus, variant=variant)
        passage_ids, _ = index.search(["apple", "zebra"], 10)
        assert sorted(passage_ids.tolist()) == [0, 3]


def test_bm25plus_search_scores_include_the_per_term_constant():
    corpus = [["apple"], ["banana"], ["cherry"], ["apple", "cherry"]]
    index = build(corpus, variant="bm25plus")
    scores = index.get_scores(["apple"])
    # Passages without "apple" still get idf * delta, as rank-bm25 gives them.
    assert scores[1] > 0
    np.testing.assert_allclose(scores, rank_bm25.BM25Plus(corpus).get_scores(["apple"]))
    passage_ids, top_scores = index.search(["apple"], 4)
    assert passage_ids.tolist() == [0, 3]
    np.testing.assert_array_equal(top_scores, scores[[0, 3]])


def test_okapi_search_with_a_negative_idf_returns_matching_passages():
    # The floor makes idf(common) small but the passages holding it still match.
    corpus = [["common", "rare"], ["common"], ["common", "other"], ["other"], ["x"]]
    index = build(corpus, variant="okapi", epsilon=-1.0)
    scores = index.get_scores(["common"])
    assert (scores[[0, 1, 2]] < 0).all()  # a negative floor: below the non-matching zeros
    passage_ids, top_scores = index.search(["common"], 5)
    assert sorted(passage_ids.tolist()) == [0, 1, 2]
    np.testing.assert_array_equal(top_scores, scores[passage_ids])
    assert list(top_scores) == sorted(top_scores, reverse=True)


def test_search_batch_equals_search(generated):
    corpus, queries = generated
    index = build(corpus)
    batch = index.search_batch(queries[:20], 5)
    assert len(batch) == 20
    for query, (passage_ids, scores) in zip(queries[:20], batch, strict=True):
        expected_ids, expected_scores = index.search(query, 5)
        np.testing.assert_array_equal(passage_ids, expected_ids)
        np.testing.assert_array_equal(scores, expected_scores)


# -- edge cases -----------------------------------------------------------------------------


@pytest.mark.parametrize("variant", BM25_VARIANTS)
def test_empty_query_and_unknown_terms_give_zeros_and_no_results(variant):
    index = build([["apple"], ["banana"]], variant=variant)
    for query in ([], ["zebra", "yak"]):
        scores = index.get_scores(query)
        assert scores.shape == (2,)
        assert not scores.any()
        passage_ids, top_scores = index.search(query, 3)
        assert passage_ids.shape == (0,) and top_scores.shape == (0,)
        assert passage_ids.dtype == np.int64
    assert index.known_terms(["zebra", "yak"]) == []


def test_known_terms_are_distinct_and_in_query_order():
    index = build([["apple", "banana"], ["cherry"]])
    assert index.known_terms(["cherry", "zebra", "apple", "cherry"]) == ["cherry", "apple"]


def test_k_larger_than_the_corpus():
    index = build([["apple"], ["apple", "banana"], ["cherry"]])
    passage_ids, scores = index.search(["apple"], 1000)
    assert passage_ids.tolist() == [0, 1]
    assert scores[0] > scores[1]


@pytest.mark.parametrize("bad_k", [0, -1, 1.5, "3", None, True])
def test_bad_k_is_refused(bad_k):
    index = build([["apple"]])
    with pytest.raises(InvalidInputError, match="k must be a positive integer"):
        index.search(["apple"], bad_k)
    with pytest.raises(InvalidInputError, match="k must be a positive integer"):
        index.search_batch([["apple"]], bad_k)


def test_numpy_integer_k_is_accepted():
    index = build([["apple"], ["apple"]])
    assert index.search(["apple"], np.int64(1))[0].tolist() == [0]


def test_empty_corpus_is_refused():
    with pytest.raises(EmptyCorpusError, match="empty corpus"):
        BM25Index.build([])


def test_passages_without_tokens_are_allowed():
    index = build([[], ["apple"], []])
    assert index.num_passages == 3
    assert index.passage_lengths.tolist() == [0, 1, 0]
    assert index.search(["apple"], 5)[0].tolist() == [1]


@pytest.mark.parametrize("variant", BM25_VARIANTS)
def test_a_corpus_of_only_empty_passages(variant):
    index = build([[], []], variant=variant)
    assert index.vocabulary_size == 0
    assert not index.get_scores(["apple"]).any()
    assert index.search(["apple"], 3)[0].shape == (0,)


def test_malformed_corpus_is_refused():
    with pytest.raises(InvalidInputError, match=r"passage_tokens\[1\]\[1\]"):
        BM25Index.build([["fine"], ["ok", 3]])


def test_malformed_queries_are_refused():
    index = build([["apple"]])
    with pytest.raises(InvalidInputError, match=r"query_tokens .*not a single string"):
        index.get_scores("apple")
    with pytest.raises(InvalidInputError, match=r"query_tokens .*not a single string"):
        index.known_terms("apple")
    with pytest.raises(InvalidInputError, match=r"query_tokens\[1\]"):
        index.search(["apple", 3], 1)
    with pytest.raises(InvalidInputError, match="queries"):
        index.search_batch("apple", 1)


def test_properties():
    index = build([["apple", "banana", "apple"], ["banana"]], variant="bm25plus")
    assert index.num_passages == 2
    assert index.vocabulary_size == 2
    assert index.num_postings == 3
    assert index.settings == BM25Settings(variant="bm25plus")
    assert index.average_passage_length == 2.0
    assert index.vocabulary == ["apple", "banana"]
    assert index.indptr.tolist() == [0, 1, 3]
    assert index.posting_passage_ids.tolist() == [0, 0, 1]
    assert index.posting_tfs.tolist() == [2, 1, 1]
    assert not index.passage_lengths.flags.writeable
    assert "bm25plus" in repr(index)
