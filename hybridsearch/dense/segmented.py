"""Vector search over the segments of a living index: exact by default, HNSW where it pays.

Each segment holds float32 vectors (usually a read-only memory map), a ``live`` mask (deleted
rows are dead; segments never change), and optionally an HNSW graph over its rows. A search
returns **global rows** (the sizes of the segments before, dead rows included, plus the row
in the segment), only rows that are live and allowed by the filter, best first, equal scores
by global row ascending.

Exact search (:mod:`hybridsearch.dense.exact`) returns float64 scores that depend on a row's
values alone, so a segmented search equals one brute-force ranking of all live allowed rows
exactly (rows, order, scores), however the rows are split into segments. A segment with a
graph and at least ``exact_below`` live allowed rows is searched through the graph with an ID
selector (:mod:`hybridsearch.dense.hnsw`), and its hits are rescored the same exact way;
fewer go exact, and :meth:`SegmentedVectors.method` says which. A segment with an IVF index
(:mod:`hybridsearch.dense.ivf`) is searched the same way through its nearest cells.

Measured here (2 shared cores; numpy, OpenBLAS and FAISS at one thread; vectors 384-d
float32, memory-mapped and in the page cache; p50 ms per query, k=10; a throwaway script):

- Exact, 1M random unit vectors: 85 ms (FAISS IndexFlatIP over the same rows in RAM: 82;
  numpy sgemv alone: 103); 10% of rows dead: 84-88; 10%-selective filter (rows gathered):
  48-50; 1%-selective: 4.5-5.5. The first float32 scan of a segment array also reads it
  once for its largest norm: 0.2 s per 1M rows.
- HNSW, M=32, efConstruction 200, built on 200k rows (the 1M build was not run: 200k took
  460-520 s on 2 shared cores, so 1M would take ~45 min). Recall@10 against exact:

  ======================================  ======  =============  =============
  200k rows (exact: 22-25 ms)             filter  ef 64          ef 128
  ======================================  ======  =============  =============
  random unit vectors                     none    1.2 ms, 0.12   2.1 ms, 0.19
  random unit vectors                     10%     3.4 ms, 0.23   6.0 ms, 0.42
  Gaussian, real embeddings' covariance   none    0.7 ms, 0.80   1.2 ms, 0.90
  Gaussian, real embeddings' covariance   10%     1.8 ms, 0.89   3.0 ms, 0.96
  real scifact passages (17k rows)        none    0.25 ms, 0.997 0.32 ms, 0.998
  real scifact passages (17k rows)        10%     0.48 ms, 1.0   0.81 ms, 1.0
  ======================================  ======  =============  =============

  Under the 10% filter ef is raised automatically (to ~200 and ~400, see
  :func:`hybridsearch.dense.hnsw.effective_ef_search`).

  Isotropic random 384-d vectors have no neighbourhood structure and defeat HNSW (ef 1024:
  0.75); the Gaussian with the covariance of 17k real passage embeddings reached 0.965 at
  ef 256 (2.1 ms) and 0.989 at ef 512 (3.8 ms). Real embeddings are easier still. At 1M
  expect HNSW query times ~1.3-1.5x these (graph depth grows with log n) and recall at a
  given ef a little lower; exact search grows linearly (85 ms above).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from hybridsearch.dense.exact import best_first, exact_candidates, exact_scores
from hybridsearch.dense.hnsw import (
    build_hnsw,
    check_graph,
    effective_ef_search,
    load_hnsw,
    save_hnsw,
    search_hnsw,
)
from hybridsearch.dense.ivf import check_ivf, effective_nprobe, search_ivf
from hybridsearch.errors import InvalidInputError
from hybridsearch.validation import positive_int

__all__ = ["DenseSegment", "SegmentedVectors", "build_hnsw", "load_hnsw", "save_hnsw"]


@dataclass(frozen=True)
class DenseSegment:
    """One segment's vectors, which rows are live, and optionally an HNSW graph or IVF index.

    Attributes:
        vectors: float32 (n, dim), C-contiguous; often a read-only ``np.memmap``.
        live: bool (n,): False for rows of deleted documents.
        hnsw: A FAISS inner-product HNSW graph whose ids are the rows, or None.
        ivf: A FAISS inner-product IVF index whose ids are the rows
            (:mod:`hybridsearch.dense.ivf`), or None. At most one of ``hnsw`` and ``ivf``.

    Raises:
        InvalidInputError: Wrong dtype, shape or layout, or a graph of another size.
    """

    vectors: np.ndarray
    live: np.ndarray
    hnsw: Any | None = None
    ivf: Any | None = None

    def __post_init__(self) -> None:
        vectors, live = self.vectors, self.live
        if not isinstance(vectors, np.ndarray) or vectors.ndim != 2:
            raise InvalidInputError(
                f"vectors must be a 2-D array (n, dim), got {getattr(vectors, 'shape', vectors)}"
            )
        # No silent conversion: a copy of a memory-mapped segment would defeat the map.
        if vectors.dtype != np.float32 or not vectors.flags.c_contiguous:
            raise InvalidInputError(
                f"vectors must be C-contiguous float32, got {vectors.dtype} "
                f"(C-contiguous: {vectors.flags.c_contiguous})"
            )
        if not isinstance(live, np.ndarray) or live.dtype != np.bool_:
            raise InvalidInputError(
                f"live must be a bool array, got {getattr(live, 'dtype', type(live).__name__)}"
            )
        if live.shape != (vectors.shape[0],):
            raise InvalidInputError(
                f"live has shape {live.shape} but the segment has {vectors.shape[0]} rows"
            )
        if self.hnsw is not None:
            check_graph(self.hnsw, vectors.shape[0], vectors.shape[1])
        if self.ivf is not None:
            if self.hnsw is not None:
                raise InvalidInputError("a segment has an HNSW graph or an IVF index, not both")
            check_ivf(self.ivf, vectors.shape[0], vectors.shape[1])

    @property
    def size(self) -> int:
        """Rows in the segment, dead ones included."""
        return int(self.vectors.shape[0])


class SegmentedVectors:
    """Search over several immutable segments, exact by default, honouring deletes and filters.

    Args:
        segments: The segments in index order (global rows follow this order).
        ef_search: HNSW candidate list size (raised for filters, and to at least k).
        ivf_probe: IVF cells searched per query (raised for filters).
        exact_below: A segment with a graph is still searched exactly when fewer of its rows
            than this are live and allowed.

    Thread-safe: searches share nothing mutable but a cache of each segment's largest vector
    norm (:func:`hybridsearch.dense.exact.max_vector_norm`, computed on the first float32
    scan of that array).
    """

    def __init__(
        self,
        segments: Sequence[DenseSegment],
        *,
        ef_search: int = 128,
        exact_below: int = 20_000,
        ivf_probe: int = 64,
    ) -> None:
        self._segments = tuple(segments)
        for position, segment in enumerate(self._segments):
            if not isinstance(segment, DenseSegment):
                raise InvalidInputError(
                    f"segment {position} is a {type(segment).__name__}, expected a DenseSegment"
                )
        dimensions = {int(segment.vectors.shape[1]) for segment in self._segments}
        if len(dimensions) > 1:
            raise InvalidInputError(f"segments have different dimensions: {sorted(dimensions)}")
        self._dimension = dimensions.pop() if dimensions else None
        self._ef_search = positive_int("ef_search", ef_search)
        self._exact_below = positive_int("exact_below", exact_below)
        self._ivf_probe = positive_int("ivf_probe", ivf_probe)
        sizes = [segment.size for segment in self._segments]
        self._offsets = np.concatenate([[0], np.cumsum(sizes, dtype=np.int64)]).astype(np.int64)

    @property
    def segments(self) -> tuple[DenseSegment, ...]:
        """The segments, in index order."""
        return self._segments

    @property
    def dimension(self) -> int | None:
        """The vectors' dimension; None when there are no segments."""
        return self._dimension

    @property
    def offsets(self) -> np.ndarray:
        """int64 (segments + 1,): global row of each segment's first row, then the total."""
        return self._offsets.copy()

    # -- search --------------------------------------------------------------------------

    def search(
        self,
        query_vector: np.ndarray,
        k: int,
        allowed: Sequence[np.ndarray | None] | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """The k best live, allowed rows for one query: (global rows int64, scores float64).

        Best first; equal scores by global row ascending; fewer than k when fewer pass. The
        query is rounded to float32, as the vectors are, and scores are its inner products
        with them computed in float64 (identical to a brute-force ranking of the same rows).

        Args:
            query_vector: float (dim,), finite.
            k: How many results, >= 1.
            allowed: None (no filter), or one entry per segment: None (all rows) or a bool
                (n,) mask of the rows the filter lets through.

        Raises:
            InvalidInputError: A wrong query, k, or masks.
        """
        k = positive_int("k", k)
        query32 = self._check_query(query_vector)
        masks = self._passing_masks(allowed)
        query64 = query32.astype(np.float64)
        found_rows, found_scores = [], []
        for position, (segment, mask) in enumerate(zip(self._segments, masks, strict=True)):
            passing = segment.size if mask is None else int(np.count_nonzero(mask))
            if passing == 0:
                continue
            if self._uses_graph(segment, passing) and segment.ivf is not None:
                lists = int(segment.ivf.nlist)
                nprobe = effective_nprobe(self._ivf_probe, passing, segment.size, lists)
                rows = search_ivf(segment.ivf, query32, k, nprobe, mask)
            elif self._uses_graph(segment, passing):
                ef = effective_ef_search(self._ef_search, passing, segment.size, k)
                rows = search_hnsw(segment.hnsw, query32, k, ef, mask)
            else:
                rows = exact_candidates(segment.vectors, mask, passing, query32, k)
            rows, scores = best_first(rows, exact_scores(segment.vectors, rows, query64), k)
            found_rows.append(rows + self._offsets[position])
            found_scores.append(scores)
        if not found_rows:
            return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float64)
        return best_first(np.concatenate(found_rows), np.concatenate(found_scores), k)

    def _check_query(self, query_vector: Any) -> np.ndarray:
        try:
            query = np.asarray(query_vector, dtype=np.float32)
        except (TypeError, ValueError) as error:
            raise InvalidInputError(f"query_vector must be numeric: {error}") from error
        if query.ndim != 1 or (self._dimension is not None and query.shape[0] != self._dimension):
            raise InvalidInputError(
                f"query_vector must have shape ({self._dimension},), got {query.shape}"
            )
        if not np.isfinite(query).all():
            raise InvalidInputError("query_vector holds NaN or infinite values")
        return np.ascontiguousarray(query)

    def _passing_masks(
        self, allowed: Sequence[np.ndarray | None] | None
    ) -> list[np.ndarray | None]:
        """Per segment: bool mask of live and allowed rows, or None when every row passes."""
        if allowed is None:
            allowed = [None] * len(self._segments)
        elif isinstance(allowed, np.ndarray) or len(allowed) != len(self._segments):
            raise InvalidInputError(
                f"allowed must hold one mask (or None) per segment: {len(self._segments)} "
                f"expected, got {'an array' if isinstance(allowed, np.ndarray) else len(allowed)}"
            )
        masks: list[np.ndarray | None] = []
        for position, (segment, mask) in enumerate(zip(self._segments, allowed, strict=True)):
            if mask is not None:
                mask = np.asarray(mask)
                if mask.dtype != np.bool_ or mask.shape != (segment.size,):
                    raise InvalidInputError(
                        f"allowed[{position}] must be a bool array of shape ({segment.size},), "
                        f"got {mask.dtype} {mask.shape}"
                    )
            passing = segment.live if mask is None else segment.live & mask
            masks.append(None if passing.all() else passing)
        return masks

    def _uses_graph(self, segment: DenseSegment, passing: int) -> bool:
        """A segment is searched through its graph (or IVF index) when it has one and enough
        rows pass."""
        approximate = segment.hnsw is not None or segment.ivf is not None
        return approximate and passing >= self._exact_below

    # -- the plan --------------------------------------------------------------------------

    def method(
        self,
        allowed_count: int | None = None,
        *,
        allowed: Sequence[np.ndarray | None] | None = None,
    ) -> str:
        """Which search runs and why, in words for the plan.

        Args:
            allowed_count: How many passages pass the filter (None: no filter).
            allowed: The filter's masks, as given to :meth:`search`: with them the answer is
                exactly the per-segment choice search makes; without, it is derived from
                ``allowed_count`` and the live rows.

        Examples: ``"exact (flat)"``, ``"exact: 812 passages pass the filter"``,
        ``"hnsw (ef_search 128) with ID selector"``.
        """
        if allowed is not None:
            masks = self._passing_masks(allowed)
            counts = [
                segment.size if mask is None else int(np.count_nonzero(mask))
                for segment, mask in zip(self._segments, masks, strict=True)
            ]
            allowed_count = sum(counts) if allowed_count is None else allowed_count
        else:
            # Without the masks, the live rows bound what passes in each segment.
            counts = [int(np.count_nonzero(segment.live)) for segment in self._segments]
            if allowed_count is not None:
                counts = [min(count, allowed_count) for count in counts]
        if all(s.hnsw is None and s.ivf is None for s in self._segments):
            if allowed_count is None:
                return "exact (flat)"
            return f"exact (flat): {allowed_count} passages pass the filter"
        return self._describe(counts, allowed_count)

    def _describe(self, counts: list[int], allowed_count: int | None) -> str:
        """Words for the per-segment choice of graph or exact search."""
        if allowed_count is None:
            what = f"{sum(counts)} live passages"
        else:
            what = f"{allowed_count} passages pass the filter"
        used = [
            (segment, count)
            for segment, count in zip(self._segments, counts, strict=True)
            if self._uses_graph(segment, count)
        ]
        if not used:
            return f"exact: {what} (below exact_below {self._exact_below} in every segment)"
        graph = self._approximate_words(used)
        if allowed_count is not None or any(count < segment.size for segment, count in used):
            graph += " with ID selector"
        if len(used) == len(self._segments):
            return graph
        return (
            f"{graph} on {len(used)} of {len(self._segments)} segments, exact on the rest (no "
            f"graph, or fewer than {self._exact_below} passing); {what}"
        )

    def _approximate_words(self, used: list[tuple[DenseSegment, int]]) -> str:
        """``hnsw (ef_search ..)`` and/or ``ivf (nprobe .. of .. cells)``, with any raise."""
        share = min(count / segment.size for segment, count in used)
        words = []
        graphs = [(s, n) for s, n in used if s.hnsw is not None]
        if graphs:
            raised = max(effective_ef_search(self._ef_search, n, s.size, 1) for s, n in graphs)
            words.append(f"hnsw (ef_search {self._ef_search}")
            if raised > self._ef_search:
                words[-1] += f", raised to {raised} as {share:.0%} of rows pass"
            words[-1] += ")"
        inverted = [(s, n) for s, n in used if s.ivf is not None]
        if inverted:
            lists = max(int(s.ivf.nlist) for s, _ in inverted)
            probe = min(self._ivf_probe, lists)
            raised = max(effective_nprobe(self._ivf_probe, n, s.size, int(s.ivf.nlist))
                         for s, n in inverted)
            words.append(f"ivf (nprobe {probe} of {lists} cells")
            if raised > probe:
                words[-1] += f", raised to {raised} as {share:.0%} of rows pass"
            words[-1] += ", candidates rescored exactly)"
        return " + ".join(words)
