"""Tests of hybridsearch.dense.packed: one pass over queries of several buckets gives each
query its lone vector, and a packed forward that cannot promise that is not used."""

from __future__ import annotations

import numpy as np
import torch

from hybridsearch.dense.packed import PackedPass, packed_forward

QUERIES = {
    8: ["green tea", "cells", "a short query"],
    16: ["how does caffeine in green tea change sleep"],
    24: ["what do the mitochondria of a muscle cell do when it is deprived of oxygen"],
}


def _groups(encoder, lengths):
    prompt = encoder.query_prompt
    return [
        encoder._tokenize([prompt + text for text in QUERIES[length]], length)
        for length in lengths
    ]


def test_a_packed_pass_gives_each_bucket_the_rows_of_its_own_pass(encoder_fp32):
    packed = encoder_fp32._packed_query_forward()
    traced = encoder_fp32._traced_query_forward()
    assert packed is not None and traced is not None
    for lengths in ((8, 16, 24), (24, 8), (16,)):
        groups = _groups(encoder_fp32, lengths)
        with torch.inference_mode():
            together = packed(PackedPass(groups)).numpy()
            apart = np.concatenate([traced(group).numpy() for group in groups])
        np.testing.assert_array_equal(together, apart)
        # The independent oracle: each query encoded alone by the public API.
        texts = [text for length in lengths for text in QUERIES[length]]
        alone = np.stack([encoder_fp32.encode_queries([text])[0] for text in texts])
        np.testing.assert_array_equal(together, alone)


def _made(encoder, reference=None, **options):
    """``packed_forward`` for the encoder's model, against its traced forward by default."""
    arguments = {"pooling": "mean", "normalize": True, "max_length": encoder.max_seq_length}
    reference = reference or encoder._traced_query_forward()
    return packed_forward(encoder._model, encoder._tokenizer, reference, **arguments | options)


def test_a_packed_forward_that_differs_is_not_used(encoder_fp32):
    traced = encoder_fp32._traced_query_forward()

    def nudged(batch):
        return traced(batch) * (1 + 2**-20)  # off in the last bits

    assert _made(encoder_fp32, nudged) is None
    assert _made(encoder_fp32) is not None


def test_only_mean_pooled_bert_models_are_packed(encoder_fp32):
    assert _made(encoder_fp32, pooling="cls") is None
    model = encoder_fp32._model
    before = model.config._attn_implementation
    model.set_attn_implementation("eager")
    try:
        assert _made(encoder_fp32) is None
    finally:
        model.set_attn_implementation(before)
    assert _made(encoder_fp32) is not None


def test_switched_off_by_the_variable(encoder_fp32):
    assert _made(encoder_fp32, environ={"HYBRIDSEARCH_PACKED_QUERIES": "0"}) is None
