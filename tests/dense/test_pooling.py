"""Tests of hybridsearch.dense.pooling against sentence-transformers' Pooling as the oracle."""

from __future__ import annotations

import json

import numpy as np
import pytest

from hybridsearch.dense.encoder import Encoder
from hybridsearch.dense.pooling import POOLING_MODES, pool
from hybridsearch.errors import InvalidInputError
from tests.dense.model_copies import MODEL_FOLDER, copy_model, cosines, varied_texts

torch = pytest.importorskip("torch")


def padded_batch(lengths: list[int], tokens: int, *, left: bool, seed: int = 0):
    """Random float32 (batch, tokens, 8) embeddings and a mask with ``lengths`` real tokens.

    The same real tokens sit at the start (right padding) or at the end (left padding); the
    padding positions hold large values, so any leak into the pooled vector shows.
    """
    generator = torch.Generator().manual_seed(seed)
    real = torch.randn(len(lengths), tokens, 8, generator=generator)
    embeddings = torch.full((len(lengths), tokens, 8), 1000.0)
    mask = torch.zeros(len(lengths), tokens, dtype=torch.int64)
    for row, length in enumerate(lengths):
        span = slice(tokens - length, tokens) if left else slice(0, length)
        embeddings[row, span] = real[row, :length]
        mask[row, span] = 1
    return embeddings, mask


@pytest.mark.parametrize("pooling", POOLING_MODES)
def test_pool_matches_sentence_transformers_pooling(pooling):
    modules = pytest.importorskip("sentence_transformers.sentence_transformer.modules")
    embeddings, mask = padded_batch([5, 1, 3, 5], tokens=5, left=False)
    oracle = modules.Pooling(8, pooling_mode=pooling)
    features = {"token_embeddings": embeddings.clone(), "attention_mask": mask}
    expected = oracle(features)["sentence_embedding"]
    torch.testing.assert_close(pool(embeddings, mask, pooling), expected)


@pytest.mark.parametrize("pooling", POOLING_MODES)
def test_left_padding_pools_like_right_padding(pooling):
    right = pool(*padded_batch([4, 1, 2], tokens=6, left=False), pooling)
    left = pool(*padded_batch([4, 1, 2], tokens=6, left=True), pooling)
    torch.testing.assert_close(left, right)
    assert right.abs().max() < 100  # no padding value leaked in


def test_unknown_pooling_refused():
    embeddings, mask = padded_batch([2], tokens=2, left=False)
    with pytest.raises(InvalidInputError, match="pooling 'weightedmean'"):
        pool(embeddings, mask, "weightedmean")


@pytest.mark.parametrize(
    ("pooling_config", "expected_pooling", "normalize"),
    [
        ({"word_embedding_dimension": 384, "pooling_mode_cls_token": True}, "cls", True),
        ({"embedding_dimension": 384, "pooling_mode": "max"}, "max", False),
        ({"embedding_dimension": 384, "pooling_mode": "lasttoken"}, "lasttoken", True),
    ],
)
def test_other_pooling_modes_match_sentence_transformers(
    tmp_path, pooling_config, expected_pooling, normalize
):
    sentence_transformers = pytest.importorskip("sentence_transformers")
    modules = json.loads((MODEL_FOLDER / "modules.json").read_text())
    if not normalize:
        modules = [module for module in modules if not module["type"].endswith("Normalize")]
    folder = copy_model(
        tmp_path / "model",
        replace={"1_Pooling/config.json": pooling_config, "modules.json": modules},
    )
    encoder = Encoder(folder, bf16=False)
    assert encoder.identity.pooling == expected_pooling
    assert encoder.identity.normalize is normalize
    sample = varied_texts(24, seed=3)
    sample = [text for text in sample if len(text.split()) < 200]
    ours = encoder.encode(sample)
    oracle = sentence_transformers.SentenceTransformer(str(folder), device="cpu")
    expected = oracle.encode(sample)
    assert cosines(ours, expected).min() >= 0.9999
    norms = np.linalg.norm(ours, axis=1)
    if normalize:
        np.testing.assert_allclose(norms, 1.0, atol=1e-5)
    else:
        np.testing.assert_allclose(norms, np.linalg.norm(expected, axis=1), rtol=1e-4)
        assert not np.allclose(norms, 1.0)
