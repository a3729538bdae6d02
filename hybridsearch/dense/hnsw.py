"""HNSW graphs over one segment's vectors: build, save, load, and filtered graph search.

A graph is a FAISS ``IndexHNSWFlat`` with inner-product metric whose ids are the segment's
rows (0..n-1), so a row's id needs no map. Deleted and filtered-out rows stay in the graph
(segments never change); a search skips them with an ID selector, a bitmap over rows that
FAISS tests during the graph walk, so they still route the walk but are never returned.

A selector that passes only a fraction of the rows lowers recall at a given ``efSearch``
(measured on 30k random 64-d unit vectors, M=32, ef 128: recall@10 0.98 unfiltered, 0.92 at
10% passing, 0.87 at 5%). Raising ``efSearch`` by ``1 / sqrt(fraction)`` brought it back to
>= 0.986 at every fraction tried (50% .. 5%) for about 3-5x the time, so that is what
:func:`search_hnsw` does; callers send filters that leave few rows to exact search instead.

faiss is imported inside the functions so importing this module stays cheap.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import numpy as np

from hybridsearch.dense.threads import prepare_faiss
from hybridsearch.dense.vectors import (
    VectorSettings,
    check_build_inputs,
    read_typed_faiss_file,
    write_faiss_file,
)
from hybridsearch.errors import InvalidInputError

__all__ = ["build_hnsw", "effective_ef_search", "load_hnsw", "save_hnsw", "search_hnsw"]

#: Rows handed to FAISS per ``add`` call while building: bounds the copy of a memory map.
_ADD_BLOCK_ROWS = 65_536

#: FAISS's value of METRIC_INNER_PRODUCT, so a check needs no faiss import.
_METRIC_INNER_PRODUCT = 0


def build_hnsw(vectors: np.ndarray, settings: VectorSettings) -> Any:
    """Build an inner-product HNSW graph over ``vectors`` whose ids are the rows.

    Args:
        vectors: float32 (n, dim), finite (a read-only memory map is fine: it is read in
            blocks of 65,536 rows).
        settings: ``hnsw_m``, ``ef_construction`` and ``ef_search`` (the graph's default;
            :class:`SegmentedVectors` passes its own per search). ``kind`` is not consulted.

    Returns:
        A ``faiss.IndexHNSWFlat``.

    Raises:
        InvalidInputError: ``settings`` is not a VectorSettings, or ``vectors`` is not a 2-D
            float32 array.
    """
    check_build_inputs(vectors, settings)
    faiss = prepare_faiss()  # passive OpenMP, HYBRIDSEARCH_FAISS_THREADS (dense/threads.py)

    index = faiss.IndexHNSWFlat(
        int(vectors.shape[1]), int(settings.hnsw_m), faiss.METRIC_INNER_PRODUCT
    )
    index.hnsw.efConstruction = int(settings.ef_construction)
    index.hnsw.efSearch = int(settings.ef_search)
    for start in range(0, vectors.shape[0], _ADD_BLOCK_ROWS):
        # No copy for a C-contiguous block (a memmap slice is); FAISS copies into the graph.
        index.add(np.ascontiguousarray(vectors[start : start + _ADD_BLOCK_ROWS]))
    return index


def save_hnsw(index: Any, path: str | os.PathLike[str]) -> None:
    """Write a graph to one file with ``faiss.write_index`` (FAISS's own format, no pickle).

    Raises:
        IndexFormatError: The file cannot be written (the message names it).
    """
    write_faiss_file(index, path, "HNSW graph")


def load_hnsw(
    path: str | os.PathLike[str],
    *,
    dimension: int | None = None,
    rows: int | None = None,
    mmap: bool = True,
) -> Any:
    """Read a graph written by :func:`save_hnsw`.

    Args:
        path: The file.
        dimension: If given, the vectors' expected dimension.
        rows: If given, the expected number of rows (the segment's size).
        mmap: Map the file rather than read it (``faiss.IO_FLAG_MMAP_IFC``): loading takes
            about a millisecond and the graph and its vectors stay out of resident memory
            until searches touch them. The file must then stay in place while in use.

    Raises:
        IndexFormatError: The file is missing or unreadable, is not an inner-product
            IndexHNSWFlat, or has another dimension or size than expected (both named).
    """
    faiss = prepare_faiss()

    flags = faiss.IO_FLAG_MMAP_IFC if mmap else 0
    return read_typed_faiss_file(
        Path(path), "HNSW graph file", flags, "IndexHNSWFlat", dimension, rows
    )


def check_graph(index: Any, rows: int, dimension: int) -> None:
    """Refuse a graph that cannot be a segment's: wrong metric, dimension or size.

    Raises:
        InvalidInputError: The graph's metric, dimension or size is not the segment's.
    """
    metric = getattr(index, "metric_type", None)
    if metric != _METRIC_INNER_PRODUCT:
        raise InvalidInputError(f"hnsw must be an inner-product FAISS index, got metric {metric}")
    if int(index.d) != dimension or int(index.ntotal) != rows:
        raise InvalidInputError(
            f"hnsw holds {index.ntotal} vectors of dimension {index.d}, but the segment has "
            f"{rows} rows of dimension {dimension}"
        )


def effective_ef_search(ef_search: int, passing: int, rows: int, k: int) -> int:
    """The ``efSearch`` used when ``passing`` of a graph's ``rows`` may be returned.

    ``ef_search / sqrt(passing / rows)``, at least ``k`` (FAISS does not raise ef to k itself,
    and returns fewer than k results below it).
    """
    fraction = passing / rows if rows else 1.0
    raised = math.ceil(ef_search / math.sqrt(fraction)) if fraction < 1.0 else ef_search
    return max(raised, k)


def search_hnsw(
    index: Any, query: np.ndarray, k: int, ef_search: int, passing: np.ndarray | None
) -> np.ndarray:
    """Rows of the (about) k best graph neighbours of ``query`` among the passing rows.

    Args:
        index: A graph from :func:`build_hnsw` or :func:`load_hnsw`.
        query: float32 (dim,).
        k: How many rows.
        ef_search: The candidate list size (see :func:`effective_ef_search`).
        passing: bool (n,) of the rows that may be returned; None: all of them.

    Returns:
        int64 rows, distinct, in no particular order; every one passes.
    """
    import faiss

    params = faiss.SearchParametersHNSW()
    params.efSearch = int(ef_search)
    if passing is not None:
        # Bit (row % 8) of byte (row // 8), least significant first: FAISS's bitmap layout.
        bitmap = np.packbits(passing, bitorder="little")
        params.sel = faiss.IDSelectorBitmap(bitmap)  # keeps a reference to bitmap
    _, ids = index.search(np.ascontiguousarray(query[None, :]), k, params=params)
    rows = ids[0][ids[0] >= 0].astype(np.int64)
    if passing is not None:
        # The selector already skips them; checking again costs nothing and makes "a dead
        # or filtered-out row is never returned" independent of FAISS.
        rows = rows[passing[rows]]
    return np.unique(rows)
