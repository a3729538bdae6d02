"""Tests of hybridsearch.sparse.bm25.BM25Index.

rank-bm25 is the independent oracle for okapi, bm25l and bm25plus; the lucene variant is checked
against its formula written out by hand.
"""

from __future__ import annotations

import json
import math
import re

import numpy as np
import pytest
import rank_bm25

from hybridsearch.sparse.bm25 import BM25_FORMAT_VERSION, BM25_VARIANTS, BM25Index
from hybridsearch.errors import (
    EmptyCorpusError,
    IndexFormatError,
    IndexVersionError,
    InvalidInputError,
)

ORACLES = {
    "okapi": rank_bm25.BM25Okapi,
    "bm25l": rank_bm25.BM25L,
    "bm25plus": rank_bm25.BM25Plus,
}


def make_corpus(
    num_passages: int = 2000, num_queries: int = 200, seed: int = 7
) -> tuple[list[list[str]], list[list[str]]]:
    """A Zipf-ish random corpus and queries with repeated and unknown terms."""
    rng = np.random.default_rng(seed)
    vocabulary_size = 3000
    probabilities = 1.0 / np.arange(1, vocabulary_size + 1) ** 1.1
    probabilities /= probabilities.sum()
    words = [f"w{rank}" for rank in range(vocabulary_size)]

    def draw(count: int) -> list[str]:
        return [words[i] for i in rng.choice(vocabulary_size, size=count, p=probabilities)]

    # Lengths from 0 (empty passages occur) to 80.
    corpus = [draw(int(rng.integers(0, 81))) for _ in range(num_passages)]
    queries = []
    for query_number in range(num_queries):
        query = draw(int(rng.integers(1, 8)))
        if query_number % 3 == 0:
            query.append(query[0])  # a repeated term
        if query_number % 4 == 0:
            query.append(f"unknown{query_number}")  # a term absent from the vocabulary
        queries.append(query)
    return corpus, queries


@pytest.fixture(scope="module")
def generated() -> tuple[list[list[str]], list[list[str]]]:
    return make_corpus()


def ranking(scores: np.ndarray) -> np.ndarray:
    """Positions by descending score, equal scores by lower position (an argsort oracle)."""
    return np.lexsort((np.arange(scores.shape[0]), -scores))


# -- scoring parity ---------------------------------------------------------------------


@pytest.mark.parametrize("variant", ["okapi", "bm25l", "bm25plus"])
def test_get_scores_equals_rank_bm25(generated, variant):
    corpus, queries = generated
    assert sum(1 for passage in corpus if not passage) > 0  # empty passages are covered
    index = BM25Index.build(corpus, variant=variant)
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
    index = BM25Index.build(corpus, variant=variant, k1=0.9, b=0.4, **extra)
    oracle = ORACLES[variant](corpus, k1=0.9, b=0.4, **extra)
    for query in queries:
        np.testing.assert_allclose(
            index.get_scores(query), oracle.get_scores(query), rtol=1e-6, atol=1e-12
        )


def test_okapi_epsilon_floor_on_a_tiny_corpus():
    # "common" is in 3 of 4 passages: its raw idf is negative and rank-bm25 floors it.
    corpus = [["common", "rare"], ["common"], ["common", "other"], ["other"]]
    index = BM25Index.build(corpus, variant="okapi")
    oracle = rank_bm25.BM25Okapi(corpus)
    for query in (["common"], ["rare", "common"], ["other"], ["common", "common"]):
        np.testing.assert_allclose(index.get_scores(query), oracle.get_scores(query), rtol=1e-6)


def test_lucene_matches_the_formula_by_hand():
    corpus = [["apple", "banana", "apple"], ["banana"], ["cherry", "apple", "date", "date"], []]
    index = BM25Index.build(corpus, k1=1.2, b=0.75)
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
    index = BM25Index.build(corpus)
    single = index.get_scores(["w5"])
    np.testing.assert_allclose(index.get_scores(["w5", "w5", "w5"]), 3 * single, rtol=1e-12)


# -- search -------------------------------------------------------------------------------


@pytest.mark.parametrize("variant", BM25_VARIANTS)
@pytest.mark.parametrize("k", [1, 10, 100])
def test_search_is_the_head_of_get_scores_ranking(generated, variant, k):
    corpus, queries = generated
    index = BM25Index.build(corpus, variant=variant)
    for query in queries[:100]:
        scores = index.get_scores(query)
        positions, top_scores = index.search(query, k)
        matching = {
            position for position, passage in enumerate(corpus) if set(passage) & set(query)
        }
        expected = [position for position in ranking(scores) if position in matching][:k]
        assert positions.dtype == np.int64
        assert positions.tolist() == expected
        np.testing.assert_array_equal(top_scores, scores[positions])
        if variant != "okapi":  # no epsilon floor: matching passages rank first anyway
            assert positions.tolist() == ranking(scores)[: len(expected)].tolist()


def test_ties_are_broken_by_lower_position():
    # Passages 1, 3, 4 and 6 are identical, so they tie; k cuts through the tie.
    corpus = [["x", "y"], ["a", "b"], ["b", "c"], ["a", "b"], ["a", "b"], ["a"], ["a", "b"]]
    index = BM25Index.build(corpus)
    positions, scores = index.search(["a", "b"], 3)
    assert positions.tolist() == [1, 3, 4]
    assert scores[0] == scores[1] == scores[2]
    positions, _ = index.search(["a", "b"], 10)
    # "a" and "b" have equal document frequencies, so the shorter passage 5 beats passage 2.
    assert positions.tolist() == [1, 3, 4, 6, 5, 2]
    assert positions.tolist() == ranking(index.get_scores(["a", "b"]))[:6].tolist()


def test_search_with_many_equal_scores_matches_the_oracle():
    # Many duplicated passages create long runs of ties at every cut-off.
    rng = np.random.default_rng(3)
    templates = [["a"], ["a", "b"], ["b", "c", "c"], ["c"], ["a", "c", "d"]]
    corpus = [templates[i] for i in rng.integers(0, len(templates), size=400)]
    index = BM25Index.build(corpus)
    for query in (["a"], ["c"], ["a", "c"], ["b", "d"]):
        scores = index.get_scores(query)
        for k in (1, 7, 50, 399):
            positions, _ = index.search(query, k)
            matching = np.flatnonzero(scores > 0)
            assert positions.tolist() == ranking(scores)[: min(k, matching.shape[0])].tolist()


def test_search_returns_only_passages_holding_a_query_term():
    corpus = [["apple"], ["banana"], ["cherry"], ["apple", "cherry"]]
    for variant in BM25_VARIANTS:
        index = BM25Index.build(corpus, variant=variant)
        positions, _ = index.search(["apple", "zebra"], 10)
        assert sorted(positions.tolist()) == [0, 3]


def test_bm25plus_search_scores_include_the_per_term_constant():
    corpus = [["apple"], ["banana"], ["cherry"], ["apple", "cherry"]]
    index = BM25Index.build(corpus, variant="bm25plus")
    scores = index.get_scores(["apple"])
    # Passages without "apple" still get idf * delta, as rank-bm25 gives them.
    assert scores[1] > 0
    np.testing.assert_allclose(scores, rank_bm25.BM25Plus(corpus).get_scores(["apple"]))
    positions, top_scores = index.search(["apple"], 4)
    assert positions.tolist() == [0, 3]
    np.testing.assert_array_equal(top_scores, scores[[0, 3]])


def test_okapi_search_with_a_negative_idf_returns_matching_passages():
    # The floor makes idf(common) small but the passages holding it still match.
    corpus = [["common", "rare"], ["common"], ["common", "other"], ["other"], ["x"]]
    index = BM25Index.build(corpus, variant="okapi", epsilon=-1.0)
    scores = index.get_scores(["common"])
    assert (scores[[0, 1, 2]] < 0).all()  # a negative floor: below the non-matching zeros
    positions, top_scores = index.search(["common"], 5)
    assert sorted(positions.tolist()) == [0, 1, 2]
    np.testing.assert_array_equal(top_scores, scores[positions])
    assert list(top_scores) == sorted(top_scores, reverse=True)


def test_search_batch_equals_search(generated):
    corpus, queries = generated
    index = BM25Index.build(corpus)
    batch = index.search_batch(queries[:20], 5)
    assert len(batch) == 20
    for query, (positions, scores) in zip(queries[:20], batch, strict=True):
        expected_positions, expected_scores = index.search(query, 5)
        np.testing.assert_array_equal(positions, expected_positions)
        np.testing.assert_array_equal(scores, expected_scores)


# -- edge cases -----------------------------------------------------------------------------


@pytest.mark.parametrize("variant", BM25_VARIANTS)
def test_empty_query_and_unknown_terms_give_zeros_and_no_results(variant):
    index = BM25Index.build([["apple"], ["banana"]], variant=variant)
    for query in ([], ["zebra", "yak"]):
        scores = index.get_scores(query)
        assert scores.shape == (2,)
        assert not scores.any()
        positions, top_scores = index.search(query, 3)
        assert positions.shape == (0,) and top_scores.shape == (0,)
        assert positions.dtype == np.int64
    assert index.known_terms(["zebra", "yak"]) == []


def test_known_terms_are_distinct_and_in_query_order():
    index = BM25Index.build([["apple", "banana"], ["cherry"]])
    assert index.known_terms(["cherry", "zebra", "apple", "cherry"]) == ["cherry", "apple"]


def test_k_larger_than_the_corpus():
    index = BM25Index.build([["apple"], ["apple", "banana"], ["cherry"]])
    positions, scores = index.search(["apple"], 1000)
    assert positions.tolist() == [0, 1]
    assert scores[0] > scores[1]


@pytest.mark.parametrize("bad_k", [0, -1, 1.5, "3", None, True])
def test_bad_k_is_refused(bad_k):
    index = BM25Index.build([["apple"]])
    with pytest.raises(InvalidInputError, match="k must be"):
        index.search(["apple"], bad_k)
    with pytest.raises(InvalidInputError, match="k must be"):
        index.search_batch([["apple"]], bad_k)


def test_numpy_integer_k_is_accepted():
    index = BM25Index.build([["apple"], ["apple"]])
    assert index.search(["apple"], np.int64(1))[0].tolist() == [0]


def test_empty_corpus_is_refused():
    with pytest.raises(EmptyCorpusError, match="empty corpus"):
        BM25Index.build([])


def test_passages_without_tokens_are_allowed():
    index = BM25Index.build([[], ["apple"], []])
    assert index.num_passages == 3
    assert index.doc_lengths.tolist() == [0, 1, 0]
    assert index.search(["apple"], 5)[0].tolist() == [1]


@pytest.mark.parametrize("variant", BM25_VARIANTS)
def test_a_corpus_of_only_empty_passages(variant):
    index = BM25Index.build([[], []], variant=variant)
    assert index.vocabulary_size == 0
    assert not index.get_scores(["apple"]).any()
    assert index.search(["apple"], 3)[0].shape == (0,)


@pytest.mark.parametrize(
    ("corpus", "message"),
    [
        ("a string", "sequence of passages"),
        (["a string passage"], r"corpus_tokens\[0\]"),
        ([["fine"], 3], r"corpus_tokens\[1\]"),
        ([["fine"], ["ok", 3]], r"corpus_tokens\[1\]\[1\]"),
        ([["fine"], [["unhashable"]]], r"corpus_tokens\[1\]\[0\]"),
    ],
)
def test_malformed_corpus_is_refused(corpus, message):
    with pytest.raises(InvalidInputError, match=message):
        BM25Index.build(corpus)


def test_malformed_queries_are_refused():
    index = BM25Index.build([["apple"]])
    with pytest.raises(InvalidInputError, match="single string"):
        index.get_scores("apple")
    with pytest.raises(InvalidInputError, match=r"query_tokens\[1\]"):
        index.search(["apple", 3], 1)
    with pytest.raises(InvalidInputError, match="queries"):
        index.search_batch("apple", 1)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"variant": "bm42"}, "unknown BM25 variant"),
        ({"variant": "lucene", "delta": 0.5}, "delta"),
        ({"k1": -1.0}, "k1"),
        ({"b": 1.5}, "b must be"),
        ({"k1": float("nan")}, "finite"),
        ({"variant": "bm25plus", "delta": -1.0}, "delta"),
        ({"k1": "1.2"}, "k1"),
    ],
)
def test_bad_variant_or_parameters_are_refused(kwargs, message):
    with pytest.raises(InvalidInputError, match=message):
        BM25Index.build([["apple"]], **kwargs)


def test_properties():
    index = BM25Index.build([["apple", "banana", "apple"], ["banana"]], variant="bm25plus")
    assert index.num_passages == 2
    assert index.vocabulary_size == 2
    assert index.num_postings == 3
    assert index.variant == "bm25plus"
    assert index.params == {"k1": 1.5, "b": 0.75, "delta": 1.0}
    assert index.avgdl == 2.0
    assert index.vocabulary == ["apple", "banana"]
    assert index.indptr.tolist() == [0, 1, 3]
    assert index.posting_doc_ids.tolist() == [0, 0, 1]
    assert index.posting_tfs.tolist() == [2, 1, 1]
    assert not index.doc_lengths.flags.writeable
    assert BM25Index.build([["a"]], variant="bm25l").params == {"k1": 1.5, "b": 0.75, "delta": 0.5}
    assert BM25Index.build([["a"]], variant="okapi").params == {
        "k1": 1.5,
        "b": 0.75,
        "epsilon": 0.25,
    }


# -- persistence ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def small_index_and_queries(generated) -> tuple[BM25Index, list[list[str]]]:
    corpus, queries = generated
    return BM25Index.build(corpus[:500], variant="bm25plus", k1=1.2, b=0.6), queries[:40]


def test_save_load_round_trip_gives_identical_scores(tmp_path, small_index_and_queries):
    index, queries = small_index_and_queries
    written = index.save(tmp_path / "bm25")
    assert sorted(path.name for path in written) == [
        "bm25.json",
        "bm25_doc_lengths.npy",
        "bm25_indptr.npy",
        "bm25_posting_doc_ids.npy",
        "bm25_posting_tfs.npy",
    ]
    assert all(path.is_file() for path in written)
    assert sorted(path.name for path in (tmp_path / "bm25").iterdir()) == sorted(
        path.name for path in written
    )  # no temporary files left behind
    for mmap in (True, False):
        loaded = BM25Index.load(tmp_path / "bm25", mmap=mmap)
        assert loaded.variant == index.variant
        assert loaded.params == index.params
        assert loaded.vocabulary == index.vocabulary
        for array in (loaded.indptr, loaded.posting_doc_ids, loaded.posting_tfs):
            assert isinstance(array, np.memmap) is mmap
        assert isinstance(loaded.doc_lengths, np.memmap) is mmap
        for query in queries:
            np.testing.assert_array_equal(loaded.get_scores(query), index.get_scores(query))
            for expected, got in zip(
                index.search(query, 10), loaded.search(query, 10), strict=True
            ):
                np.testing.assert_array_equal(got, expected)


def test_metadata_file_contents(tmp_path):
    BM25Index.build([["apple", "apple"], ["banana"]], variant="okapi").save(tmp_path)
    metadata = json.loads((tmp_path / "bm25.json").read_text(encoding="utf-8"))
    assert metadata["format_version"] == BM25_FORMAT_VERSION
    assert metadata["variant"] == "okapi"
    assert metadata["params"] == {"k1": 1.5, "b": 0.75, "epsilon": 0.25}
    assert metadata["vocabulary"] == ["apple", "banana"]
    assert metadata["counts"] == {
        "num_passages": 2,
        "vocabulary_size": 2,
        "num_postings": 2,
        "total_tokens": 3,
    }


def test_unusual_terms_survive_a_round_trip(tmp_path):
    terms = ["東京", "привет", "😀", 'a"b\\c', "\ud800", "", " "]
    index = BM25Index.build([terms, terms[:2]])
    index.save(tmp_path)
    loaded = BM25Index.load(tmp_path)
    assert loaded.vocabulary == terms
    np.testing.assert_array_equal(loaded.get_scores(["\ud800"]), index.get_scores(["\ud800"]))


def test_saving_over_the_memory_mapped_files_is_safe(tmp_path, small_index_and_queries):
    index, queries = small_index_and_queries
    index.save(tmp_path)
    loaded = BM25Index.load(tmp_path, mmap=True)
    loaded.save(tmp_path)  # the old mapped files are replaced, not truncated under the map
    assert loaded.get_scores(queries[0]).tolist() == index.get_scores(queries[0]).tolist()
    reloaded = BM25Index.load(tmp_path)
    np.testing.assert_array_equal(reloaded.get_scores(queries[1]), index.get_scores(queries[1]))


def test_wrong_format_version_is_refused(tmp_path):
    BM25Index.build([["apple"]]).save(tmp_path)
    metadata_path = tmp_path / "bm25.json"
    metadata = json.loads(metadata_path.read_text(encoding="utf-8"))
    metadata["format_version"] = BM25_FORMAT_VERSION + 1
    metadata_path.write_text(json.dumps(metadata), encoding="utf-8")
    with pytest.raises(
        IndexVersionError, match=r"format_version is 2; this release reads version 1"
    ):
        BM25Index.load(tmp_path)


@pytest.mark.parametrize(
    "file_name",
    [
        "bm25.json",
        "bm25_indptr.npy",
        "bm25_posting_doc_ids.npy",
        "bm25_posting_tfs.npy",
        "bm25_doc_lengths.npy",
    ],
)
def test_missing_file_is_named(tmp_path, file_name):
    BM25Index.build([["apple"]]).save(tmp_path)
    (tmp_path / file_name).unlink()
    with pytest.raises(IndexFormatError, match=re.escape(file_name)):
        BM25Index.load(tmp_path)


def test_missing_directory_is_an_index_format_error(tmp_path):
    with pytest.raises(IndexFormatError, match=re.escape("bm25.json")):
        BM25Index.load(tmp_path / "nowhere")


def test_corrupt_json_is_an_index_format_error(tmp_path):
    BM25Index.build([["apple"]]).save(tmp_path)
    (tmp_path / "bm25.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(IndexFormatError, match="not readable JSON"):
        BM25Index.load(tmp_path)


def test_corrupt_array_is_an_index_format_error(tmp_path):
    BM25Index.build([["apple"], ["banana"]]).save(tmp_path)
    (tmp_path / "bm25_posting_tfs.npy").write_bytes(b"garbage")
    with pytest.raises(IndexFormatError, match=re.escape("bm25_posting_tfs.npy")):
        BM25Index.load(tmp_path)


def test_inconsistent_arrays_are_an_index_format_error(tmp_path):
    BM25Index.build([["apple"], ["banana"]]).save(tmp_path)
    np.save(tmp_path / "bm25_posting_doc_ids.npy", np.array([0, 5], dtype=np.int32))
    with pytest.raises(IndexFormatError, match=re.escape("bm25_posting_doc_ids.npy")):
        BM25Index.load(tmp_path)
    np.save(tmp_path / "bm25_posting_doc_ids.npy", np.array([0], dtype=np.int32))
    with pytest.raises(IndexFormatError, match=re.escape("bm25_indptr.npy")):
        BM25Index.load(tmp_path)
    np.save(tmp_path / "bm25_posting_doc_ids.npy", np.array([0.0, 1.0]))
    with pytest.raises(IndexFormatError, match="integer"):
        BM25Index.load(tmp_path)


def test_pickled_object_arrays_are_refused(tmp_path):
    BM25Index.build([["apple"], ["banana"]]).save(tmp_path)
    np.save(tmp_path / "bm25_posting_tfs.npy", np.array([1, "x"], dtype=object), allow_pickle=True)
    with pytest.raises(IndexFormatError, match=re.escape("bm25_posting_tfs.npy")):
        BM25Index.load(tmp_path, mmap=False)
