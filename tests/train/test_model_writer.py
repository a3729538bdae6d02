"""The model folder written after training: sentence-transformers loads it and agrees with our
Encoder, and it keeps the base's pooling, length and prompts."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from hybridsearch.dense.encoder import Encoder
from hybridsearch.dense.loading import load_transformer
from hybridsearch.dense.model_folder import read_model_folder
from hybridsearch.errors import InvalidInputError
from hybridsearch.train.model_writer import TRAINING_RECORD, write_model_folder
from tests.dense.model_copies import MODEL_FOLDER, copy_model, cosines

TEXTS = ["Bees make honey in hives.", "nocturnal birds of prey", "α-helix IL-6 p<0.05 東京"]
PROMPTS = {"prompts": {"query": "query: ", "document": "passage: "}, "default_prompt_name": None}


@pytest.fixture(scope="module")
def prompted_base(tmp_path_factory) -> Path:
    """The bundled model with query/passage prompts, as a base to write from."""
    folder = tmp_path_factory.mktemp("prompted")
    return copy_model(folder / "base", replace={"config_sentence_transformers.json": PROMPTS})


@pytest.fixture(scope="module")
def written(prompted_base, tmp_path_factory) -> Path:
    base = read_model_folder(prompted_base)
    loaded = load_transformer(base, device="cpu")
    destination = tmp_path_factory.mktemp("written") / "model"
    return write_model_folder(
        destination,
        loaded.model,
        loaded.tokenizer,
        base,
        max_seq_length=loaded.max_seq_length,
        record={"base": "bundled"},
    )


def test_sentence_transformers_loads_it_and_gives_our_encoders_vectors(written) -> None:
    sentence_transformers = pytest.importorskip("sentence_transformers")
    model = sentence_transformers.SentenceTransformer(str(written), device="cpu")
    ours = Encoder(written, bf16=False)
    assert cosines(model.encode(TEXTS, prompt_name="query"), ours.encode_queries(TEXTS)).min() >= (
        0.9999
    )
    theirs = model.encode(TEXTS, prompt_name="document")
    assert cosines(theirs, ours.encode_passages(TEXTS)).min() >= 0.9999
    assert model.max_seq_length == 256


def test_it_keeps_the_base_configuration_and_records_its_training(written, prompted_base):
    base, copy = read_model_folder(prompted_base), read_model_folder(written)
    for field in ("pooling", "normalize", "max_seq_length", "query_prompt", "passage_prompt"):
        assert getattr(copy, field) == getattr(base, field)
    assert copy.query_prompt == "query: "
    assert (written / "model.safetensors").is_file()
    assert json.loads((written / TRAINING_RECORD).read_text()) == {"base": "bundled"}
    # Same weights, same vectors: the writer changes nothing of the model itself.
    np.testing.assert_allclose(
        Encoder(written, bf16=False).encode(TEXTS),
        Encoder(MODEL_FOLDER, bf16=False).encode(TEXTS),
        atol=1e-6,
    )


def test_an_existing_non_empty_destination_is_refused(written) -> None:
    with pytest.raises(InvalidInputError, match="already exists"):
        write_model_folder(written, None, None, read_model_folder(written), max_seq_length=8)
