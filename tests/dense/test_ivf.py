"""Tests of hybridsearch.dense.ivf and IVF segments in hybridsearch.dense.segmented."""

from __future__ import annotations

import numpy as np
import pytest

from hybridsearch.dense.ivf import (
    build_ivf,
    effective_nprobe,
    ivf_lists_for,
    load_ivf,
    save_ivf,
)
from hybridsearch.dense.segmented import DenseSegment, SegmentedVectors
from hybridsearch.dense.vectors import VectorSettings
from hybridsearch.errors import IndexFormatError, InvalidInputError

ROWS, DIMENSION = 20_000, 32


def clustered_unit_vectors(count: int, rng: np.random.Generator) -> np.ndarray:
    """Unit vectors around 300 random centres (embeddings have such structure; IVF uses it)."""
    centres = rng.standard_normal((300, DIMENSION)).astype(np.float32)
    vectors = centres[rng.integers(0, 300, count)]
    vectors += 0.5 * rng.standard_normal((count, DIMENSION)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


@pytest.fixture(scope="module", params=["sq8", "flat"])
def ivf_corpus(request):
    """20k clustered unit vectors with an IVF index (500 cells: 40 training rows each), 10% dead;
    once with 8-bit codes (the default), once with float32 copies."""
    rng = np.random.default_rng(11)
    vectors = clustered_unit_vectors(ROWS, rng)
    index = build_ivf(vectors, VectorSettings(kind="ivf", ivf_codes=request.param))
    expected_type = "IndexIVFScalarQuantizer" if request.param == "sq8" else "IndexIVFFlat"
    assert type(index).__name__ == expected_type
    assert not index.by_residual  # codes of the vectors: half the scan time of residuals
    live = rng.random(ROWS) >= 0.1
    queries = clustered_unit_vectors(40, rng)
    return vectors, live, index, queries


def recall(approximate, exact_index, queries, allowed, passing) -> float:
    """Mean recall@10 of ``approximate`` against exact search; checks every row passes."""
    found_share = []
    for query in queries:
        found, _ = approximate.search(query, 10, allowed)
        truth, _ = exact_index.search(query, 10, allowed)
        assert passing[found].all()
        found_share.append(len(set(found.tolist()) & set(truth.tolist())) / len(truth))
    return float(np.mean(found_share))


def test_cells_follow_the_square_root_rule_within_bounds():
    settings = VectorSettings(kind="ivf")
    assert ivf_lists_for(1_000_000, settings) == 2048  # 4 sqrt(n) = 4000, capped
    assert ivf_lists_for(100_000, settings) == 1264
    assert ivf_lists_for(ROWS, settings) == 500  # 4 sqrt(n) = 565, but 40 training rows each
    assert ivf_lists_for(1_000_000, VectorSettings(kind="ivf", ivf_lists=1024)) == 1024
    assert ivf_lists_for(400, settings) == 10  # no more cells than 40 training rows each
    assert ivf_lists_for(5, settings) == 1


def test_ivf_recall_and_never_a_dead_or_filtered_row(ivf_corpus):
    vectors, live, index, queries = ivf_corpus
    assert int(index.nlist) == 500
    approximate = SegmentedVectors(
        [DenseSegment(vectors, live, ivf=index)], exact_below=1_000, ivf_probe=32
    )
    exact_index = SegmentedVectors([DenseSegment(vectors, live)])
    assert approximate.method() == (
        "ivf (nprobe 32 of 500 cells, raised to 34 as 90% of rows pass, candidates rescored "
        "exactly) with ID selector"
    )
    assert recall(approximate, exact_index, queries, None, live) >= 0.95
    allowed = np.random.default_rng(7).random(ROWS) < 0.1
    raised = effective_nprobe(32, int((live & allowed).sum()), ROWS, 500)
    assert f"raised to {raised} as 9% of rows pass" in approximate.method(allowed=[allowed])
    assert recall(approximate, exact_index, queries, [allowed], live & allowed) >= 0.95
    for row in np.flatnonzero(~live)[:20]:  # a dead row's own vector never finds it
        found, _ = approximate.search(vectors[row], 10)
        assert row not in found and live[found].all()
    # Scores are the exact float64 scores of the rows returned, best first.
    rows, scores = approximate.search(queries[0], 10)
    expected = (vectors[rows].astype(np.float64) * queries[0].astype(np.float64)).sum(axis=1)
    np.testing.assert_array_equal(scores, expected)
    assert (np.diff(scores) <= 0).all()


def test_few_passing_rows_go_exact(ivf_corpus):
    vectors, live, index, queries = ivf_corpus
    approximate = SegmentedVectors([DenseSegment(vectors, live, ivf=index)])  # exact_below 20k
    exact_index = SegmentedVectors([DenseSegment(vectors, live)])
    assert approximate.method().startswith("exact: ")
    for query in queries[:5]:
        np.testing.assert_array_equal(
            approximate.search(query, 10)[0], exact_index.search(query, 10)[0]
        )


def test_save_and_load_round_trip_memory_mapped_or_read(ivf_corpus, tmp_path):
    vectors, live, index, queries = ivf_corpus
    path = tmp_path / "ivf.faiss"
    save_ivf(index, path)
    before = SegmentedVectors([DenseSegment(vectors, live, ivf=index)], exact_below=1)
    for mmap in (True, False):
        loaded = load_ivf(path, dimension=DIMENSION, rows=ROWS, mmap=mmap)
        after = SegmentedVectors([DenseSegment(vectors, live, ivf=loaded)], exact_below=1)
        for query in queries[:5]:
            np.testing.assert_array_equal(before.search(query, 10)[0], after.search(query, 10)[0])
    with pytest.raises(IndexFormatError, match="dimension 32 but 16"):
        load_ivf(path, dimension=16)
    with pytest.raises(IndexFormatError, match="rows 20000 but 5"):
        load_ivf(path, rows=5)
    with pytest.raises(IndexFormatError, match="does not exist"):
        load_ivf(tmp_path / "missing.faiss")


def test_other_indexes_and_bad_arguments_are_refused(ivf_corpus, tmp_path):
    import faiss

    vectors, live, index, _ = ivf_corpus
    save_ivf(faiss.IndexFlatIP(DIMENSION), tmp_path / "flat.faiss")
    with pytest.raises(IndexFormatError, match="expected IndexIVFScalarQuantizer or IndexIVFFlat"):
        load_ivf(tmp_path / "flat.faiss")
    with pytest.raises(InvalidInputError, match="20000 vectors"):
        DenseSegment(vectors[:10], live[:10], ivf=index)
    with pytest.raises(InvalidInputError, match="VectorSettings"):
        build_ivf(vectors, {"ivf_lists": 8})
    with pytest.raises(InvalidInputError, match="float32"):
        build_ivf(vectors.astype(np.float64), VectorSettings())


def test_effective_nprobe_grows_as_fewer_rows_pass():
    assert effective_nprobe(64, 1000, 1000, 4000) == 64
    assert effective_nprobe(64, 250, 1000, 4000) == 128  # 64 / sqrt(0.25)
    assert effective_nprobe(64, 10, 1000, 100) == 100  # never more than every cell


def test_settings_of_a_manifest_written_before_ivf_read_with_defaults():
    old = {"kind": "hnsw", "hnsw_m": 16, "ef_construction": 100, "ef_search": 64}
    settings = VectorSettings.from_dict(old)
    # ivf_codes: such a manifest's IVF segments (if any) hold float32 copies
    assert (settings.ivf_lists, settings.ivf_probe, settings.ivf_codes) == (2048, 64, "flat")
    assert VectorSettings().ivf_codes == "sq8"
    assert VectorSettings.from_dict(settings.to_dict()) == settings
    with pytest.raises(InvalidInputError, match="ivf_codes"):
        VectorSettings(ivf_codes="pq")
    with pytest.raises(IndexFormatError, match="ivf_probe"):
        VectorSettings.from_dict({**old, "ivf_probe": 0})


def test_eight_bit_cells_take_a_quarter_of_the_disk(tmp_path):
    rng = np.random.default_rng(5)
    vectors = clustered_unit_vectors(4_000, rng)
    sizes = {}
    for codes in ("sq8", "flat"):
        save_ivf(build_ivf(vectors, VectorSettings(ivf_codes=codes)), tmp_path / codes)
        sizes[codes] = (tmp_path / codes).stat().st_size
    assert sizes["sq8"] < 0.35 * sizes["flat"]
