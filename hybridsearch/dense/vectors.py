"""Vector index: FAISS inner-product search over normalised vectors, keyed by int64 ids.

Exact search (``IndexFlatIP``) is the default: on normalised vectors inner product is cosine
similarity, and a flat scan of a few hundred thousand 384-d vectors takes milliseconds. HNSW
(``IndexHNSWFlat``) trades a little recall for sub-linear search on large corpora. Both are
wrapped in ``IndexIDMap2`` so callers address vectors by their own ids (passage ids) and ids
survive a save/load round trip.

FAISS parallelises batch searches with OpenMP. How many threads it uses is process-wide state
(``faiss.omp_set_num_threads``), so this module never changes it: for single-query latency on a
busy machine one thread is often best, and that is the caller's choice.

faiss is imported inside methods so ``import hybridsearch`` stays fast.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from hybridsearch.dense.threads import prepare_faiss
from hybridsearch.errors import IndexFormatError, InvalidInputError
from hybridsearch.settings import Settings
from hybridsearch.validation import check_choice, positive_int

__all__ = [
    "AUTO_HNSW_PASSAGES",
    "INDEX_KINDS",
    "VECTOR_KINDS",
    "VectorIndex",
    "VectorSettings",
]

#: The kinds of vector index: exact inner product, or an HNSW graph.
INDEX_KINDS = ("flat", "hnsw")
#: What VectorSettings.kind accepts: an index kind, "ivf" (segments only: an inverted file
#: of k-means cells, see hybridsearch.dense.ivf), or "auto" (exact below AUTO_HNSW_PASSAGES
#: passages in a segment, an HNSW graph from there on).
VECTOR_KINDS = ("auto", *INDEX_KINDS, "ivf")
#: VectorSettings fields added after the first living-index format, with the values a
#: manifest written before them means.
_LATER_FIELDS = {"ivf_lists": 2048, "ivf_probe": 64, "ivf_codes": "flat"}
#: What VectorSettings.ivf_codes accepts: how an IVF cell stores its vectors (see
#: hybridsearch.dense.ivf).
IVF_CODES = ("sq8", "flat")
#: From this many passages in one segment, "auto" builds an HNSW graph: exact search over
#: 100k x 384 float32 vectors costs about 10 ms at one thread here, and grows linearly.
AUTO_HNSW_PASSAGES = 100_000


@dataclass(frozen=True)
class VectorSettings(Settings):
    """How the vector index is built and searched (see :class:`VectorIndex`).

    Attributes:
        kind: ``"auto"`` (default: exact search for segments under
            :data:`AUTO_HNSW_PASSAGES` passages, an HNSW graph for larger ones), ``"flat"``
            (always exact), ``"hnsw"`` (always a graph; approximate) or ``"ivf"`` (an
            inverted file of k-means cells per segment; approximate, quick to build; only
            for a living index's segments).
        hnsw_m: HNSW neighbours per node (more: better recall, more memory).
        ef_construction: HNSW candidate list size while building.
        ef_search: HNSW candidate list size while searching (at least k is used).
        ivf_lists: IVF: the most cells per segment (a segment of n vectors gets
            ``4 sqrt(n)`` up to this: 2,048 at 1M).
        ivf_probe: IVF: cells searched per query (raised under a filter). At 1M with 2,048
            cells, 64 gave dense recall@10 .96-.9985 on the scale benchmark's synthetic
            vectors (``benchmarks/results/scale_ann_1m_*.md``).
        ivf_codes: IVF: how the cells store their vectors: ``"sq8"`` (default: one byte per
            dimension, a quarter of the memory a query scans; candidates are rescored from
            the float32 vectors, so scores stay exact) or ``"flat"`` (float32 copies, as
            indexes written before this setting have).
    """

    kind: str = "auto"
    hnsw_m: int = 32
    ef_construction: int = 200
    ef_search: int = 128
    ivf_lists: int = 2048
    ivf_probe: int = 64
    ivf_codes: str = "sq8"

    def validate(self) -> None:
        """Refuse an unknown kind or a parameter that is not a positive integer."""
        check_choice("kind", self.kind, VECTOR_KINDS)
        check_choice("ivf_codes", self.ivf_codes, IVF_CODES)
        for name in ("hnsw_m", "ef_construction", "ef_search", "ivf_lists", "ivf_probe"):
            positive_int(name, getattr(self, name))

    @classmethod
    def from_dict(cls, data: Any, *, where: str = "settings") -> VectorSettings:
        """Read settings written by :meth:`to_dict`, strictly; fields added later
        (``ivf_lists``, ``ivf_probe``, ``ivf_codes``) take the values a manifest written
        before them means (``ivf_codes``: ``"flat"``, the only IVF there was).

        Raises:
            IndexFormatError: see :meth:`Settings.from_dict`.
        """
        if isinstance(data, dict):
            data = {**_LATER_FIELDS, **data}
        return super().from_dict(data, where=where)


def _as_matrix(vectors: Any, dimension: int, argument: str) -> np.ndarray:
    """Return ``vectors`` as a C-contiguous float32 (n, dimension) array, or raise.

    Refuses wrong shapes (naming both dimensions), non-numeric data and NaN/inf, which FAISS
    would otherwise index silently and return as garbage scores.
    """
    try:
        matrix = np.asarray(vectors, dtype=np.float32)
    except (TypeError, ValueError) as error:
        raise InvalidInputError(f"{argument} must be a numeric array: {error}") from error
    if matrix.ndim != 2:
        raise InvalidInputError(
            f"{argument} must be a 2-D array (n, {dimension}), got shape {matrix.shape}"
        )
    if matrix.shape[1] != dimension:
        raise InvalidInputError(
            f"{argument} have dimension {matrix.shape[1]} but the index has dimension {dimension}"
        )
    finite_rows = np.isfinite(matrix).all(axis=1)
    if not finite_rows.all():
        bad_row = int(np.flatnonzero(~finite_rows)[0])
        raise InvalidInputError(
            f"{argument} row {bad_row} holds NaN or infinite values "
            f"({int((~finite_rows).sum())} such rows)"
        )
    return np.ascontiguousarray(matrix)


class VectorIndex:
    """Inner-product nearest-neighbour search over vectors with int64 ids.

    Args:
        dimension: Length of every vector.
        kind: ``"flat"`` (exact, default) or ``"hnsw"`` (approximate graph search).
        hnsw_m: HNSW neighbours per node (more: better recall, more memory).
        ef_construction: HNSW candidate list size while building.
        ef_search: HNSW candidate list size while searching (at least k is used); settable
            later through the :attr:`ef_search` property or per call. Ignored by flat indexes.

    Vectors should be L2-normalised (the encoder's are), so scores are cosine similarities.

    Raises:
        InvalidInputError: An argument is out of range.
    """

    def __init__(
        self,
        dimension: int,
        *,
        kind: str = "flat",
        hnsw_m: int = 32,
        ef_construction: int = 200,
        ef_search: int = 128,
    ) -> None:
        dimension = positive_int("dimension", dimension)
        check_choice("kind", kind, INDEX_KINDS)
        settings = VectorSettings(  # validates every field
            kind=kind, hnsw_m=hnsw_m, ef_construction=ef_construction, ef_search=ef_search
        )

        import faiss

        if settings.kind == "flat":
            inner = faiss.IndexFlatIP(dimension)
        else:
            inner = faiss.IndexHNSWFlat(dimension, int(settings.hnsw_m), faiss.METRIC_INNER_PRODUCT)
            inner.hnsw.efConstruction = int(settings.ef_construction)
            inner.hnsw.efSearch = int(settings.ef_search)
        self._init_from_faiss(faiss.IndexIDMap2(inner), inner, settings.kind)

    @classmethod
    def from_settings(cls, dimension: int, settings: VectorSettings) -> VectorIndex:
        """An empty index of ``dimension`` built as ``settings`` say.

        Raises:
            InvalidInputError: ``dimension`` is not a positive integer, or ``settings`` is not
                a :class:`VectorSettings`.
        """
        if not isinstance(settings, VectorSettings):
            raise InvalidInputError(
                f"settings must be a VectorSettings, got {type(settings).__name__}"
            )
        check_choice("kind", settings.kind, INDEX_KINDS)
        return cls(
            dimension,
            kind=settings.kind,
            hnsw_m=settings.hnsw_m,
            ef_construction=settings.ef_construction,
            ef_search=settings.ef_search,
        )

    def _init_from_faiss(self, id_map: Any, inner: Any, kind: str) -> None:
        """Adopt a FAISS IndexIDMap2 and its (downcast) inner index."""
        self._index = id_map
        # The wrapper holds only a pointer: keep the Python object of the inner index alive.
        self._inner = inner
        self._kind = kind

    # -- facts -------------------------------------------------------------------------

    @property
    def dimension(self) -> int:
        """Length of every vector."""
        return int(self._index.d)

    @property
    def kind(self) -> str:
        """``"flat"`` or ``"hnsw"``."""
        return self._kind

    @property
    def ef_search(self) -> int | None:
        """HNSW search candidate list size; None for a flat index."""
        return int(self._inner.hnsw.efSearch) if self._kind == "hnsw" else None

    @ef_search.setter
    def ef_search(self, value: int) -> None:
        value = positive_int("ef_search", value)
        if self._kind == "hnsw":
            self._inner.hnsw.efSearch = value

    def __len__(self) -> int:
        return int(self._index.ntotal)

    def __repr__(self) -> str:
        extra = f", ef_search={self.ef_search}" if self._kind == "hnsw" else ""
        return (
            f"VectorIndex(dimension={self.dimension}, kind={self._kind!r}, size={len(self)}{extra})"
        )

    def ids(self) -> np.ndarray:
        """The ids of the stored vectors, int64, in insertion order (a copy)."""
        import faiss

        return faiss.vector_to_array(self._index.id_map).astype(np.int64, copy=True)

    # -- changes -----------------------------------------------------------------------

    def add(self, vectors: np.ndarray, ids: np.ndarray) -> None:
        """Add vectors under the given ids.

        Args:
            vectors: float (n, dimension), finite; normalised for cosine scores.
            ids: n distinct int64 ids >= 0, none already in the index (-1 is FAISS's "no
                result" marker, and a repeated id would make results ambiguous).

        Raises:
            InvalidInputError: Wrong dimension, non-finite values, ids not matching the
                vectors, negative or repeated ids.
        """
        matrix = _as_matrix(vectors, self.dimension, "vectors")
        id_array = self._check_new_ids(ids, matrix.shape[0])
        if matrix.shape[0] == 0:
            return
        self._index.add_with_ids(matrix, id_array)

    def _check_new_ids(self, ids: Any, count: int) -> np.ndarray:
        id_array = np.asarray(ids)
        if id_array.ndim != 1:
            raise InvalidInputError(f"ids must be a 1-D array, got shape {id_array.shape}")
        if id_array.size and not np.issubdtype(id_array.dtype, np.integer):
            raise InvalidInputError(f"ids must be integers, got dtype {id_array.dtype}")
        id_array = id_array.astype(np.int64, copy=False)
        if id_array.shape[0] != count:
            raise InvalidInputError(
                f"got {count} vectors but {id_array.shape[0]} ids; expected one id per vector"
            )
        if id_array.size == 0:
            return np.ascontiguousarray(id_array)
        if id_array.min() < 0:
            raise InvalidInputError(f"ids must be >= 0, got {int(id_array.min())}")
        unique_ids, counts = np.unique(id_array, return_counts=True)
        if (counts > 1).any():
            raise InvalidInputError(f"id {int(unique_ids[counts > 1][0])} is given twice")
        if len(self):
            already = np.intersect1d(unique_ids, self.ids(), assume_unique=False)
            if already.size:
                raise InvalidInputError(
                    f"id {int(already[0])} is already in the index ({already.size} ids clash)"
                )
        return np.ascontiguousarray(id_array)

    def remove(self, ids: np.ndarray) -> int:
        """Remove the vectors with these ids (unknown ids are ignored); return how many went.

        Only flat indexes support removal (FAISS's HNSW cannot unlink graph nodes).

        Raises:
            InvalidInputError: The index is HNSW, or ids are not integers.
        """
        if self._kind != "flat":
            raise InvalidInputError(
                "an HNSW index cannot remove vectors (FAISS limitation); rebuild it without "
                "them, or filter them out of results"
            )
        id_array = np.asarray(ids)
        if id_array.size and not np.issubdtype(id_array.dtype, np.integer):
            raise InvalidInputError(f"ids must be integers, got dtype {id_array.dtype}")
        id_array = np.ascontiguousarray(id_array.reshape(-1).astype(np.int64, copy=False))
        if id_array.size == 0:
            return 0
        return int(self._index.remove_ids(id_array))

    # -- search ------------------------------------------------------------------------

    def search(
        self, query: np.ndarray, k: int, *, ef_search: int | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Return the k best (ids int64, scores float32) for one query vector, best first.

        Fewer than k come back when the index holds fewer vectors (no -1 padding).

        Args:
            query: float (dimension,).
            k: How many results, >= 1.
            ef_search: HNSW candidate list size for this call only (None: the index's).

        Raises:
            InvalidInputError: Wrong shape or dimension, non-finite values, k < 1.
        """
        query_array = np.asarray(query)
        if query_array.ndim != 1:
            raise InvalidInputError(
                f"query must be a 1-D vector of length {self.dimension}, got shape "
                f"{query_array.shape}; use search_batch for several queries"
            )
        ids, scores = self.search_batch(query_array[None, :], k, ef_search=ef_search)
        found = ids[0] != -1
        return ids[0][found], scores[0][found]

    def search_batch(
        self, queries: np.ndarray, k: int, *, ef_search: int | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Return (ids int64 (n, k), scores float32 (n, k)) for n query vectors, best first.

        Where fewer than k vectors are found (a small index, or HNSW exploring too little)
        the row is padded as FAISS does: id -1, and score -inf (FAISS writes -3.4e38).

        Args:
            queries: float (n, dimension).
            k: Results per query, >= 1.
            ef_search: HNSW candidate list size for this call only (None: the index's).

        Raises:
            InvalidInputError: Wrong shape or dimension, non-finite values, k < 1.
        """
        k = positive_int("k", k)
        matrix = _as_matrix(queries, self.dimension, "queries")
        params = None
        if ef_search is not None:
            ef_search = positive_int("ef_search", ef_search)
        if self._kind == "hnsw":
            import faiss

            # FAISS's HNSW does not raise ef to k by itself: with ef < k it returns fewer than
            # k results. Per-call parameters, rather than mutating the index, stay thread-safe.
            effective_ef = max(ef_search if ef_search is not None else self._inner.hnsw.efSearch, k)
            params = faiss.SearchParametersHNSW(efSearch=int(effective_ef))
        if matrix.shape[0] == 0:
            return np.empty((0, k), dtype=np.int64), np.empty((0, k), dtype=np.float32)
        if len(self) == 0:
            return (
                np.full((matrix.shape[0], k), -1, dtype=np.int64),
                np.full((matrix.shape[0], k), -np.inf, dtype=np.float32),
            )
        scores, ids = self._index.search(matrix, k, params=params)
        ids = ids.astype(np.int64, copy=False)
        scores = scores.astype(np.float32, copy=False)
        scores[ids == -1] = -np.inf
        return ids, scores

    # -- persistence -------------------------------------------------------------------

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the index to one file with ``faiss.write_index`` (FAISS's own format).

        Raises:
            IndexFormatError: The file cannot be written (the message names it).
        """
        import faiss

        try:
            faiss.write_index(self._index, os.fspath(path))
        except RuntimeError as error:
            raise IndexFormatError(f"cannot write vector index {path}: {error}") from error

    @classmethod
    def load(cls, path: str | os.PathLike[str], *, dimension: int | None = None) -> VectorIndex:
        """Read an index written by :meth:`save`.

        Args:
            path: The file.
            dimension: If given, the dimension the caller expects (the model's); a different
                one is refused.

        Raises:
            IndexFormatError: The file is missing, unreadable, not an id-mapped flat/HNSW
                inner-product index, or of another dimension (both are named).
        """
        import faiss

        file_path = Path(path)
        loaded = read_faiss_file(file_path, "vector index file")
        if not isinstance(loaded, faiss.IndexIDMap2):
            raise IndexFormatError(
                f"vector index file {file_path} holds a {type(loaded).__name__}; expected an "
                "IndexIDMap2 written by VectorIndex.save"
            )
        inner = faiss.downcast_index(loaded.index)
        if isinstance(inner, faiss.IndexHNSWFlat):
            kind = "hnsw"
        elif isinstance(inner, faiss.IndexFlatIP):
            kind = "flat"
        else:
            raise IndexFormatError(
                f"vector index file {file_path} wraps a {type(inner).__name__}; expected "
                "IndexFlatIP or IndexHNSWFlat"
            )
        if inner.metric_type != faiss.METRIC_INNER_PRODUCT:
            raise IndexFormatError(
                f"vector index file {file_path} uses metric {inner.metric_type}; expected inner "
                "product"
            )
        if dimension is not None and int(loaded.d) != dimension:
            raise IndexFormatError(
                f"vector index file {file_path} has dimension {loaded.d} but dimension "
                f"{dimension} was expected"
            )
        index = cls.__new__(cls)
        index._init_from_faiss(loaded, inner, kind)
        return index


def check_build_inputs(vectors: Any, settings: Any, *, non_empty: bool = False) -> None:
    """What a FAISS index builder (IVF, HNSW) takes: a :class:`VectorSettings` and a 2-D
    float32 array (``non_empty``: with at least one row).

    Raises:
        InvalidInputError: naming what was given instead.
    """
    if not isinstance(settings, VectorSettings):
        raise InvalidInputError(f"settings must be a VectorSettings, got {type(settings).__name__}")
    if (
        not isinstance(vectors, np.ndarray)
        or vectors.ndim != 2
        or vectors.dtype != np.float32
        or (non_empty and not len(vectors))
    ):
        raise InvalidInputError(
            f"vectors must be a {'non-empty ' if non_empty else ''}float32 array of shape "
            f"(n, dim), got "
            f"{getattr(vectors, 'dtype', type(vectors).__name__)} {getattr(vectors, 'shape', '')}"
        )


def read_faiss_file(path: Path, what: str, flags: int = 0) -> Any:
    """A FAISS index read from ``path``; IndexFormatError naming ``what`` and the file.

    Args:
        path: The file.
        what: What the file is, for messages (``"vector index file"``, ``"HNSW graph file"``).
        flags: FAISS I/O flags (e.g. ``faiss.IO_FLAG_MMAP_IFC`` to memory-map it).
    """
    faiss = prepare_faiss()  # the first faiss import sets passive OpenMP (dense/threads.py)

    if not path.is_file():
        raise IndexFormatError(f"{what} {path} does not exist")
    try:
        return faiss.read_index(os.fspath(path), flags)
    except RuntimeError as error:
        raise IndexFormatError(
            f"{what} {path} is not a readable FAISS index: "
            f"{str(error).strip().splitlines()[-1]}"
        ) from error


def read_typed_faiss_file(
    path: Path,
    what: str,
    flags: int,
    expected_type: str | tuple[str, ...],
    dimension: int | None,
    rows: int | None,
) -> Any:
    """:func:`read_faiss_file`, then refuse anything but an inner-product ``expected_type``
    (a FAISS class name, or a tuple of them) of the expected dimension and row count (None:
    not checked).

    Raises:
        IndexFormatError: naming ``what``, the file and what was expected.
    """
    faiss = prepare_faiss()
    index = read_faiss_file(path, what, flags)
    names = (expected_type,) if isinstance(expected_type, str) else expected_type
    if not isinstance(index, tuple(getattr(faiss, name) for name in names)):
        raise IndexFormatError(
            f"{what} {path} holds a {type(index).__name__}; expected {' or '.join(names)}"
        )
    if index.metric_type != faiss.METRIC_INNER_PRODUCT:
        raise IndexFormatError(
            f"{what} {path} uses metric {index.metric_type}; expected inner product"
        )
    for name, expected, found in (("dimension", dimension, index.d), ("rows", rows, index.ntotal)):
        if expected is not None and int(found) != expected:
            raise IndexFormatError(
                f"{what} {path} has {name} {found} but {expected} was expected"
            )
    return index


def write_faiss_file(index: Any, path: str | os.PathLike[str], what: str) -> None:
    """Write a FAISS index to one file with ``faiss.write_index`` (FAISS's format, no pickle).

    Raises:
        IndexFormatError: The file cannot be written (naming ``what`` and the file).
    """
    faiss = prepare_faiss()
    try:
        faiss.write_index(index, os.fspath(path))
    except RuntimeError as error:
        raise IndexFormatError(f"cannot write {what} {path}: {error}") from error
