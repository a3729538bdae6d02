"""Tests of hybridsearch.dense.segmented (with .exact and .hnsw): search over segments.

The oracle of exact search is one brute-force ranking over every live, allowed row of all
segments concatenated: float64 scores of each row, sorted by score descending then global row
ascending. A segmented search must give the same rows, order and scores.
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from hybridsearch.dense import exact
from hybridsearch.dense.hnsw import effective_ef_search
from hybridsearch.dense.segmented import (
    DenseSegment,
    SegmentedVectors,
    build_hnsw,
    load_hnsw,
    save_hnsw,
)
from hybridsearch.dense.vectors import VectorSettings
from hybridsearch.errors import IndexFormatError, InvalidInputError


def unit_vectors(count: int, dimension: int, rng: np.random.Generator) -> np.ndarray:
    """Random L2-normalised float32 vectors, as the encoder produces."""
    vectors = rng.standard_normal((count, dimension)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def brute_force(vectors, live, allowed, query, k):
    """Oracle: rank every live allowed row of the concatenated segments."""
    rows = np.flatnonzero(live & allowed)
    query64 = np.asarray(query, dtype=np.float32).astype(np.float64)
    scores = np.array([float(np.sum(vectors[row].astype(np.float64) * query64)) for row in rows])
    # The scores are inner products (checked against float32 BLAS, loosely).
    np.testing.assert_allclose(scores, vectors[rows] @ np.asarray(query, np.float32), atol=1e-4)
    order = np.lexsort((rows, -scores))[:k]
    return rows[order], scores[order]


def random_case(rng: np.random.Generator):
    """Segments of random sizes with dead rows, duplicates (ties) and maybe a filter."""
    dimension = int(rng.choice([3, 8, 17]))
    choices = [0, 1, 7, int(rng.integers(20, 400)), int(rng.integers(400, 1500))]
    sizes = [int(rng.choice(choices)) for _ in range(rng.integers(1, 6))]
    total = sum(sizes)
    if rng.random() < 0.4:
        # Small integers: many exactly equal scores from different vectors.
        vectors = rng.integers(-2, 3, size=(total, dimension)).astype(np.float32)
    else:
        vectors = unit_vectors(total, dimension, rng)
    if total > 1:
        copies = rng.integers(0, total, size=total // 3)
        vectors[rng.integers(0, total, size=copies.size)] = vectors[copies]
    live = rng.random(total) >= rng.choice([0.0, 0.1, 0.5, 1.0])
    selectivity = rng.choice([0.0, 0.01, 0.1, 0.3, 0.9, 1.0])
    allowed_all = rng.random(total) < selectivity
    filtered = bool(rng.random() < 0.7)
    offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(int)
    segments, masks = [], []
    for position in range(len(sizes)):
        part = slice(offsets[position], offsets[position + 1])
        segments.append(DenseSegment(np.ascontiguousarray(vectors[part]), live[part].copy()))
        # Some segments unfiltered (None) even under a filter.
        masks.append(None if rng.random() < 0.2 else allowed_all[part].copy())
    if filtered:
        allowed_all = np.concatenate(
            [np.ones(0, bool)]
            + [
                np.ones(seg.size, bool) if mask is None else mask
                for seg, mask in zip(segments, masks, strict=True)
            ]
        )
    else:
        masks, allowed_all = None, np.ones(total, dtype=bool)
    query = (
        vectors[rng.integers(0, total)]
        if total and rng.random() < 0.3
        else (rng.standard_normal(dimension).astype(np.float32))
    )
    k = int(rng.choice([1, 3, 10, 100, 5000]))
    return segments, masks, vectors, live, allowed_all, query, k


@pytest.mark.parametrize("small_blocks", [True, False], ids=["small-blocks", "defaults"])
def test_exact_search_equals_brute_force(small_blocks, monkeypatch):
    if small_blocks:
        # Tiny blocks so the float32 scan, gathering, block streaming and pruning all run.
        monkeypatch.setattr(exact, "BLOCK_ROWS", 64)
        monkeypatch.setattr(exact, "DIRECT_ROWS", 8)
        monkeypatch.setattr(exact, "PRUNE_ROWS", 40)
    rng = np.random.default_rng(20240610 + small_blocks)
    for _ in range(300):
        segments, masks, vectors, live, allowed_all, query, k = random_case(rng)
        found_rows, found_scores = SegmentedVectors(segments).search(query, k, masks)
        expected_rows, expected_scores = brute_force(vectors, live, allowed_all, query, k)
        assert found_rows.dtype == np.int64 and found_scores.dtype == np.float64
        np.testing.assert_array_equal(found_rows, expected_rows)
        np.testing.assert_array_equal(found_scores, expected_scores)


def test_equal_vectors_tie_by_global_row_wherever_they_sit(monkeypatch):
    # OpenBLAS scores identical rows differently depending on their position in a matrix:
    # the exact stage must not, in any segment layout.
    monkeypatch.setattr(exact, "DIRECT_ROWS", 1)
    rng = np.random.default_rng(3)
    dimension = 384
    vector = unit_vectors(1, dimension, rng)[0]
    query = vector + 0.01 * unit_vectors(1, dimension, rng)[0]
    others = unit_vectors(20, dimension, rng) * 0.1
    block = np.vstack([others[:3], vector, vector, others[3:20], vector])  # 23 rows
    segments = [
        DenseSegment(np.tile(vector, (3, 1)), np.ones(3, bool)),  # global rows 0-2
        DenseSegment(np.ascontiguousarray(block), np.ones(23, bool)),  # 3-25
        DenseSegment(np.tile(vector, (5, 1)), np.array([True, False, True, True, True])),
    ]
    rows, scores = SegmentedVectors(segments).search(query, 10)
    assert len(set(scores.tolist())) == 1
    np.testing.assert_array_equal(rows, [0, 1, 2, 6, 7, 25, 26, 28, 29, 30])
    # One segment holding the same live rows (a fresh build) scores them identically.
    fresh = np.vstack([s.vectors[s.live] for s in segments])
    fresh_rows, fresh_scores = SegmentedVectors(
        [DenseSegment(np.ascontiguousarray(fresh), np.ones(fresh.shape[0], bool))]
    ).search(query, 10)
    # The fresh build's rows are the live rows renumbered: row 27 (dead) is gone.
    np.testing.assert_array_equal(fresh_rows, [0, 1, 2, 6, 7, 25, 26, 27, 28, 29])
    np.testing.assert_array_equal(fresh_scores, scores)


@pytest.mark.parametrize("dimension", [7, 64, 384])
def test_ties_across_the_k_boundary_keep_the_lowest_rows(dimension, monkeypatch):
    # Identical rows of one segment, cut by k: BLAS's float32 scores differ in the last bit
    # between them, so without the rounding slack the float32 stage would keep the wrong ones.
    monkeypatch.setattr(exact, "DIRECT_ROWS", 1)
    rng = np.random.default_rng(dimension)
    for size in (3, 5, 7, 9, 17, 33, 130):
        vector, query = unit_vectors(2, dimension, rng)
        index = SegmentedVectors([DenseSegment(np.tile(vector, (size, 1)), np.ones(size, bool))])
        for k in range(1, size):
            rows, scores = index.search(query, k)
            np.testing.assert_array_equal(rows, np.arange(k))
            assert len(set(scores.tolist())) == 1


def test_near_ties_below_float32_resolution_rank_as_float64_does(monkeypatch):
    # Rows a few ulps apart: their float32 scores tie or invert against the float64 ones, so
    # the float32 scan must keep every row within its rounding bound of the k-th.
    monkeypatch.setattr(exact, "DIRECT_ROWS", 1)
    rng = np.random.default_rng(8)
    for dimension in (64, 384):
        base = unit_vectors(1, dimension, rng)[0]
        vectors = np.tile(base, (300, 1))
        for row in range(300):
            columns = rng.integers(0, dimension, size=8)
            vectors[row, columns] = np.nextafter(
                vectors[row, columns], rng.choice([-1.0, 1.0], size=8).astype(np.float32)
            )
        live = np.ones(300, bool)
        index = SegmentedVectors([DenseSegment(vectors, live)])
        for query in unit_vectors(20, dimension, rng):
            for k in (1, 7, 50):
                found = index.search(query, k)
                expected = brute_force(vectors, live, live, query, k)
                np.testing.assert_array_equal(found[0], expected[0])
                np.testing.assert_array_equal(found[1], expected[1])


def test_fewer_results_when_few_pass_and_none_when_nothing_does():
    rng = np.random.default_rng(4)
    vectors = unit_vectors(50, 8, rng)
    live = np.zeros(50, bool)
    live[[3, 9]] = True
    index = SegmentedVectors([DenseSegment(vectors, live)])
    rows, scores = index.search(vectors[0], 10)
    assert sorted(rows.tolist()) == [3, 9] and scores.shape == (2,)
    rows, _ = index.search(vectors[0], 10, [np.zeros(50, bool)])
    assert rows.size == 0
    empty_rows, empty_scores = SegmentedVectors([]).search(np.ones(4, np.float32), 3)
    assert empty_rows.size == 0 and empty_scores.size == 0


def test_memory_mapped_read_only_segments(tmp_path):
    rng = np.random.default_rng(5)
    vectors = unit_vectors(3000, 16, rng)
    np.save(tmp_path / "vectors.npy", vectors)
    mapped = np.load(tmp_path / "vectors.npy", mmap_mode="r")
    assert not mapped.flags.writeable
    live = rng.random(3000) < 0.8
    allowed = rng.random(3000) < 0.5
    index = SegmentedVectors([DenseSegment(mapped, live)])
    query = unit_vectors(1, 16, rng)[0]
    found = index.search(query, 25, [allowed])
    expected = brute_force(vectors, live, allowed, query, 25)
    np.testing.assert_array_equal(found[0], expected[0])
    np.testing.assert_array_equal(found[1], expected[1])


def test_segments_and_arguments_are_checked():
    vectors = np.zeros((4, 3), np.float32)
    live = np.ones(4, bool)
    with pytest.raises(InvalidInputError, match="float32"):
        DenseSegment(vectors.astype(np.float64), live)
    with pytest.raises(InvalidInputError, match="C-contiguous"):
        DenseSegment(np.zeros((3, 4), np.float32).T, live)
    with pytest.raises(InvalidInputError, match="2-D"):
        DenseSegment(np.zeros(4, np.float32), live)
    with pytest.raises(InvalidInputError, match="bool"):
        DenseSegment(vectors, np.ones(4))
    with pytest.raises(InvalidInputError, match="4 rows"):
        DenseSegment(vectors, np.ones(5, bool))
    segment = DenseSegment(vectors, live)
    with pytest.raises(InvalidInputError, match="different dimensions"):
        SegmentedVectors([segment, DenseSegment(np.zeros((2, 5), np.float32), np.ones(2, bool))])
    with pytest.raises(InvalidInputError, match="DenseSegment"):
        SegmentedVectors([vectors])
    with pytest.raises(InvalidInputError, match="ef_search"):
        SegmentedVectors([segment], ef_search=0)
    index = SegmentedVectors([segment])
    with pytest.raises(InvalidInputError, match="shape"):
        index.search(np.ones(4, np.float32), 1)
    with pytest.raises(InvalidInputError, match="NaN"):
        index.search(np.array([1.0, np.nan, 0.0]), 1)
    with pytest.raises(InvalidInputError, match="k must be"):
        index.search(np.ones(3), 0)
    with pytest.raises(InvalidInputError, match="one mask"):
        index.search(np.ones(3), 1, [live, live])
    with pytest.raises(InvalidInputError, match="one mask"):
        index.search(np.ones(3), 1, live)
    with pytest.raises(InvalidInputError, match=r"allowed\[0\]"):
        index.search(np.ones(3), 1, [np.ones(4, np.int8)])


def test_importing_the_module_does_not_load_faiss():
    code = "import sys, hybridsearch.dense.segmented; print('faiss' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"


# -- HNSW -----------------------------------------------------------------------------

HNSW_ROWS, HNSW_DIMENSION = 30_000, 32


@pytest.fixture(scope="module")
def graph_corpus():
    """30k random unit vectors with an HNSW graph (M=32, efConstruction 100), 10% dead."""
    rng = np.random.default_rng(6)
    vectors = unit_vectors(HNSW_ROWS, HNSW_DIMENSION, rng)
    graph = build_hnsw(vectors, VectorSettings(kind="hnsw", hnsw_m=32, ef_construction=100))
    live = rng.random(HNSW_ROWS) >= 0.1
    queries = unit_vectors(60, HNSW_DIMENSION, rng)
    return vectors, live, graph, queries


def graph_method(passing: int) -> str:
    """What method() says of the one graph segment when ``passing`` rows pass."""
    raised = effective_ef_search(128, passing, HNSW_ROWS, 1)
    share = passing / HNSW_ROWS
    return f"hnsw (ef_search 128, raised to {raised} as {share:.0%} of rows pass) with ID selector"


def recall_and_purity(approximate, exact_index, queries, allowed, passing):
    """Mean recall@10 of ``approximate`` against ``exact_index``; checks every row passes."""
    recalls = []
    for query in queries:
        found, _ = approximate.search(query, 10, allowed)
        truth, _ = exact_index.search(query, 10, allowed)
        assert passing[found].all()
        recalls.append(len(set(found.tolist()) & set(truth.tolist())) / len(truth))
    return float(np.mean(recalls))


def test_hnsw_recall_and_never_a_dead_or_filtered_row(graph_corpus):
    vectors, live, graph, queries = graph_corpus
    approximate = SegmentedVectors([DenseSegment(vectors, live, graph)], exact_below=1_000)
    exact_index = SegmentedVectors([DenseSegment(vectors, live)])
    assert approximate.method() == graph_method(int(live.sum()))
    assert recall_and_purity(approximate, exact_index, queries, None, live) >= 0.95
    # A 10%-selective filter: 2,700 passing rows, still through the graph at exact_below 1000.
    allowed = np.random.default_rng(7).random(HNSW_ROWS) < 0.1
    assert approximate.method(allowed=[allowed]) == graph_method(int((live & allowed).sum()))
    assert recall_and_purity(approximate, exact_index, queries, [allowed], live & allowed) >= 0.95
    # Querying with a dead row's own vector never returns it.
    dead_rows = np.flatnonzero(~live)[:20]
    for row in dead_rows:
        found, _ = approximate.search(vectors[row], 10)
        assert row not in found and live[found].all()


def test_hnsw_scores_are_the_exact_scores_of_its_rows(graph_corpus):
    vectors, live, graph, queries = graph_corpus
    approximate = SegmentedVectors([DenseSegment(vectors, live, graph)], exact_below=1_000)
    rows, scores = approximate.search(queries[0], 10)
    expected = (vectors[rows].astype(np.float64) * queries[0].astype(np.float64)).sum(axis=1)
    np.testing.assert_array_equal(scores, expected)
    assert (np.diff(scores) <= 0).all()


def test_few_passing_rows_fall_back_to_exact_and_the_plan_says_so(graph_corpus):
    vectors, live, graph, queries = graph_corpus
    index = SegmentedVectors([DenseSegment(vectors, live, graph)])  # exact_below 20,000
    exact_index = SegmentedVectors([DenseSegment(vectors, live)])
    allowed = np.zeros(HNSW_ROWS, bool)
    allowed[::40] = True  # 750 rows, some dead
    passing = int((allowed & live).sum())
    assert index.method(allowed=[allowed]) == (
        f"exact: {passing} passages pass the filter (below exact_below 20000 in every segment)"
    )
    assert index.method(812).startswith("exact: 812 passages pass the filter")
    for query in queries[:5]:
        found = index.search(query, 10, [allowed])
        expected = exact_index.search(query, 10, [allowed])
        np.testing.assert_array_equal(found[0], expected[0])
        np.testing.assert_array_equal(found[1], expected[1])
    # Unfiltered, 27k live rows >= 20k: the graph, with a selector for the dead rows.
    assert index.method() == graph_method(int(live.sum()))


def test_method_names_the_mixed_and_flat_cases(graph_corpus):
    vectors, _, graph, _ = graph_corpus
    small = DenseSegment(vectors[:100], np.ones(100, bool))
    assert SegmentedVectors([small]).method() == "exact (flat)"
    assert SegmentedVectors([small]).method(40) == "exact (flat): 40 passages pass the filter"
    whole = DenseSegment(vectors, np.ones(HNSW_ROWS, bool), graph)
    assert SegmentedVectors([whole]).method() == "hnsw (ef_search 128)"
    mixed = SegmentedVectors([whole, small], ef_search=64).method()
    assert mixed.startswith("hnsw (ef_search 64) on 1 of 2 segments, exact on the rest")


def test_graph_save_and_load_round_trip(graph_corpus, tmp_path):
    vectors, live, graph, queries = graph_corpus
    path = tmp_path / "segment.hnsw"
    save_hnsw(graph, path)
    for mmap in (True, False):
        loaded = load_hnsw(path, dimension=HNSW_DIMENSION, rows=HNSW_ROWS, mmap=mmap)
        before = SegmentedVectors([DenseSegment(vectors, live, graph)], exact_below=1)
        after = SegmentedVectors([DenseSegment(vectors, live, loaded)], exact_below=1)
        for query in queries[:5]:
            np.testing.assert_array_equal(before.search(query, 10)[0], after.search(query, 10)[0])
    with pytest.raises(IndexFormatError, match="dimension 32 but 16"):
        load_hnsw(path, dimension=16)
    with pytest.raises(IndexFormatError, match="rows 30000 but 5"):
        load_hnsw(path, rows=5)
    with pytest.raises(IndexFormatError, match="does not exist"):
        load_hnsw(tmp_path / "missing.hnsw")
    (tmp_path / "garbage.hnsw").write_bytes(b"not a faiss index")
    with pytest.raises(IndexFormatError, match="not a readable FAISS index"):
        load_hnsw(tmp_path / "garbage.hnsw")


def test_graphs_of_another_kind_or_size_are_refused(graph_corpus, tmp_path):
    import faiss

    vectors, live, graph, _ = graph_corpus
    flat = faiss.IndexFlatIP(HNSW_DIMENSION)
    save_hnsw(flat, tmp_path / "flat.faiss")
    with pytest.raises(IndexFormatError, match="IndexFlat"):
        load_hnsw(tmp_path / "flat.faiss")
    with pytest.raises(InvalidInputError, match="30000 vectors"):
        DenseSegment(vectors[:10], live[:10], graph)
    with pytest.raises(InvalidInputError, match="VectorSettings"):
        build_hnsw(vectors, {"hnsw_m": 8})
    with pytest.raises(InvalidInputError, match="float32"):
        build_hnsw(vectors.astype(np.float64), VectorSettings())


def test_effective_ef_search_grows_as_fewer_rows_pass():
    assert effective_ef_search(128, 1000, 1000, 10) == 128
    assert effective_ef_search(128, 250, 1000, 10) == 256  # 128 / sqrt(0.25)
    assert effective_ef_search(128, 10, 1000, 10) == 1280
    assert effective_ef_search(16, 1000, 1000, 50) == 50  # never below k


def test_max_vector_norm_bounds_the_norms_and_is_cached_per_array():
    vectors = unit_vectors(500, 24, np.random.default_rng(9)) * 3.0
    true_max = float(np.linalg.norm(vectors.astype(np.float64), axis=1).max())
    bound = exact.max_vector_norm(vectors)
    assert true_max <= bound <= true_max * (1 + 1e-4)
    key = id(vectors)
    assert exact._MAX_NORMS[key][1] == bound
    assert exact.max_vector_norm(vectors) == bound
    del vectors
    assert key not in exact._MAX_NORMS  # the entry goes with the array
