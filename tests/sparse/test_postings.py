"""Tests of hybridsearch.sparse.postings.Postings (the CSR inverted index)."""

from __future__ import annotations

import numpy as np
import pytest

from hybridsearch.errors import EmptyCorpusError, InvalidInputError
from hybridsearch.sparse.postings import ARRAY_NAMES, Postings


def test_arrays_are_csr_by_term():
    postings = Postings.from_tokens([["apple", "banana", "apple"], ["banana"], []])
    assert postings.vocabulary == ["apple", "banana"]
    assert postings.indptr.tolist() == [0, 1, 3]
    assert postings.posting_passage_ids.tolist() == [0, 0, 1]
    assert postings.posting_tfs.tolist() == [2, 1, 1]
    assert postings.passage_lengths.tolist() == [3, 1, 0]
    assert postings.num_passages == 3
    assert postings.num_postings == 3
    assert list(postings.arrays()) == list(ARRAY_NAMES)


def test_postings_agree_with_counting_by_hand(generated):
    corpus, _ = generated
    postings = Postings.from_tokens(corpus)
    indptr = postings.indptr
    for term_id in (0, 1, 17, len(postings.vocabulary) - 1):
        term = postings.vocabulary[term_id]
        span = slice(indptr[term_id], indptr[term_id + 1])
        expected = {i: passage.count(term) for i, passage in enumerate(corpus) if term in passage}
        ids = postings.posting_passage_ids[span].tolist()
        assert ids == sorted(expected)
        assert postings.posting_tfs[span].tolist() == [expected[i] for i in ids]


def test_empty_corpus_is_refused():
    with pytest.raises(EmptyCorpusError, match="empty corpus"):
        Postings.from_tokens([])


def test_a_corpus_of_only_empty_passages():
    postings = Postings.from_tokens([[], []])
    assert postings.vocabulary == []
    assert postings.indptr.tolist() == [0]
    assert postings.num_postings == 0


@pytest.mark.parametrize(
    ("corpus", "message"),
    [
        ("a string", "sequence of passages"),
        (["a string passage"], r"passage_tokens\[0\]"),
        ([["fine"], 3], r"passage_tokens\[1\]"),
        ([["fine"], ["ok", 3]], r"passage_tokens\[1\]\[1\]"),
        ([["fine"], [["unhashable"]]], r"passage_tokens\[1\]\[0\]"),
    ],
)
def test_malformed_corpus_is_refused(corpus, message):
    with pytest.raises(InvalidInputError, match=message):
        Postings.from_tokens(corpus)


def test_passage_id_dtype_is_compact():
    postings = Postings.from_tokens([["a"], ["a", "b"]])
    assert postings.posting_passage_ids.dtype == np.int32
    assert postings.posting_tfs.dtype == np.int32
    assert postings.indptr.dtype == np.int64
