"""Tests of hybridsearch.dense.model_folder: finding a model folder and reading its configs.

Folders are copies of the bundled all-MiniLM-L6-v2 with some config files replaced; most tests
read them without loading any weights, and the Encoder tests check the wiring end to end.
"""

from __future__ import annotations

import time
import warnings

import numpy as np
import pytest

from hybridsearch.dense.encoder import Encoder
from hybridsearch.dense.model_folder import (
    DEFAULT_MODEL,
    ModelFolder,
    open_model_folder,
    read_model_folder,
    resolve_model_folder,
)
from hybridsearch.errors import InvalidInputError, ModelLoadError
from tests.dense.model_copies import MODEL_FOLDER, bundled_modules, copy_model

# -- resolving a model argument -------------------------------------------------------


def test_default_model_resolves_to_the_bundled_folder():
    assert resolve_model_folder(None) == (MODEL_FOLDER, DEFAULT_MODEL)
    assert resolve_model_folder(DEFAULT_MODEL) == (MODEL_FOLDER, DEFAULT_MODEL)
    assert resolve_model_folder(MODEL_FOLDER) == (MODEL_FOLDER, str(MODEL_FOLDER))
    with pytest.raises(InvalidInputError, match="int"):
        resolve_model_folder(3)


def test_unknown_model_path_names_the_path(tmp_path):
    missing = tmp_path / "no-such-model"
    with pytest.raises(ModelLoadError, match="no-such-model"):
        Encoder(missing)
    with pytest.raises(ModelLoadError, match="no-such-model"):
        Encoder(str(missing))
    # A hub-style name while offline fails quickly instead of hanging.
    started = time.perf_counter()
    with pytest.raises(ModelLoadError, match="no-such-org/no-such-model"):
        Encoder("no-such-org/no-such-model")
    assert time.perf_counter() - started < 20
    a_file = tmp_path / "weights.bin"
    a_file.write_bytes(b"")
    with pytest.raises(ModelLoadError, match=r"weights\.bin"):
        Encoder(a_file)


# -- reading the configs --------------------------------------------------------------


def test_bundled_folder_facts():
    folder = open_model_folder(None)
    assert folder == ModelFolder(
        name=DEFAULT_MODEL,
        path=MODEL_FOLDER,
        transformer_path=MODEL_FOLDER,
        pooling="mean",
        normalize=True,
        max_seq_length=256,
        do_lower_case=False,
        query_prompt="",
        passage_prompt="",
        pooling_dimension=384,
    )
    assert folder.weight_files() == [MODEL_FOLDER / "model.safetensors"]
    assert read_model_folder(MODEL_FOLDER).name == str(MODEL_FOLDER)


@pytest.mark.parametrize(
    ("pooling_config", "expected"),
    [
        ({"word_embedding_dimension": 384, "pooling_mode_cls_token": True}, "cls"),
        ({"word_embedding_dimension": 384, "pooling_mode_max_tokens": True}, "max"),
        ({"word_embedding_dimension": 384, "pooling_mode_lasttoken": True}, "lasttoken"),
        ({"word_embedding_dimension": 384}, "mean"),  # no flag set: sentence-transformers' mean
        ({"embedding_dimension": 384, "pooling_mode": "max"}, "max"),
        ({"embedding_dimension": 384, "pooling_mode": ["cls"]}, "cls"),
    ],
)
def test_pooling_config_current_and_legacy_keys(tmp_path, pooling_config, expected):
    folder = copy_model(tmp_path / "model", replace={"1_Pooling/config.json": pooling_config})
    assert read_model_folder(folder).pooling == expected


@pytest.mark.parametrize(
    ("pooling_config", "message"),
    [
        ({"pooling_mode": ["mean", "max"]}, "combined pooling modes"),
        (
            {"pooling_mode_mean_tokens": True, "pooling_mode_max_tokens": True},
            "combined pooling modes",
        ),
        ({"pooling_mode": "weightedmean"}, "'weightedmean' is not supported"),
        ({"pooling_mode_mean_sqrt_len_tokens": True}, "mean_sqrt_len_tokens"),
        ({"pooling_mode": "mean", "include_prompt": False}, "include_prompt"),
        (["mean"], "expected a JSON object"),
    ],
)
def test_unsupported_pooling_refused_naming_the_file(tmp_path, pooling_config, message):
    folder = copy_model(tmp_path / "model", replace={"1_Pooling/config.json": pooling_config})
    with pytest.raises(ModelLoadError, match=message) as caught:
        read_model_folder(folder)
    assert "config.json" in str(caught.value)


def test_unsupported_module_refused(tmp_path):
    modules = bundled_modules()
    modules.insert(2, {"idx": 2, "name": "2", "path": "2_Dense", "type": "x.models.Dense"})
    folder = copy_model(tmp_path / "model", replace={"modules.json": modules})
    with pytest.raises(ModelLoadError, match="Dense"):
        Encoder(folder)


def test_modules_out_of_order_or_malformed_refused(tmp_path):
    modules = bundled_modules()
    folder = copy_model(tmp_path / "swapped", replace={"modules.json": modules[1::-1]})
    with pytest.raises(ModelLoadError, match="in that order"):
        read_model_folder(folder)
    folder = copy_model(tmp_path / "object", replace={"modules.json": {"0": modules[0]}})
    with pytest.raises(ModelLoadError, match="JSON list"):
        read_model_folder(folder)
    folder = tmp_path / "broken"
    copy_model(folder, skip=("modules.json",))
    (folder / "modules.json").write_text("[{", encoding="utf-8")
    with pytest.raises(ModelLoadError, match=r"modules\.json"):
        read_model_folder(folder)


def test_without_normalize_module(tmp_path):
    modules = [module for module in bundled_modules() if not module["type"].endswith("Normalize")]
    folder = copy_model(tmp_path / "model", replace={"modules.json": modules})
    assert read_model_folder(folder).normalize is False


def test_missing_pooling_config_falls_back_to_mean_with_warning(tmp_path, encoder_fp32):
    folder = copy_model(tmp_path / "model", skip=("1_Pooling",))
    with pytest.warns(UserWarning, match="mean pooling") as caught:
        encoder = Encoder(folder, bf16=False)
    assert caught[0].filename == __file__  # points at the code that made the Encoder
    assert encoder.identity.pooling == "mean"
    sample = ["mean pooling is the bundled model's own", "東京"]
    np.testing.assert_allclose(encoder.encode(sample), encoder_fp32.encode(sample), atol=1e-6)


def test_plain_transformers_folder_means_mean_pooling_without_normalisation(tmp_path):
    folder = copy_model(tmp_path / "model", skip=("modules.json", "1_Pooling"))
    with pytest.warns(UserWarning, match="no modules.json"):
        config = read_model_folder(folder)
    assert (config.pooling, config.normalize, config.pooling_dimension) == ("mean", False, None)
    assert config.transformer_path == folder


def test_pooling_module_without_its_config_warns(tmp_path):
    folder = copy_model(tmp_path / "model", skip=("1_Pooling",))
    with pytest.warns(UserWarning, match=r"1_Pooling/config\.json is missing"):
        read_model_folder(folder)
    modules = [module for module in bundled_modules() if module["type"].endswith("Transformer")]
    folder = copy_model(tmp_path / "no_pooling_module", replace={"modules.json": modules})
    with pytest.warns(UserWarning, match="no Pooling module"):
        assert read_model_folder(folder).pooling == "mean"


def test_sentence_bert_config(tmp_path):
    folder = copy_model(
        tmp_path / "model",
        replace={"sentence_bert_config.json": {"max_seq_length": 128, "do_lower_case": True}},
    )
    config = read_model_folder(folder)
    assert (config.max_seq_length, config.do_lower_case) == (128, True)
    folder = copy_model(
        tmp_path / "bad", replace={"sentence_bert_config.json": {"max_seq_length": "x"}}
    )
    with pytest.raises(ModelLoadError, match="max_seq_length must be an int"):
        read_model_folder(folder)
    folder = copy_model(tmp_path / "none", skip=("sentence_bert_config.json",))
    config = read_model_folder(folder)
    assert (config.max_seq_length, config.do_lower_case) == (None, False)


def test_lowercasing_folder_lowercases_inside_the_tokenizer(tmp_path, encoder_fp32):
    folder = copy_model(
        tmp_path / "model",
        replace={"sentence_bert_config.json": {"max_seq_length": 256, "do_lower_case": True}},
    )
    encoder = Encoder(folder, bf16=False)
    np.testing.assert_allclose(
        encoder.encode(["Aspirin Lowers FEVER"]),
        encoder_fp32.encode(["aspirin lowers fever"]),
        atol=1e-6,
    )


# -- prompts --------------------------------------------------------------------------


def test_prompt_selection_follows_sentence_transformers(tmp_path):
    folder = copy_model(
        tmp_path / "document_prompt",
        replace={
            "config_sentence_transformers.json": {
                "prompts": {"document": "doc: ", "passage": "ignored: ", "classify": "c: "},
                "default_prompt_name": "classify",
            }
        },
    )
    encoder = Encoder(folder)
    # No "query" prompt: the default prompt applies, as in SentenceTransformer.encode_query.
    assert encoder.query_prompt == "c: "
    assert encoder.passage_prompt == "doc: "


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        ({"prompts": {"query": "q: ", "corpus": "c: "}}, ("q: ", "c: ")),
        ({"prompts": {"passage": "p: "}, "default_prompt_name": None}, ("", "p: ")),
        ({"prompts": {}, "default_prompt_name": "missing"}, ("", "")),
        ({"prompts": None}, ("", "")),
        ({}, ("", "")),
    ],
)
def test_prompt_selection_cases(tmp_path, config, expected):
    folder = copy_model(tmp_path / "model", replace={"config_sentence_transformers.json": config})
    folder_config = read_model_folder(folder)
    assert (folder_config.query_prompt, folder_config.passage_prompt) == expected


# -- weights --------------------------------------------------------------------------


def test_weight_files_prefer_safetensors_then_shards_in_name_order(tmp_path):
    folder = tmp_path / "model"
    folder.mkdir()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # no pooling config: not the point here
        config = read_model_folder(folder)
    with pytest.raises(ModelLoadError, match="no weight file"):
        config.weight_files()
    for name in ("pytorch_model-00002-of-00002.bin", "pytorch_model-00001-of-00002.bin"):
        (folder / name).write_bytes(b"")
    assert [path.name for path in config.weight_files()] == [
        "pytorch_model-00001-of-00002.bin",
        "pytorch_model-00002-of-00002.bin",
    ]
    (folder / "model.safetensors").write_bytes(b"")
    assert config.weight_files() == [folder / "model.safetensors"]
