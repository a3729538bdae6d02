"""Tests of hybridsearch.dense.vectors: VectorIndex against brute-force numpy inner products."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from hybridsearch.dense.vectors import VectorIndex, VectorSettings
from hybridsearch.errors import IndexFormatError, InvalidInputError

DIMENSION = 24


def unit_vectors(count: int, seed: int, dimension: int = DIMENSION) -> np.ndarray:
    """Random L2-normalised float32 vectors, as the encoder produces."""
    rng = np.random.default_rng(seed)
    vectors = rng.standard_normal((count, dimension)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


@pytest.fixture
def corpus() -> tuple[np.ndarray, np.ndarray]:
    """300 vectors under sparse, non-contiguous ids (so id mapping is really exercised)."""
    vectors = unit_vectors(300, seed=1)
    ids = np.arange(300, dtype=np.int64) * 7 + 1000
    return vectors, ids


def brute_force(vectors: np.ndarray, ids: np.ndarray, queries: np.ndarray, k: int):
    """Oracle: exact top-k by numpy inner product."""
    scores = queries @ vectors.T
    order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    return ids[order], np.take_along_axis(scores, order, axis=1)


def test_flat_search_batch_equals_brute_force(corpus):
    vectors, ids = corpus
    index = VectorIndex(DIMENSION)
    index.add(vectors, ids)
    queries = unit_vectors(20, seed=2)
    found_ids, found_scores = index.search_batch(queries, 10)
    expected_ids, expected_scores = brute_force(vectors, ids, queries, 10)
    assert found_ids.dtype == np.int64 and found_scores.dtype == np.float32
    assert found_ids.shape == (20, 10)
    np.testing.assert_array_equal(found_ids, expected_ids)
    np.testing.assert_allclose(found_scores, expected_scores, rtol=0, atol=1e-5)


def test_flat_single_search_equals_brute_force(corpus):
    vectors, ids = corpus
    index = VectorIndex(DIMENSION)
    index.add(vectors, ids)
    query = unit_vectors(1, seed=3)[0]
    found_ids, found_scores = index.search(query, 5)
    expected_ids, expected_scores = brute_force(vectors, ids, query[None, :], 5)
    np.testing.assert_array_equal(found_ids, expected_ids[0])
    np.testing.assert_allclose(found_scores, expected_scores[0], atol=1e-5)


def test_search_without_padding_and_batch_with_padding(corpus):
    vectors, ids = corpus
    index = VectorIndex(DIMENSION)
    index.add(vectors[:3], ids[:3])
    found_ids, found_scores = index.search(vectors[0], 10)
    assert len(found_ids) == 3 and len(found_scores) == 3
    assert found_ids[0] == ids[0]
    batch_ids, batch_scores = index.search_batch(vectors[:2], 5)
    assert batch_ids.shape == (2, 5)
    assert (batch_ids[:, 3:] == -1).all()
    assert np.isneginf(batch_scores[:, 3:]).all()


def test_empty_index_search():
    index = VectorIndex(DIMENSION)
    assert len(index) == 0
    found_ids, found_scores = index.search(unit_vectors(1, seed=4)[0], 3)
    assert found_ids.shape == (0,) and found_scores.shape == (0,)


def test_hnsw_finds_same_top1_as_flat(corpus):
    vectors, ids = corpus
    flat = VectorIndex(DIMENSION)
    hnsw = VectorIndex(DIMENSION, kind="hnsw", hnsw_m=16, ef_search=64)
    flat.add(vectors, ids)
    hnsw.add(vectors, ids)
    # Queries near stored vectors: the nearest one is unambiguous.
    queries = vectors[::15] + 0.05 * unit_vectors(20, seed=5)
    flat_ids, _ = flat.search_batch(queries, 1)
    hnsw_ids, _ = hnsw.search_batch(queries, 1)
    np.testing.assert_array_equal(hnsw_ids, flat_ids)
    assert hnsw.ef_search == 64
    hnsw.ef_search = 200
    assert hnsw.ef_search == 200
    per_call_ids, _ = hnsw.search_batch(queries, 1, ef_search=32)
    np.testing.assert_array_equal(per_call_ids, flat_ids)
    assert hnsw.ef_search == 200  # a per-call value does not stick
    # FAISS alone would return fewer than k results with ef < k; the index raises ef to k.
    tiny_ef_ids, _ = hnsw.search_batch(queries, 10, ef_search=1)
    assert (tiny_ef_ids != -1).all()
    assert flat.ef_search is None


@pytest.mark.parametrize("kind", ["flat", "hnsw"])
def test_save_load_round_trip(tmp_path, corpus, kind):
    vectors, ids = corpus
    index = VectorIndex(DIMENSION, kind=kind, ef_search=40)
    index.add(vectors, ids)
    path = tmp_path / "vectors.faiss"
    index.save(path)
    loaded = VectorIndex.load(path, dimension=DIMENSION)
    assert loaded.kind == kind and len(loaded) == len(index)
    assert loaded.ef_search == index.ef_search
    np.testing.assert_array_equal(loaded.ids(), ids)
    queries = unit_vectors(10, seed=6)
    before_ids, before_scores = index.search_batch(queries, 7)
    after_ids, after_scores = loaded.search_batch(queries, 7)
    np.testing.assert_array_equal(after_ids, before_ids)
    np.testing.assert_array_equal(after_scores, before_scores)


def test_wrong_dimension_refused_on_add_search_and_load(tmp_path, corpus):
    vectors, ids = corpus
    index = VectorIndex(DIMENSION)
    with pytest.raises(InvalidInputError, match=r"dimension 10 .*dimension 24"):
        index.add(unit_vectors(3, seed=7, dimension=10), np.arange(3))
    index.add(vectors, ids)
    with pytest.raises(InvalidInputError, match=r"dimension 10 .*dimension 24"):
        index.search_batch(unit_vectors(2, seed=8, dimension=10), 3)
    with pytest.raises(InvalidInputError, match="1-D"):
        index.search(unit_vectors(2, seed=8), 3)
    path = tmp_path / "vectors.faiss"
    index.save(path)
    with pytest.raises(IndexFormatError, match=r"dimension 24 .*dimension 384"):
        VectorIndex.load(path, dimension=384)


def test_bad_inputs_refused(corpus):
    vectors, ids = corpus
    index = VectorIndex(DIMENSION)
    with pytest.raises(InvalidInputError, match="3 vectors but 2 ids"):
        index.add(vectors[:3], ids[:2])
    poisoned = vectors[:3].copy()
    poisoned[1, 4] = np.nan
    with pytest.raises(InvalidInputError, match="row 1"):
        index.add(poisoned, ids[:3])
    with pytest.raises(InvalidInputError, match="given twice"):
        index.add(vectors[:2], np.array([5, 5]))
    with pytest.raises(InvalidInputError, match=">= 0"):
        index.add(vectors[:1], np.array([-1]))
    with pytest.raises(InvalidInputError, match="integers"):
        index.add(vectors[:1], np.array([1.5]))
    index.add(vectors[:2], ids[:2])
    with pytest.raises(InvalidInputError, match="already in the index"):
        index.add(vectors[2:4], np.array([ids[1], 99]))
    assert len(index) == 2  # refused adds left nothing behind
    with pytest.raises(InvalidInputError, match="k must be"):
        index.search(vectors[0], 0)
    infinite_query = vectors[0].copy()
    infinite_query[0] = np.inf
    with pytest.raises(InvalidInputError, match="NaN or infinite"):
        index.search(infinite_query, 1)
    with pytest.raises(InvalidInputError, match="kind"):
        VectorIndex(DIMENSION, kind="ivf")


def test_load_missing_or_corrupt_file(tmp_path):
    missing = tmp_path / "nothing.faiss"
    with pytest.raises(IndexFormatError, match=r"nothing\.faiss"):
        VectorIndex.load(missing)
    corrupt = tmp_path / "corrupt.faiss"
    corrupt.write_bytes(b"not a faiss index at all")
    with pytest.raises(IndexFormatError, match=r"corrupt\.faiss"):
        VectorIndex.load(corrupt)


def test_remove_from_flat(corpus):
    vectors, ids = corpus
    index = VectorIndex(DIMENSION)
    index.add(vectors, ids)
    assert index.remove(ids[:10]) == 10
    assert len(index) == 290
    found_ids, _ = index.search(vectors[0], 1)
    assert found_ids[0] != ids[0]
    hnsw = VectorIndex(DIMENSION, kind="hnsw")
    hnsw.add(vectors[:5], ids[:5])
    with pytest.raises(InvalidInputError, match="HNSW"):
        hnsw.remove(ids[:1])


# -- settings -----------------------------------------------------------------------------


def test_vector_settings_defaults_and_round_trip():
    settings = VectorSettings()
    assert settings.to_dict() == {
        "kind": "auto",
        "hnsw_m": 32,
        "ef_construction": 200,
        "ef_search": 128,
        "ivf_lists": 2048,
        "ivf_probe": 64,
        "ivf_codes": "sq8",
    }
    hnsw = VectorSettings(kind="hnsw", hnsw_m=8, ef_construction=40, ef_search=16)
    assert VectorSettings.from_dict(json.loads(json.dumps(hnsw.to_dict()))) == hnsw
    assert VectorSettings.coerce({"kind": "hnsw"}, "vectors") == VectorSettings(kind="hnsw")
    assert VectorSettings.coerce(None, "vectors") == settings


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"kind": "annoy"}, "unknown kind 'annoy'; expected one of: auto, flat, hnsw, ivf"),
        ({"ivf_probe": 0}, "ivf_probe must be a positive integer"),
        ({"ivf_codes": "pq"}, "unknown ivf_codes 'pq'; expected one of: sq8, flat"),
        ({"kind": None}, "kind"),
        ({"hnsw_m": 0}, "hnsw_m must be a positive integer"),
        ({"ef_construction": -5}, "ef_construction"),
        ({"ef_search": 1.5}, "ef_search"),
        ({"ef_search": True}, "ef_search"),
    ],
)
def test_vector_settings_validated_when_made(fields, message):
    with pytest.raises(InvalidInputError, match=message):
        VectorSettings(**fields)
    with pytest.raises(IndexFormatError, match=message):
        VectorSettings.from_dict({**VectorSettings().to_dict(), **fields})


def test_vector_settings_from_dict_is_strict():
    data = VectorSettings().to_dict()
    with pytest.raises(IndexFormatError, match=r"manifest\.json: vectors: unknown .* 'nlist'"):
        VectorSettings.from_dict({**data, "nlist": 100}, where="manifest.json: vectors")
    # Fields added later take the value an older manifest means when absent.
    for missing in set(data) - {"ivf_lists", "ivf_probe", "ivf_codes"}:
        partial = {key: value for key, value in data.items() if key != missing}
        with pytest.raises(IndexFormatError, match=f"key '{missing}' is missing"):
            VectorSettings.from_dict(partial)
    with pytest.raises(InvalidInputError, match="unknown VectorSettings field 'nlist'"):
        VectorSettings.coerce({"nlist": 100}, "vectors")


@pytest.mark.parametrize("kind", ["flat", "hnsw"])
def test_from_settings_builds_the_index_the_settings_describe(corpus, kind):
    vectors, ids = corpus
    settings = VectorSettings(kind=kind, hnsw_m=16, ef_search=48)
    index = VectorIndex.from_settings(DIMENSION, settings)
    assert (index.kind, index.dimension, len(index)) == (kind, DIMENSION, 0)
    assert index.ef_search == (48 if kind == "hnsw" else None)
    index.add(vectors, ids)
    query = vectors[3]
    found_ids, _ = index.search(query, 1)
    assert found_ids[0] == ids[3]
    with pytest.raises(InvalidInputError, match="VectorSettings"):
        VectorIndex.from_settings(DIMENSION, {"kind": "flat"})
    with pytest.raises(InvalidInputError, match="dimension"):
        VectorIndex.from_settings(0, settings)


def test_settings_module_does_not_load_faiss():
    code = (
        "import sys; from hybridsearch.dense.vectors import VectorSettings; VectorSettings(); "
        "print('faiss' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"
