"""Tests of hybridsearch.dense.identity: what a vector space depends on, and how it is stored."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import subprocess
import sys

import pytest

from hybridsearch.dense.encoder import Encoder
from hybridsearch.dense.identity import ModelIdentity, model_mismatch_message
from hybridsearch.dense.model_folder import DEFAULT_MODEL, open_model_folder
from hybridsearch.errors import IndexFormatError, InvalidInputError
from tests.dense.model_copies import MODEL_FOLDER, copy_model

IDENTITY = ModelIdentity(
    name="some/model",
    weights_digest="ab" * 32,
    dimension=384,
    pooling="mean",
    normalize=True,
    max_seq_length=256,
    query_prompt="query: ",
    passage_prompt="",
)


def test_identity_is_stable_and_names_the_weights(tmp_path, encoder_fp32):
    identity = encoder_fp32.identity
    expected_digest = hashlib.sha256((MODEL_FOLDER / "model.safetensors").read_bytes()).hexdigest()
    assert identity.weights_digest == expected_digest
    assert identity.name == DEFAULT_MODEL
    assert (identity.dimension, identity.pooling, identity.normalize) == (384, "mean", True)
    assert identity.max_seq_length == 256  # sentence_bert_config wins over the tokenizer's 512
    assert (identity.query_prompt, identity.passage_prompt) == ("", "")
    assert Encoder(MODEL_FOLDER).identity == ModelIdentity(
        **{**identity.to_dict(), "name": str(MODEL_FOLDER)}
    )

    copy_folder = copy_model(tmp_path / "local-copy")
    copy_identity = Encoder(copy_folder).identity
    assert copy_identity.name != identity.name
    assert copy_identity.same_model_as(identity)

    cls_folder = copy_model(
        tmp_path / "cls",
        replace={"1_Pooling/config.json": {"embedding_dimension": 384, "pooling_mode": "cls"}},
    )
    cls_identity = Encoder(cls_folder).identity
    assert cls_identity != identity and not cls_identity.same_model_as(identity)

    assert ModelIdentity.from_dict(json.loads(json.dumps(identity.to_dict()))) == identity
    description = identity.describe()
    assert DEFAULT_MODEL in description and identity.weights_digest[:12] in description
    assert "384" in description


def test_from_folder_hashes_shards_as_one_stream(tmp_path):
    folder = copy_model(tmp_path / "sharded", skip=("model.safetensors",))
    shards = [b"first shard bytes", b"second shard"]
    (folder / "model-00002-of-00002.safetensors").write_bytes(shards[1])
    (folder / "model-00001-of-00002.safetensors").write_bytes(shards[0])
    identity = ModelIdentity.from_folder(
        open_model_folder(folder), dimension=384, max_seq_length=128
    )
    assert identity.weights_digest == hashlib.sha256(b"".join(shards)).hexdigest()
    assert (identity.name, identity.max_seq_length, identity.pooling) == (
        str(folder),
        128,
        "mean",
    )


def test_to_dict_writes_every_field_json_ready():
    data = IDENTITY.to_dict()
    assert list(data) == [field.name for field in dataclasses.fields(ModelIdentity)]
    assert ModelIdentity.from_dict(json.loads(json.dumps(data))) == IDENTITY


def test_identity_from_dict_refuses_bad_fields(encoder_fp32):
    data = encoder_fp32.identity.to_dict()
    with pytest.raises(IndexFormatError, match="weights_digest"):
        ModelIdentity.from_dict({k: v for k, v in data.items() if k != "weights_digest"})
    with pytest.raises(IndexFormatError, match="dimension"):
        ModelIdentity.from_dict({**data, "dimension": "384"})


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"extra": 1}, "unknown ModelIdentity key 'extra'"),
        ({"query_prompt": None}, "query_prompt"),
        ({"normalize": 1}, "normalize"),
        ({"dimension": True}, "dimension"),
        ({"max_seq_length": 0}, "max_seq_length"),
        ({"pooling": "weightedmean"}, "pooling"),
    ],
)
def test_from_dict_is_strict(change, message):
    with pytest.raises(IndexFormatError, match=message) as caught:
        ModelIdentity.from_dict({**IDENTITY.to_dict(), **change}, where="manifest.json: model")
    assert str(caught.value).startswith("manifest.json: model: ")


@pytest.mark.parametrize("missing", [field.name for field in dataclasses.fields(ModelIdentity)])
def test_from_dict_names_a_missing_key(missing):
    data = {key: value for key, value in IDENTITY.to_dict().items() if key != missing}
    with pytest.raises(IndexFormatError, match=f"key '{missing}' is missing"):
        ModelIdentity.from_dict(data)


def test_from_dict_refuses_a_non_mapping():
    with pytest.raises(IndexFormatError, match="model identity: expected an object"):
        ModelIdentity.from_dict(["name"])


def test_constructor_validates():
    with pytest.raises(InvalidInputError, match="dimension"):
        dataclasses.replace(IDENTITY, dimension=0)
    with pytest.raises(InvalidInputError, match="weights_digest"):
        dataclasses.replace(IDENTITY, weights_digest=None)


def test_same_model_ignores_name_and_max_seq_length_only():
    assert IDENTITY.same_model_as(dataclasses.replace(IDENTITY, name="copy", max_seq_length=64))
    for change in (
        {"weights_digest": "cd" * 32},
        {"dimension": 768},
        {"pooling": "cls"},
        {"normalize": False},
        {"query_prompt": ""},
        {"passage_prompt": "passage: "},
    ):
        assert not IDENTITY.same_model_as(dataclasses.replace(IDENTITY, **change)), change


def test_model_mismatch_message_names_what_differs():
    other = dataclasses.replace(IDENTITY, name="other", pooling="cls", max_seq_length=64)
    message = model_mismatch_message(IDENTITY, other, "the index at /x", "the query encoder")
    assert message.startswith(f"the index at /x holds vectors of {IDENTITY.describe()}")
    assert f"the query encoder is {other.describe()}" in message
    assert "differs in pooling 'mean' vs 'cls')" in message
    assert "max_seq_length" not in message  # not part of the vector space
    assert "rebuild the index" in message


def test_identity_module_loads_no_torch():
    code = (
        "import sys, hybridsearch.dense, hybridsearch.dense.identity, "
        "hybridsearch.dense.model_folder, hybridsearch.dense.embedding_cache, "
        "hybridsearch.dense.vectors; "
        "print(sorted(m for m in ('torch', 'transformers', 'faiss') if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"
