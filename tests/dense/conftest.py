"""Fixtures of the dense tests. Nothing here reaches the network."""

from __future__ import annotations

import os

# Before transformers/huggingface_hub are imported: never reach the network from tests.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"

import pytest


@pytest.fixture(scope="session")
def encoder_fp32():
    """The default model without bf16, so vectors compare to sentence-transformers' exactly."""
    from hybridsearch.dense.encoder import Encoder

    return Encoder(bf16=False)


@pytest.fixture(scope="session")
def sentence_transformer():
    """sentence-transformers on the bundled folder: the oracle of the encoder's vectors."""
    sentence_transformers = pytest.importorskip("sentence_transformers")
    from tests.dense.model_copies import MODEL_FOLDER

    return sentence_transformers.SentenceTransformer(str(MODEL_FOLDER), device="cpu")
