"""IVF (inverted file) indexes over one segment's vectors: build, save, load, filtered search.

An IVF index splits the vectors into ``nlist`` cells around k-means centroids and searches
only the ``nprobe`` cells whose centroids are nearest the query. It is FAISS's
``IndexIVFScalarQuantizer`` (8 bits per dimension; ``IndexIVFFlat`` where
``VectorSettings.ivf_codes`` is ``"flat"``, as in indexes written before that setting) with
inner-product metric whose ids are the segment's rows (0..n-1), so a row's id needs no map;
the engine rescores its candidates exactly (float64, from the float32 vectors) as it does a
graph's. Deleted and filtered-out rows stay in their cells and are skipped by an ID selector.

Why 8-bit codes by default: a query's time in IVF is the memory its cells hold (at 1M rows,
nprobe 32 of 2,048 cells reads ~15k vectors: 24 MB as float32, 6 MB as codes), and the codes
only choose the candidates. Measured at 1M "realistic synthetic" vectors (2 cores, one thread;
the top 100 candidates rescored exactly, recall@10 against exact search; one-off scripts):
flat 6.8 / 7.1 / 8.4 ms at nprobe 32 / 48 / 64 (load ~2 from other work), 8-bit codes of the
vectors 2.0 / 2.7 ms at nprobe 48 / 64 (quiet), with the same recall (.972 / .974 in that
run); codes of the residuals from the centroids, FAISS's default, took 4.7 / 5.3 ms, 4- and
6-bit codes 3.4-5.2 ms, fp16 1.8 / 2.6 ms, one 8-bit range for every dimension 1.8 / 2.3 ms
(all with the same recall). The file shrinks from 1.5 GB to ~0.4 GB.

Why beside HNSW: building is k-means on a sample plus one assignment pass (111-161 s for 1M
384-d vectors and 2,048 cells on 2 busy shared cores, against 515 s for an HNSW graph), the
file loads by memory map in a millisecond, and recall does not collapse on clusters of
near-duplicates, where a graph walk has no structure to follow. On the scale benchmark's
noisy-copies vectors at 1M, HNSW M 32 reached recall@10 .81 (ef 128) and IVF .9985 (nprobe
64); on its "realistic synthetic" vectors IVF reached .961 (nprobe 64) and .986 (128); see
``benchmarks/results/scale_ann_*.md``.

Under a filter that lets a fraction f of the rows through, the nearest passing rows lie in
farther cells, so ``nprobe`` is raised by ``1 / sqrt(f)``, as HNSW's efSearch is
(:func:`effective_nprobe`). faiss is imported inside the functions so importing this module
stays cheap.
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

__all__ = [
    "IVF_TYPES",
    "build_ivf",
    "check_ivf",
    "effective_nprobe",
    "ivf_lists_for",
    "load_ivf",
    "save_ivf",
    "search_ivf",
]

#: The FAISS classes an IVF file may hold (``VectorSettings.ivf_codes`` "sq8" and "flat").
IVF_TYPES = ("IndexIVFScalarQuantizer", "IndexIVFFlat")
#: Training points per cell for k-means (FAISS warns below 39; more costs time, not recall).
_TRAIN_POINTS_PER_LIST = 40
#: Rows handed to FAISS per ``add`` call: bounds the copy of a memory map.
_ADD_BLOCK_ROWS = 65_536
#: FAISS's value of METRIC_INNER_PRODUCT, so a check needs no faiss import.
_METRIC_INNER_PRODUCT = 0
#: The seed of the training sample and of k-means: one corpus, one index.
_SEED = 1234
#: k-means iterations (FAISS's default is 25): cells only route the search, and every
#: candidate is rescored exactly, so 10 suffice and save ~60% of the training time.
_KMEANS_ITERATIONS = 10


def ivf_lists_for(rows: int, settings: VectorSettings) -> int:
    """Cells for a segment of ``rows`` vectors: ``4 sqrt(rows)``, at most ``ivf_lists``.

    The usual rule (FAISS's guidelines: 4-16 sqrt(n)), capped by ``ivf_lists`` (default
    2,048: at 1M rows cells of ~490 vectors, the setting measured there). At least 1, and
    never more than the rows can train (40 each).
    """
    wanted = max(1, int(4 * math.sqrt(rows)))
    return max(1, min(wanted, int(settings.ivf_lists), rows // _TRAIN_POINTS_PER_LIST or 1))


def build_ivf(vectors: np.ndarray, settings: VectorSettings) -> Any:
    """Train and fill an inner-product IVF index over ``vectors``; ids are the rows.

    ``IndexIVFScalarQuantizer`` (8 bits per dimension) or ``IndexIVFFlat``, as
    ``settings.ivf_codes`` says. Training runs k-means (seeded, so a rebuild gives the same
    index) on a sample of ``40 * nlist`` rows, sorted so a memory map is read forwards; the
    same sample sets the 8-bit ranges of each dimension.

    Args:
        vectors: float32 (n, dim), finite; a read-only memory map is fine.
        settings: ``ivf_lists`` (the most cells; see :func:`ivf_lists_for`), ``ivf_probe``
            (the index's default nprobe) and ``ivf_codes``.

    Raises:
        InvalidInputError: ``settings`` is not a VectorSettings, or ``vectors`` is not a
            non-empty 2-D float32 array.
    """
    check_build_inputs(vectors, settings, non_empty=True)
    faiss = prepare_faiss()  # passive OpenMP, HYBRIDSEARCH_FAISS_THREADS (dense/threads.py)

    rows, dimension = int(vectors.shape[0]), int(vectors.shape[1])
    lists = ivf_lists_for(rows, settings)
    quantizer = faiss.IndexFlatIP(dimension)
    if settings.ivf_codes == "sq8":
        # Codes of the vectors themselves, not of their residuals from the cell's centroid:
        # the same candidates after rescoring, and half the time per query (see above).
        index = faiss.IndexIVFScalarQuantizer(
            quantizer,
            dimension,
            lists,
            faiss.ScalarQuantizer.QT_8bit,
            faiss.METRIC_INNER_PRODUCT,
            False,  # by_residual
        )
    else:
        index = faiss.IndexIVFFlat(quantizer, dimension, lists, faiss.METRIC_INNER_PRODUCT)
    index.cp.seed = _SEED
    index.cp.niter = _KMEANS_ITERATIONS
    sample_size = min(rows, _TRAIN_POINTS_PER_LIST * lists)
    sample = np.sort(np.random.default_rng(_SEED).choice(rows, sample_size, replace=False))
    index.train(np.ascontiguousarray(vectors[sample]))
    for start in range(0, rows, _ADD_BLOCK_ROWS):
        index.add(np.ascontiguousarray(vectors[start : start + _ADD_BLOCK_ROWS]))
    index.nprobe = min(int(settings.ivf_probe), lists)
    return index


def save_ivf(index: Any, path: str | os.PathLike[str]) -> None:
    """Write an IVF index to one file with ``faiss.write_index`` (no pickle).

    Raises:
        IndexFormatError: The file cannot be written (the message names it).
    """
    write_faiss_file(index, path, "IVF index")


def load_ivf(
    path: str | os.PathLike[str],
    *,
    dimension: int | None = None,
    rows: int | None = None,
    mmap: bool = True,
) -> Any:
    """Read an index written by :func:`save_ivf`.

    Args:
        path: The file.
        dimension: If given, the vectors' expected dimension.
        rows: If given, the expected number of rows (the segment's size).
        mmap: Map the inverted lists rather than read them (``faiss.IO_FLAG_MMAP``): loading
            takes about a millisecond and the cells stay out of resident memory until
            searches touch them. The file must then stay in place while in use (segment
            files never change).

    Raises:
        IndexFormatError: The file is missing or unreadable, is not an inner-product
            IndexIVFScalarQuantizer or IndexIVFFlat, or has another dimension or size than
            expected (both named).
    """
    faiss = prepare_faiss()
    flags = (faiss.IO_FLAG_MMAP | faiss.IO_FLAG_READ_ONLY) if mmap else 0
    return read_typed_faiss_file(
        Path(path), "IVF index file", flags, IVF_TYPES, dimension, rows
    )


def check_ivf(index: Any, rows: int, dimension: int) -> None:
    """Refuse an IVF index that cannot be a segment's: wrong metric, dimension or size.

    Raises:
        InvalidInputError: The index's metric, dimension or size is not the segment's.
    """
    metric = getattr(index, "metric_type", None)
    if metric != _METRIC_INNER_PRODUCT or not hasattr(index, "nlist"):
        raise InvalidInputError(f"ivf must be an inner-product FAISS IVF index, got {index!r}")
    if int(index.d) != dimension or int(index.ntotal) != rows:
        raise InvalidInputError(
            f"ivf holds {index.ntotal} vectors of dimension {index.d}, but the segment has "
            f"{rows} rows of dimension {dimension}"
        )


def effective_nprobe(nprobe: int, passing: int, rows: int, lists: int) -> int:
    """The cells searched when ``passing`` of ``rows`` may be returned.

    ``nprobe / sqrt(passing / rows)``, at most every cell.
    """
    fraction = passing / rows if rows else 1.0
    raised = math.ceil(nprobe / math.sqrt(fraction)) if fraction < 1.0 else nprobe
    return max(1, min(raised, lists))


def search_ivf(
    index: Any, query: np.ndarray, k: int, nprobe: int, passing: np.ndarray | None
) -> np.ndarray:
    """Rows of the (about) k best vectors in the ``nprobe`` nearest cells, passing rows only.

    Args:
        index: An index from :func:`build_ivf` or :func:`load_ivf`.
        query: float32 (dim,).
        k: How many rows.
        nprobe: Cells to search (see :func:`effective_nprobe`).
        passing: bool (n,) of the rows that may be returned; None: all of them.

    Returns:
        int64 rows, distinct, in no particular order; every one passes.
    """
    import faiss

    params = faiss.SearchParametersIVF()
    params.nprobe = int(nprobe)
    if passing is not None:
        # Bit (row % 8) of byte (row // 8), least significant first: FAISS's bitmap layout.
        bitmap = np.packbits(passing, bitorder="little")
        params.sel = faiss.IDSelectorBitmap(bitmap)  # keeps a reference to bitmap
    _, ids = index.search(np.ascontiguousarray(query[None, :]), k, params=params)
    rows = ids[0][ids[0] >= 0].astype(np.int64)
    if passing is not None:
        rows = rows[passing[rows]]  # independent of FAISS: nothing failing is ever returned
    return np.unique(rows)
