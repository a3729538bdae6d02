"""Exact inner-product search over one segment, with scores that depend on a row alone.

float32 scores are not a function of a row alone: BLAS gives identical vectors different scores
depending on where they sit in a matrix (OpenBLAS's sgemv uses another kernel for the rows left
over after blocks of four), and near-equal rows can swap order in float32. Ties would be ordered
by accident, and a segmented index would not match a fresh build. So the search runs
in two stages. A float32 scan (blocks of :data:`BLOCK_ROWS` rows, so memory stays bounded
on a memory map of any size) keeps every row whose score could be in the top k given the
float32 rounding bound; only those rows are then scored again by :func:`exact_scores`, in
float64, a function of the row's values alone. The float64 scores are the ones returned.

When few rows pass a filter they are gathered and only they are scored: at most
:data:`DIRECT_ROWS` go straight to float64; up to :data:`GATHER_FRACTION` of the segment are
gathered into blocks for the float32 scan; more than that are scanned in place with a mask.
"""

from __future__ import annotations

import math
import weakref

import numpy as np

__all__ = [
    "BLOCK_ROWS",
    "DIRECT_ROWS",
    "GATHER_FRACTION",
    "best_first",
    "exact_candidates",
    "exact_scores",
    "max_vector_norm",
]

#: Rows per float32 scan block: 65,536 x 384 floats is 96 MiB of reads, 256 KiB of scores.
BLOCK_ROWS = 65_536
#: At most this many passing rows (or k, if larger) are scored in float64 directly.
DIRECT_ROWS = 4_096
#: Below this fraction of a segment passing, the passing rows are gathered before scoring.
GATHER_FRACTION = 0.15
#: The candidate pool is pruned to the current top k (plus slack) once it holds this many rows
#: (or 8 k, if more).
PRUNE_ROWS = 8_192
#: Unit roundoff of float32.
_FLOAT32_EPS = 2.0**-24
#: id(vectors) -> (weak reference to them, max_vector_norm bound).
_MAX_NORMS: dict[int, tuple[weakref.ref, float]] = {}


def float32_scores(block: np.ndarray, query32: np.ndarray) -> np.ndarray:
    """float32 inner products of each row of ``block`` with ``query32`` (the scan stage).

    FAISS's ``fvec_inner_products_ny`` (its flat index's kernel) runs ~25% faster than
    numpy's sgemv over a 384-d memory map at one thread (78 vs 103 ms per 1M rows here).
    """
    import faiss

    block = np.ascontiguousarray(block)  # a memmap slice or gathered rows: no copy
    scores = np.empty(block.shape[0], dtype=np.float32)
    if block.shape[0]:
        faiss.fvec_inner_products_ny(
            faiss.swig_ptr(scores),
            faiss.swig_ptr(query32),
            faiss.swig_ptr(block),
            block.shape[1],
            block.shape[0],
        )
    return scores


def exact_scores(vectors: np.ndarray, rows: np.ndarray, query64: np.ndarray) -> np.ndarray:
    """float64 inner products of ``vectors[rows]`` with ``query64``, each from its row alone.

    numpy reduces each row of the product separately, in the same order whatever the row's
    position, so equal rows get equal scores (BLAS does not guarantee that). float32 products
    are exact in float64, so only the sum rounds, at ~1e-16.
    """
    gathered = np.asarray(vectors[rows], dtype=np.float64)
    return (gathered * query64).sum(axis=1)


def best_first(rows: np.ndarray, scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The k best (rows, scores): higher score first, equal scores by row ascending."""
    if scores.size > k:
        kth = np.partition(scores, scores.size - k)[scores.size - k]
        keep = scores >= kth  # every row tied with the k-th stays, for the row order
        rows, scores = rows[keep], scores[keep]
    order = np.lexsort((rows, -scores))[:k]
    return rows[order], scores[order]


def max_vector_norm(vectors: np.ndarray) -> float:
    """An upper bound on the largest row norm of ``vectors``, computed once per array.

    Squared norms are summed in float32 (a float64 copy of a large memory map would take
    seconds); their relative error is at most about ``dim * 2^-24``, which the result is
    rounded up by, twice over. Segments never change, so the bound is cached for as long as
    the array object lives: snapshots that share a segment's memory map read it only once.
    """
    key = id(vectors)
    cached = _MAX_NORMS.get(key)
    if cached is not None and cached[0]() is vectors:
        return cached[1]
    largest = 0.0
    for start in range(0, vectors.shape[0], BLOCK_ROWS):
        block = vectors[start : start + BLOCK_ROWS]
        if block.size:
            largest = max(largest, float(np.einsum("ij,ij->i", block, block).max()))
    bound = math.sqrt(largest * (1.0 + 4.0 * (vectors.shape[1] + 2) * _FLOAT32_EPS))
    # Keyed by id with a weak reference (arrays are unhashable); the entry goes with the array.
    _MAX_NORMS[key] = (weakref.ref(vectors), bound)
    weakref.finalize(vectors, _MAX_NORMS.pop, key, None)
    return bound


def float32_slack(dimension: int, max_norm: float, query_norm: float) -> float:
    """Twice a bound on |float32 score - float64 score| for any row of a segment.

    A float32 dot product of length d, summed in any order (with or without FMA), is within
    ``gamma_d * sum|v_i q_i| <= gamma_d * |v| |q|`` of the true value, gamma_d = d u / (1 - d u);
    the float64 score is ~2^29 times closer. Two scores are compared: twice that, plus room.
    """
    d_u = (dimension + 2) * _FLOAT32_EPS
    return 2.0 * 1.01 * d_u / (1.0 - d_u) * max_norm * query_norm


class _Candidates:
    """Rows whose float32 score may be in the top k, pruned as blocks stream in.

    Keeps every row scoring >= (k-th best float32 score seen so far) - slack. The k-th best
    seen never exceeds the final k-th best, and a row of the true top k scores at least the
    final k-th best - slack in float32, so no row of the top k is ever dropped.
    """

    def __init__(self, k: int, slack: float) -> None:
        self._k, self._slack = k, slack
        self._floor = -math.inf
        self._rows: list[np.ndarray] = []
        self._scores: list[np.ndarray] = []
        self._count = 0

    def add(self, rows: np.ndarray, scores: np.ndarray) -> None:
        if self._floor > -math.inf:
            keep = scores >= self._floor - self._slack
            rows, scores = rows[keep], scores[keep]
        self._rows.append(rows)
        self._scores.append(scores)
        self._count += rows.size
        if self._count > max(8 * self._k, PRUNE_ROWS):
            self._prune()

    def _prune(self) -> None:
        if not self._rows:
            return
        rows, scores = np.concatenate(self._rows), np.concatenate(self._scores)
        if scores.size > self._k:
            self._floor = float(np.partition(scores, scores.size - self._k)[scores.size - self._k])
            keep = scores >= self._floor - self._slack
            rows, scores = rows[keep], scores[keep]
        self._rows, self._scores, self._count = [rows], [scores], rows.size

    def rows(self) -> np.ndarray:
        """The surviving rows, ascending (a memory map reads them in order)."""
        self._prune()
        return np.sort(self._rows[0]) if self._rows else np.empty(0, dtype=np.int64)


def exact_candidates(
    vectors: np.ndarray,
    passing: np.ndarray | None,
    passing_count: int,
    query32: np.ndarray,
    k: int,
) -> np.ndarray:
    """Rows of a segment that may be in its exact top k; every row of that top k is among them.

    Args:
        vectors: The segment's float32 (n, dim) vectors.
        passing: bool (n,) of the rows that may be returned; None: all.
        passing_count: How many rows pass.
        query32: float32 (dim,).
        k: How many results the caller keeps.

    Returns:
        int64 rows, ascending; all of them pass.
    """
    size = int(vectors.shape[0])
    if passing_count <= max(DIRECT_ROWS, k):
        return np.arange(size, dtype=np.int64) if passing is None else np.flatnonzero(passing)
    max_norm = max_vector_norm(vectors)  # one pass over the segment, the first time only
    slack = float32_slack(int(vectors.shape[1]), max_norm, float(np.linalg.norm(query32)))
    candidates = _Candidates(k, slack)
    if passing is not None and passing_count < GATHER_FRACTION * size:
        passing_rows = np.flatnonzero(passing)
        for start in range(0, passing_rows.size, BLOCK_ROWS):
            rows = passing_rows[start : start + BLOCK_ROWS]
            candidates.add(rows, float32_scores(np.asarray(vectors[rows]), query32))
        return candidates.rows()
    for start in range(0, size, BLOCK_ROWS):
        stop = min(start + BLOCK_ROWS, size)
        scores = float32_scores(vectors[start:stop], query32)
        if passing is None:
            candidates.add(np.arange(start, stop, dtype=np.int64), scores)
        else:
            local = np.flatnonzero(passing[start:stop])
            candidates.add(local + start, scores[local])
    return candidates.rows()
