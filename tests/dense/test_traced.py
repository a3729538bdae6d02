"""Tests of hybridsearch.dense.traced: query passes through a checked TorchScript trace."""

from __future__ import annotations

import random
from types import SimpleNamespace

import numpy as np
import pytest

from hybridsearch.dense.query_batches import BUCKET_TOKENS
from hybridsearch.dense.traced import TRACED_QUERIES_VARIABLE, trace_forward

WORDS = [
    "protein", "cell", "gene", "tumour", "expression", "mouse", "receptor", "signalling",
    "growth", "acid",
]


def queries_of_every_bucket(encoder, count=60, seed=4):
    """Random queries of 1-60 words, plus ones that fill their bucket exactly (no padding,
    so no attention mask) and one cut at the model's maximum length."""
    rng = random.Random(seed)
    queries = [" ".join(rng.choices(WORDS, k=rng.randint(1, 60))) for _ in range(count)]
    for words in range(1, 40):
        query = " ".join(WORDS[:1] * words)
        if len(encoder.tokenizer(query)["input_ids"]) % BUCKET_TOKENS == 0:
            queries.append(query)
    queries.append(" ".join(WORDS * 40))  # over 256 tokens
    return queries


def test_the_trace_gives_the_eager_models_vectors_bit_for_bit(encoder_fp32):
    traced = encoder_fp32._traced_query_forward()
    assert traced is not None  # the bundled model traces and passes the check
    queries = queries_of_every_bucket(encoder_fp32)
    unpadded = [q for q in queries if len(encoder_fp32.tokenizer(q)["input_ids"]) % 8 == 0]
    assert len(unpadded) >= 3
    with pytest.warns(match="truncated"):
        through_trace = encoder_fp32.encode_queries(queries)
    encoder_fp32._query_forward = None  # the eager model
    try:
        with pytest.warns(match="truncated"):
            eager = encoder_fp32.encode_queries(queries)
        lone_eager = np.stack([encoder_fp32.encode_queries([q])[0] for q in queries[:8]])
    finally:
        encoder_fp32._query_forward = traced
    np.testing.assert_array_equal(through_trace, eager)
    np.testing.assert_array_equal(through_trace[:8], lone_eager)


def test_switched_off_by_the_variable(encoder_fp32):
    model, tokenizer = encoder_fp32._model, encoder_fp32.tokenizer
    assert trace_forward(model, tokenizer, 256, {TRACED_QUERIES_VARIABLE: "0"}) is None


def test_a_trace_that_fails_leaves_the_eager_model(encoder_fp32, monkeypatch):
    import torch

    def refuse(*args, **kwargs):
        raise RuntimeError("tracing is gone from this torch")

    monkeypatch.setattr(torch.jit, "trace", refuse)
    assert trace_forward(encoder_fp32._model, encoder_fp32.tokenizer, 256, {}) is None


def test_a_trace_that_baked_in_one_branch_is_not_used(encoder_fp32):
    # A model deciding from the data (no padding: another computation), as BERT does with its
    # attention mask: the trace, made on padded inputs, differs on unpadded ones.
    import torch

    class Branchy(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.embedding = torch.nn.Embedding(40_000, 4)

        def forward(self, input_ids, attention_mask, token_type_ids=None):
            hidden = self.embedding(input_ids)
            if bool(attention_mask.all()):
                hidden = hidden * 2
            return SimpleNamespace(last_hidden_state=hidden)

    model = Branchy().eval()
    assert trace_forward(model, encoder_fp32.tokenizer, 64, {}) is None


def test_tracing_prints_nothing():
    # The tracer reads every attribute of the model; transformers logs a warning when its
    # loss_function is read, which a notebook showed above the first search's results.
    import subprocess
    import sys

    script = (
        "from hybridsearch.dense.encoder import Encoder\n"
        "encoder = Encoder(bf16=False)\n"
        "encoder.encode_queries(['green tea'])\n"
        "assert encoder._query_forward is not None\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == "" and done.stderr == "", done.stderr


def test_the_trace_ends_with_the_pooling_it_is_given(encoder_fp32):
    # Query passes trace pooling and normalisation into the same call (one GIL take per
    # pass): the traced vectors are the eager model's, pooled eagerly, to the bit.
    import torch

    model, tokenizer = encoder_fp32._model, encoder_fp32.tokenizer
    finish = encoder_fp32._sentence_vectors
    traced = trace_forward(model, tokenizer, 256, {}, finish=finish)
    assert traced is not None
    batch = tokenizer(
        ["green tea", "a longer question about black tea and its caffeine"],
        padding="max_length",
        max_length=24,
        return_tensors="pt",
    )
    with torch.inference_mode():
        vectors = traced(batch)
        eager = finish(model(**batch).last_hidden_state, batch["attention_mask"])
    assert vectors.shape == (2, encoder_fp32.dimension)
    assert torch.equal(vectors, eager)
    np.testing.assert_allclose(np.linalg.norm(vectors.numpy(), axis=1), 1.0, rtol=1e-6)


def test_a_finish_needs_the_attention_mask(encoder_fp32):
    class NoMask:
        """The bundled tokenizer, without the attention mask in what it returns."""

        def __call__(self, *args, **kwargs):
            batch = encoder_fp32.tokenizer(*args, **kwargs)
            del batch["attention_mask"]
            return batch

    finish = encoder_fp32._sentence_vectors
    assert trace_forward(encoder_fp32._model, NoMask(), 256, {}, finish=finish) is None
