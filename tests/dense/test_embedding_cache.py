"""Tests of hybridsearch.dense.embedding_cache: reuse vectors, never serve a stale one."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from hybridsearch.dense.embedding_cache import EmbeddingCache, encode_passages_cached
from hybridsearch.dense.identity import ModelIdentity
from hybridsearch.errors import InvalidInputError

IDENTITY = ModelIdentity(
    name="x",
    weights_digest="ab" * 32,
    dimension=4,
    pooling="mean",
    normalize=True,
    max_seq_length=128,
    query_prompt="q: ",
    passage_prompt="",
)


def text_vectors(texts: list[str]) -> np.ndarray:
    """The stand-in encoder's vectors: a function of each text alone."""
    return np.array(
        [[len(text), text.count("a"), sum(map(ord, text)) % 97, text.count("e")] for text in texts],
        dtype=np.float32,
    ).reshape(len(texts), 4)


class CountingEncoder:
    """A stand-in encoder: a vector derived from each text, and a log of what it encoded."""

    def __init__(self, identity: ModelIdentity = IDENTITY) -> None:
        self.identity = identity
        self.calls: list[list[str]] = []

    def encode_passages(self, texts):
        texts = list(texts)
        self.calls.append(texts)
        return text_vectors(texts)


def test_without_cache_dir_everything_is_encoded():
    encoder = CountingEncoder()
    texts = ["alpha", "beta"]
    vectors = encode_passages_cached(encoder, texts, None)
    np.testing.assert_array_equal(vectors, text_vectors(texts))
    encode_passages_cached(encoder, texts, None)
    assert encoder.calls == [texts, texts]


def test_second_call_encodes_nothing(tmp_path):
    encoder = CountingEncoder()
    texts = ["alpha", "beta", "gamma"]
    first = encode_passages_cached(encoder, texts, tmp_path)
    assert encoder.calls == [texts]
    second = encode_passages_cached(encoder, texts, tmp_path)
    assert encoder.calls == [texts]  # all served from the cache
    np.testing.assert_array_equal(first, text_vectors(texts))
    np.testing.assert_array_equal(second, first)
    assert second.dtype == np.float32 and second.shape == (3, 4)
    # Any order and any subset is served too.
    reordered = encode_passages_cached(encoder, texts[::-1], tmp_path)
    np.testing.assert_array_equal(reordered, first[::-1])
    assert len(encoder.calls) == 1


def test_only_changed_texts_are_reencoded(tmp_path):
    encoder = CountingEncoder()
    first = encode_passages_cached(encoder, ["alpha", "beta", "gamma"], tmp_path)
    changed = encode_passages_cached(encoder, ["alpha", "beta!", "gamma"], tmp_path)
    assert encoder.calls[1:] == [["beta!"]]
    np.testing.assert_array_equal(changed[[0, 2]], first[[0, 2]])
    # The new text's vector is the one the encoder gave for it, at its own row.
    np.testing.assert_array_equal(changed, text_vectors(["alpha", "beta!", "gamma"]))
    encode_passages_cached(encoder, ["beta!", "beta"], tmp_path)
    assert len(encoder.calls) == 2  # both versions are cached now


def test_another_model_does_not_share_vectors(tmp_path):
    encoder = CountingEncoder()
    encode_passages_cached(encoder, ["alpha"], tmp_path)
    renamed = CountingEncoder(dataclasses.replace(IDENTITY, name="a local copy"))
    encode_passages_cached(renamed, ["alpha"], tmp_path)
    assert renamed.calls == []  # the name is not part of the vector space
    prompted = CountingEncoder(dataclasses.replace(IDENTITY, passage_prompt="passage: "))
    encode_passages_cached(prompted, ["alpha"], tmp_path)
    assert prompted.calls == [["alpha"]]


def test_bare_string_refused(tmp_path):
    with pytest.raises(InvalidInputError, match="not a single string"):
        encode_passages_cached(CountingEncoder(), "alpha", tmp_path)


def test_cache_key_is_stable(tmp_path):
    # Existing caches (benchmarks/cache) are found by this key: a change would orphan them.
    assert EmbeddingCache(tmp_path, IDENTITY).directory == tmp_path / "842446233776e3900a8f"


def test_damaged_cache_is_started_afresh(tmp_path):
    encoder = CountingEncoder()
    encode_passages_cached(encoder, ["alpha", "beta"], tmp_path)
    cache = EmbeddingCache(tmp_path, IDENTITY)
    np.save(cache.directory / "vectors.npy", np.zeros((1, 4), np.float32))
    vectors = encode_passages_cached(encoder, ["alpha", "beta"], tmp_path)
    assert encoder.calls[-1] == ["alpha", "beta"]
    np.testing.assert_array_equal(vectors, text_vectors(["alpha", "beta"]))
