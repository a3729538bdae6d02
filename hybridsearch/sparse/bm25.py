"""The BM25 leg: an inverted index over analysed passages, scored with a chosen BM25 variant.

Passages are numbered 0..n-1 (positions); callers map their own ids onto these positions.

Storage is CSR by term: for term id ``t`` its postings are
``posting_doc_ids[indptr[t]:indptr[t + 1]]`` (ascending passage positions) and the matching
``posting_tfs`` (term frequencies). With ``doc_lengths`` these are the only stored arrays: no
IDF or score is baked in, because corpus statistics (number of passages, average length,
document frequencies) change when passages are added or deleted. Everything that depends on
them is a derived in-memory cache, recomputed on build and on load.

Variants are small pure functions chosen by name (see ``_VARIANTS``):

* ``lucene`` (default): idf = log(1 + (N - n + 0.5) / (n + 0.5)),
  term score = idf * tf / (tf + k1 * (1 - b + b * dl / avgdl)), as Lucene's BM25Similarity
  (no ``k1 + 1`` factor; that constant does not change rankings) and bm25s's "lucene".
* ``okapi``: exactly rank-bm25's ``BM25Okapi``: idf = log(N - n + 0.5) - log(n + 0.5), negative
  idfs replaced by ``epsilon`` times the mean idf over the vocabulary.
* ``bm25l``: exactly rank-bm25's ``BM25L``. Note that rank-bm25 multiplies Lv & Zhai's BM25L
  term by tf, so a passage without the term gets 0 from it (unlike bm25s's BM25L).
* ``bm25plus``: exactly rank-bm25's ``BM25Plus``: every passage, with or without the term,
  gets ``idf * delta`` per query term occurrence on top of the saturated tf part.

A query term repeated in the query counts once per occurrence (as rank-bm25 and Lucene do);
terms absent from the vocabulary contribute nothing.
"""

from __future__ import annotations

import json
import math
import os
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import chain
from pathlib import Path
from typing import Any

import numpy as np

from hybridsearch.errors import (
    EmptyCorpusError,
    IndexFormatError,
    IndexVersionError,
    InvalidInputError,
)

__all__ = ["BM25_FORMAT_VERSION", "BM25_VARIANTS", "BM25Index"]

#: Version of the on-disk layout written by :meth:`BM25Index.save`.
BM25_FORMAT_VERSION = 1

_METADATA_FILE = "bm25.json"
# Array name -> file name. Prefixed so the files can sit beside other parts of an index.
_ARRAY_FILES = {
    "indptr": "bm25_indptr.npy",
    "posting_doc_ids": "bm25_posting_doc_ids.npy",
    "posting_tfs": "bm25_posting_tfs.npy",
    "doc_lengths": "bm25_doc_lengths.npy",
}


# -- variants: pure functions of corpus statistics --------------------------------------------
#
# idf(doc_freqs, num_passages, params) -> idf per term (terms with doc_freq 0 get 0).
# saturation(tfs, doc_lengths, avgdl, params) -> the tf part of a term's score for passages
#     that contain the term (tf >= 1), without what every passage gets (absent_value).
# absent_value(params) -> what each query term adds, times its idf, to *every* passage.


def _idf_lucene(
    doc_freqs: np.ndarray, num_passages: int, params: Mapping[str, float]
) -> np.ndarray:
    return np.log1p((num_passages - doc_freqs + 0.5) / (doc_freqs + 0.5))


def _idf_okapi(doc_freqs: np.ndarray, num_passages: int, params: Mapping[str, float]) -> np.ndarray:
    # rank-bm25: log(N - n + 0.5) - log(n + 0.5); idfs below zero (terms in more than half of
    # the passages) are floored to epsilon * mean idf, the mean taken before flooring.
    idf = np.log(num_passages - doc_freqs + 0.5) - np.log(doc_freqs + 0.5)
    present = doc_freqs > 0
    mean_idf = float(idf[present].mean()) if present.any() else 0.0
    return np.where(idf < 0, params["epsilon"] * mean_idf, idf)


def _idf_bm25l(doc_freqs: np.ndarray, num_passages: int, params: Mapping[str, float]) -> np.ndarray:
    return np.log(num_passages + 1) - np.log(doc_freqs + 0.5)


def _idf_bm25plus(
    doc_freqs: np.ndarray, num_passages: int, params: Mapping[str, float]
) -> np.ndarray:
    with np.errstate(divide="ignore"):  # doc_freq 0 (no postings) is masked below
        return np.log((num_passages + 1) / doc_freqs)


def _length_norm(doc_lengths: np.ndarray, avgdl: float, params: Mapping[str, float]) -> np.ndarray:
    b = params["b"]
    return 1 - b + b * doc_lengths / avgdl


def _saturation_lucene(
    tfs: np.ndarray, doc_lengths: np.ndarray, avgdl: float, params: Mapping[str, float]
) -> np.ndarray:
    return tfs / (tfs + params["k1"] * _length_norm(doc_lengths, avgdl, params))


def _saturation_okapi(
    tfs: np.ndarray, doc_lengths: np.ndarray, avgdl: float, params: Mapping[str, float]
) -> np.ndarray:
    k1 = params["k1"]
    return tfs * (k1 + 1) / (tfs + k1 * _length_norm(doc_lengths, avgdl, params))


def _saturation_bm25l(
    tfs: np.ndarray, doc_lengths: np.ndarray, avgdl: float, params: Mapping[str, float]
) -> np.ndarray:
    k1, delta = params["k1"], params["delta"]
    ctd = tfs / _length_norm(doc_lengths, avgdl, params)
    return tfs * (k1 + 1) * (ctd + delta) / (k1 + ctd + delta)


def _absent_zero(params: Mapping[str, float]) -> float:
    return 0.0


def _absent_delta(params: Mapping[str, float]) -> float:
    return params["delta"]


@dataclass(frozen=True)
class _Variant:
    idf: Callable[[np.ndarray, int, Mapping[str, float]], np.ndarray]
    saturation: Callable[[np.ndarray, np.ndarray, float, Mapping[str, float]], np.ndarray]
    absent_value: Callable[[Mapping[str, float]], float]
    param_names: tuple[str, ...]


_VARIANTS: dict[str, _Variant] = {
    "lucene": _Variant(_idf_lucene, _saturation_lucene, _absent_zero, ("k1", "b")),
    "okapi": _Variant(_idf_okapi, _saturation_okapi, _absent_zero, ("k1", "b", "epsilon")),
    "bm25l": _Variant(_idf_bm25l, _saturation_bm25l, _absent_zero, ("k1", "b", "delta")),
    # BM25+'s tf part is Okapi's; its delta is what every passage gets (absent_value).
    "bm25plus": _Variant(_idf_bm25plus, _saturation_okapi, _absent_delta, ("k1", "b", "delta")),
}
#: Names accepted by ``BM25Index.build(variant=...)``.
BM25_VARIANTS: tuple[str, ...] = tuple(_VARIANTS)
# rank-bm25's defaults, so "bm25l" and "bm25plus" with delta=None reproduce it.
_DEFAULT_DELTA = {"bm25l": 0.5, "bm25plus": 1.0}


def _check_params(
    variant: str, k1: float, b: float, delta: float | None, epsilon: float
) -> dict[str, float]:
    """Validate the variant name and its parameters; return the params the variant uses."""
    if variant not in _VARIANTS:
        raise InvalidInputError(
            f"unknown BM25 variant {variant!r}; expected one of {', '.join(BM25_VARIANTS)}"
        )
    names = _VARIANTS[variant].param_names
    if delta is not None and "delta" not in names:
        raise InvalidInputError(
            f"delta applies to bm25l and bm25plus only, not to variant {variant!r}"
        )
    candidates = {
        "k1": k1,
        "b": b,
        "delta": _DEFAULT_DELTA.get(variant) if delta is None else delta,
        "epsilon": epsilon,
    }
    params: dict[str, float] = {}
    for name in names:
        value = candidates[name]
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
        ):
            raise InvalidInputError(f"BM25 parameter {name} must be a finite number, got {value!r}")
        params[name] = float(value)
    if params["k1"] < 0:
        raise InvalidInputError(f"BM25 parameter k1 must be >= 0, got {params['k1']}")
    if not 0 <= params["b"] <= 1:
        raise InvalidInputError(f"BM25 parameter b must be between 0 and 1, got {params['b']}")
    if params.get("delta", 0.0) < 0:
        raise InvalidInputError(f"BM25 parameter delta must be >= 0, got {params['delta']}")
    return params


def _check_k(k: object) -> int:
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
        raise InvalidInputError(f"k must be an int >= 1, got {k!r}")
    return int(k)


def _check_query(query_tokens: object) -> Sequence[str]:
    """Refuse a bare string (it would be read as letters) and non-str tokens."""
    if isinstance(query_tokens, str | bytes):
        raise InvalidInputError(
            "query_tokens must be a list of analysed terms, got a single string; "
            "analyse the query text first"
        )
    if not isinstance(query_tokens, Iterable):
        raise InvalidInputError(
            f"query_tokens must be a list of str, got {type(query_tokens).__name__}"
        )
    tokens = query_tokens if isinstance(query_tokens, Sequence) else list(query_tokens)
    for position, token in enumerate(tokens):
        if not isinstance(token, str):
            raise InvalidInputError(
                f"query_tokens[{position}] is {type(token).__name__}, expected str"
            )
    return tokens


_EMPTY_POSITIONS = np.empty(0, dtype=np.int64)
_EMPTY_SCORES = np.empty(0, dtype=np.float64)


class BM25Index:
    """An inverted index over passages 0..n-1 with BM25 scoring.

    Build one with :meth:`build` from analysed passages (lists of terms, from
    :class:`hybridsearch.sparse.analysis.Analyzer`), or read one with :meth:`load`. The arrays are
    read-only; the constructor is internal.
    """

    def __init__(
        self,
        *,
        vocabulary: Sequence[str],
        indptr: np.ndarray,
        posting_doc_ids: np.ndarray,
        posting_tfs: np.ndarray,
        doc_lengths: np.ndarray,
        variant: str,
        params: Mapping[str, float],
    ) -> None:
        self._vocabulary = list(vocabulary)
        self._term_ids = {term: term_id for term_id, term in enumerate(self._vocabulary)}
        self._indptr = indptr
        self._posting_doc_ids = posting_doc_ids
        self._posting_tfs = posting_tfs
        self._doc_lengths = doc_lengths
        self._variant_name = variant
        self._variant = _VARIANTS[variant]
        self._params = dict(params)
        for array in (indptr, posting_doc_ids, posting_tfs, doc_lengths):
            if not isinstance(array, np.memmap):
                array.flags.writeable = False  # the caches below assume the arrays never change
        self._compute_statistics()

    def _compute_statistics(self) -> None:
        """Derive the corpus statistics and the per-posting score cache from the stored arrays.

        ``_posting_scores`` holds, per posting, idf(term) * saturation(tf, passage length): one
        float64 each. It depends on N, avgdl and the document frequencies, so it is a derived
        in-memory cache only (never saved) and must be recomputed whenever the statistics change
        (build, load, and any later add/delete). Caching the product rather than the saturation
        alone saves a multiplication per term on every query.
        """
        variant, params = self._variant, self._params
        self._num_passages = int(self._doc_lengths.shape[0])
        total_tokens = int(self._doc_lengths.sum())
        # Python int / int, as rank-bm25 computes it. All-empty passages: avgdl 0 has no
        # postings to normalise, so any positive value keeps the arithmetic defined.
        self._avgdl = total_tokens / self._num_passages
        avgdl_for_norm = self._avgdl if self._avgdl > 0 else 1.0
        doc_freqs = np.diff(self._indptr)
        idf = variant.idf(doc_freqs.astype(np.float64), self._num_passages, params)
        self._idf = np.where(doc_freqs > 0, idf, 0.0)
        # Plain float lists: per-query lookups of a few items are faster on lists than arrays.
        self._idf_list = self._idf.tolist()
        self._indptr_list = self._indptr.tolist()
        self._absent_value = variant.absent_value(params)
        posting_lengths = self._doc_lengths[self._posting_doc_ids].astype(np.float64)
        saturation = variant.saturation(
            self._posting_tfs.astype(np.float64), posting_lengths, avgdl_for_norm, params
        )
        posting_term_ids = np.repeat(np.arange(doc_freqs.shape[0]), doc_freqs)
        self._posting_scores = self._idf[posting_term_ids] * saturation

    # -- building ------------------------------------------------------------------------

    @classmethod
    def build(
        cls,
        corpus_tokens: Sequence[Sequence[str]],
        *,
        variant: str = "lucene",
        k1: float = 1.5,
        b: float = 0.75,
        delta: float | None = None,
        epsilon: float = 0.25,
    ) -> BM25Index:
        """Index analysed passages; passage ``i`` of ``corpus_tokens`` becomes position ``i``.

        Args:
            corpus_tokens: One list of terms per passage. A passage may be empty (length 0).
            variant: ``"lucene"`` (default), ``"okapi"``, ``"bm25l"`` or ``"bm25plus"``.
            k1: Term-frequency saturation, >= 0.
            b: Length normalisation, between 0 and 1.
            delta: BM25L/BM25+ lower bound; None means rank-bm25's default (0.5 for bm25l,
                1.0 for bm25plus). Refused for the other variants.
            epsilon: Okapi only: negative idfs become ``epsilon * mean idf`` (rank-bm25).

        Raises:
            EmptyCorpusError: ``corpus_tokens`` has no passages.
            InvalidInputError: An unknown variant, a bad parameter, or a passage that is not a
                list of str.
        """
        params = _check_params(variant, k1, b, delta, epsilon)
        if isinstance(corpus_tokens, str | bytes) or not isinstance(corpus_tokens, Sequence):
            raise InvalidInputError(
                "corpus_tokens must be a sequence of passages, each a list of str, "
                f"got {type(corpus_tokens).__name__}"
            )
        num_passages = len(corpus_tokens)
        if num_passages == 0:
            raise EmptyCorpusError("cannot build a BM25 index from an empty corpus (0 passages)")
        for position, passage in enumerate(corpus_tokens):
            if isinstance(passage, str | bytes) or not isinstance(passage, Sequence):
                raise InvalidInputError(
                    f"corpus_tokens[{position}] must be a list of str, got {type(passage).__name__}"
                )
        doc_lengths = np.fromiter(
            (len(passage) for passage in corpus_tokens), dtype=np.int64, count=num_passages
        )
        total_tokens = int(doc_lengths.sum())

        # Term ids in order of first occurrence; a defaultdict whose factory is its own length
        # assigns the next id in C, so the whole corpus is mapped without a Python loop.
        term_ids: defaultdict[str, int] = defaultdict()
        term_ids.default_factory = term_ids.__len__
        try:
            flat_term_ids = np.fromiter(
                map(term_ids.__getitem__, chain.from_iterable(corpus_tokens)),
                dtype=np.int64,
                count=total_tokens,
            )
        except TypeError as error:  # an unhashable token
            raise InvalidInputError(cls._describe_bad_token(corpus_tokens)) from error
        if not all(type(term) is str for term in term_ids):
            raise InvalidInputError(cls._describe_bad_token(corpus_tokens))
        vocabulary = list(term_ids)

        # One key per (term, passage) occurrence; unique keys sort by term then passage, which
        # is CSR order, and their counts are the term frequencies.
        # Built in place to keep the peak memory of a large build down.
        keys = flat_term_ids
        keys *= num_passages
        keys += np.repeat(np.arange(num_passages, dtype=np.int64), doc_lengths)
        keys, tfs = _sorted_unique_counts(keys)
        posting_term_ids = keys // num_passages
        doc_id_dtype = np.int32 if num_passages < 2**31 else np.int64
        posting_doc_ids = (keys % num_passages).astype(doc_id_dtype)
        indptr = np.zeros(len(vocabulary) + 1, dtype=np.int64)
        np.cumsum(np.bincount(posting_term_ids, minlength=len(vocabulary)), out=indptr[1:])
        return cls(
            vocabulary=vocabulary,
            indptr=indptr,
            posting_doc_ids=posting_doc_ids,
            posting_tfs=tfs.astype(np.int32),
            doc_lengths=doc_lengths,
            variant=variant,
            params=params,
        )

    @staticmethod
    def _describe_bad_token(corpus_tokens: Sequence[Sequence[str]]) -> str:
        for position, passage in enumerate(corpus_tokens):
            for token_position, token in enumerate(passage):
                if not isinstance(token, str):
                    return (
                        f"corpus_tokens[{position}][{token_position}] is "
                        f"{type(token).__name__}, expected str"
                    )
        return "corpus_tokens must hold lists of str"

    # -- properties ----------------------------------------------------------------------

    @property
    def num_passages(self) -> int:
        """How many passages (positions 0..num_passages-1) the index holds."""
        return self._num_passages

    @property
    def vocabulary_size(self) -> int:
        """How many distinct terms the index holds."""
        return len(self._vocabulary)

    @property
    def num_postings(self) -> int:
        """How many (term, passage) pairs the index holds."""
        return int(self._posting_doc_ids.shape[0])

    @property
    def variant(self) -> str:
        """The BM25 variant name."""
        return self._variant_name

    @property
    def params(self) -> dict[str, float]:
        """The parameters the variant uses (a copy): k1, b and delta or epsilon."""
        return dict(self._params)

    @property
    def avgdl(self) -> float:
        """Mean passage length in terms."""
        return self._avgdl

    @property
    def doc_lengths(self) -> np.ndarray:
        """Passage lengths in terms (read-only)."""
        return self._doc_lengths

    @property
    def indptr(self) -> np.ndarray:
        """CSR offsets by term id, length vocabulary_size + 1 (read-only)."""
        return self._indptr

    @property
    def posting_doc_ids(self) -> np.ndarray:
        """Passage positions of all postings, grouped by term (read-only)."""
        return self._posting_doc_ids

    @property
    def posting_tfs(self) -> np.ndarray:
        """Term frequencies of all postings, aligned with posting_doc_ids (read-only)."""
        return self._posting_tfs

    @property
    def vocabulary(self) -> list[str]:
        """The terms in term-id order (a copy)."""
        return list(self._vocabulary)

    def __repr__(self) -> str:
        return (
            f"BM25Index(variant={self._variant_name!r}, params={self._params}, "
            f"num_passages={self._num_passages}, vocabulary_size={self.vocabulary_size})"
        )

    # -- querying ------------------------------------------------------------------------

    def known_terms(self, query_tokens: Sequence[str]) -> list[str]:
        """The distinct query terms the vocabulary holds, in query order.

        Empty when no term is known: such a query scores every passage 0 (and finds nothing),
        which a planner may want to report rather than run.
        """
        tokens = _check_query(query_tokens)
        return list(dict.fromkeys(token for token in tokens if token in self._term_ids))

    def _query_terms(self, query_tokens: Sequence[str]) -> tuple[list[int], list[int]]:
        """Known term ids of a query (first-occurrence order) and how often each occurs."""
        counts: dict[int, int] = {}
        term_ids = self._term_ids
        for token in _check_query(query_tokens):
            term_id = term_ids.get(token)
            if term_id is not None:
                counts[term_id] = counts.get(term_id, 0) + 1
        return list(counts), list(counts.values())

    def _accumulate(self, term_ids: list[int], counts: list[int]) -> np.ndarray:
        """Sum the cached posting scores of the terms per passage (dense, float64).

        A term repeated in the query counts once per occurrence. Passages without any of the
        terms get 0 here; the absent_value part is added by the callers.
        """
        indptr = self._indptr_list
        spans = [(indptr[term_id], indptr[term_id + 1]) for term_id in term_ids]
        if len(spans) == 1:
            start, end = spans[0]
            doc_ids = self._posting_doc_ids[start:end]
            contributions = self._posting_scores[start:end] * counts[0]
        else:
            doc_ids = np.concatenate([self._posting_doc_ids[start:end] for start, end in spans])
            contributions = np.concatenate(
                [
                    self._posting_scores[start:end] * count
                    if count > 1
                    else self._posting_scores[start:end]
                    for (start, end), count in zip(spans, counts, strict=True)
                ]
            )
        return np.bincount(doc_ids, weights=contributions, minlength=self._num_passages)

    def _absent_total(self, term_ids: list[int], counts: list[int]) -> float:
        """What every passage gets from the query (bm25plus: delta * sum of idf; else 0)."""
        if not self._absent_value:
            return 0.0
        idf = self._idf_list
        return self._absent_value * math.fsum(
            idf[term_id] * count for term_id, count in zip(term_ids, counts, strict=True)
        )

    def get_scores(self, query_tokens: Sequence[str]) -> np.ndarray:
        """Score every passage for a query: float64 array of length num_passages.

        Args:
            query_tokens: The analysed query (a list of terms; repeats count, unknown terms
                add nothing).

        Raises:
            InvalidInputError: ``query_tokens`` is a string or holds a non-str.
        """
        term_ids, counts = self._query_terms(query_tokens)
        if not term_ids:
            return np.zeros(self._num_passages, dtype=np.float64)
        scores = self._accumulate(term_ids, counts)
        absent_total = self._absent_total(term_ids, counts)
        if absent_total:
            scores += absent_total
        return scores

    def search(self, query_tokens: Sequence[str], k: int) -> tuple[np.ndarray, np.ndarray]:
        """The best ``k`` passages for a query: (positions int64, scores float64), best first.

        Only passages that contain at least one query term are returned, for every variant,
        so fewer than ``k`` results come back when fewer passages match (and none for an empty
        query or one of unknown terms). Scores equal :meth:`get_scores` (bm25plus included: its
        constant per query term is in them). For lucene, bm25l and bm25plus the results are
        exactly the head of get_scores' ranking, because a passage that holds a query term
        always outscores one that holds none; for okapi that holds too unless the epsilon floor
        makes an idf zero or negative (tiny corpora). Equal scores are ordered by lower position.

        Raises:
            InvalidInputError: ``k`` is not an int >= 1, or the query is malformed.
        """
        top_k = _check_k(k)
        return self._search(query_tokens, top_k)

    def search_batch(
        self, queries: Sequence[Sequence[str]], k: int
    ) -> list[tuple[np.ndarray, np.ndarray]]:
        """:meth:`search` for each query, in order."""
        top_k = _check_k(k)
        if isinstance(queries, str | bytes) or not isinstance(queries, Iterable):
            raise InvalidInputError(
                f"queries must be a list of token lists, got {type(queries).__name__}"
            )
        return [self._search(query_tokens, top_k) for query_tokens in queries]

    def _search(self, query_tokens: Sequence[str], top_k: int) -> tuple[np.ndarray, np.ndarray]:
        term_ids, counts = self._query_terms(query_tokens)
        if not term_ids:
            return _EMPTY_POSITIONS, _EMPTY_SCORES
        scores = self._accumulate(term_ids, counts)
        idf = self._idf_list
        if all(idf[term_id] > 0 for term_id in term_ids):
            # Every posting score is > 0, so the passages holding a query term are exactly
            # those with a score above 0. This is the usual case, and the fast one.
            positions = _top_k_positions(scores, top_k, floor=0.0)
        else:
            # okapi's epsilon floor can give an idf <= 0: mark the matching passages instead.
            matching = np.zeros(self._num_passages, dtype=bool)
            indptr = self._indptr_list
            for term_id in term_ids:
                matching[self._posting_doc_ids[indptr[term_id] : indptr[term_id + 1]]] = True
            ranked = np.where(matching, scores, -np.inf)
            positions = _top_k_positions(ranked, top_k, floor=-np.inf)
        positions_scores = scores[positions]
        absent_total = self._absent_total(term_ids, counts)
        if absent_total:
            positions_scores += absent_total
        return positions, positions_scores

    # -- persistence ---------------------------------------------------------------------

    def save(self, directory: str | Path) -> list[Path]:
        """Write the index into ``directory`` (created if missing) as .npy arrays + bm25.json.

        Each file is written under a temporary name and renamed into place, so saving over
        the files this index is memory-mapped from is safe. Atomicity of the whole directory
        is the storage layer's job.

        Returns:
            The paths of the files written.
        """
        directory = Path(directory)
        try:
            directory.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise InvalidInputError(
                f"cannot create index directory {directory}: {error}"
            ) from error
        arrays = {
            "indptr": self._indptr,
            "posting_doc_ids": self._posting_doc_ids,
            "posting_tfs": self._posting_tfs,
            "doc_lengths": self._doc_lengths,
        }
        written: list[Path] = []
        for name, file_name in _ARRAY_FILES.items():
            path = directory / file_name
            temporary = directory / (file_name + ".tmp")
            with open(temporary, "wb") as handle:
                np.save(handle, np.ascontiguousarray(arrays[name]), allow_pickle=False)
            os.replace(temporary, path)
            written.append(path)
        metadata = {
            "format_version": BM25_FORMAT_VERSION,
            "variant": self._variant_name,
            "params": self._params,
            "counts": {
                "num_passages": self._num_passages,
                "vocabulary_size": self.vocabulary_size,
                "num_postings": self.num_postings,
                "total_tokens": int(self._doc_lengths.sum()),
            },
            "arrays": dict(_ARRAY_FILES),
            # ensure_ascii (the default) keeps any str, lone surrogates included, writable.
            "vocabulary": self._vocabulary,
        }
        path = directory / _METADATA_FILE
        temporary = directory / (_METADATA_FILE + ".tmp")
        temporary.write_text(json.dumps(metadata), encoding="utf-8")
        os.replace(temporary, path)
        written.append(path)
        return written

    @classmethod
    def load(cls, directory: str | Path, *, mmap: bool = True) -> BM25Index:
        """Read an index written by :meth:`save`.

        Args:
            directory: The directory :meth:`save` wrote.
            mmap: Memory-map the arrays (read-only ``np.memmap``) instead of reading them.

        Raises:
            IndexVersionError: bm25.json has another format_version than this release reads.
            IndexFormatError: A file is missing, unreadable or inconsistent (the message names
                it).
        """
        directory = Path(directory)
        metadata_path = directory / _METADATA_FILE
        metadata = _read_metadata(metadata_path)
        arrays = {
            name: _load_array(directory / file_name, mmap)
            for name, file_name in _ARRAY_FILES.items()
        }
        _check_arrays(arrays, metadata, directory)
        params = {name: float(value) for name, value in metadata["params"].items()}
        return cls(
            vocabulary=metadata["vocabulary"],
            variant=metadata["variant"],
            params=params,
            **arrays,
        )


def _sorted_unique_counts(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """np.unique(values, return_counts=True), sorting ``values`` in place to save a copy."""
    values.sort()
    if values.shape[0] == 0:
        return values, np.empty(0, dtype=np.int64)
    is_first = np.empty(values.shape[0], dtype=bool)
    is_first[0] = True
    np.not_equal(values[1:], values[:-1], out=is_first[1:])
    first_positions = np.flatnonzero(is_first)
    counts = np.diff(first_positions, append=values.shape[0])
    return values[first_positions], counts


def _top_k_positions(scores: np.ndarray, top_k: int, floor: float) -> np.ndarray:
    """Positions of the best top_k scores above ``floor``, best first, ties by lower position.

    Passages at or below ``floor`` match no query term and are never returned. With
    ``floor == 0`` (all scores >= 0) the candidates are first pruned to the passages scoring at
    least half the best score: if top_k of them do, the k-th best is among them and every
    pruned passage scores strictly less, so the result is exact (ties included); otherwise all
    matching passages are candidates. argpartition then selects the best without sorting
    every candidate; when it cuts through a run of equal scores, the tied positions kept are
    recomputed to be the lowest ones.
    """
    candidates = None
    if floor == 0.0:
        best = scores.max()
        if best <= 0:
            return _EMPTY_POSITIONS
        candidates = np.flatnonzero(scores >= best * 0.5)
        if candidates.shape[0] < top_k:
            candidates = None
    if candidates is None:
        candidates = np.flatnonzero(scores > floor)
    candidate_scores = scores[candidates]
    num_candidates = candidates.shape[0]
    if num_candidates > top_k:
        selected = np.argpartition(candidate_scores, num_candidates - top_k)[-top_k:]
        threshold = candidate_scores[selected].min()
        if np.count_nonzero(candidate_scores == threshold) > np.count_nonzero(
            candidate_scores[selected] == threshold
        ):
            # candidates ascend by position, so the first tied ones are the lowest positions
            better = np.flatnonzero(candidate_scores > threshold)
            tied = np.flatnonzero(candidate_scores == threshold)[: top_k - better.shape[0]]
            selected = np.concatenate([better, tied])
        candidates, candidate_scores = candidates[selected], candidate_scores[selected]
    order = np.lexsort((candidates, -candidate_scores))
    return candidates[order].astype(np.int64, copy=False)


def _read_metadata(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise IndexFormatError(f"BM25 index file {path} is missing")
    try:
        metadata = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise IndexFormatError(f"BM25 index file {path} is not readable JSON: {error}") from error
    if not isinstance(metadata, dict):
        raise IndexFormatError(f"{path}: expected a JSON object, got {type(metadata).__name__}")
    found = metadata.get("format_version")
    if found != BM25_FORMAT_VERSION:
        raise IndexVersionError(
            f"{path}: BM25 format_version is {found!r}; this release reads version "
            f"{BM25_FORMAT_VERSION}"
        )
    for key in ("variant", "params", "counts", "vocabulary"):
        if key not in metadata:
            raise IndexFormatError(f"{path}: missing the key {key!r}")
    variant, params = metadata["variant"], metadata["params"]
    if variant not in _VARIANTS:
        raise IndexFormatError(f"{path}: unknown BM25 variant {variant!r}")
    if not isinstance(params, dict) or set(params) != set(_VARIANTS[variant].param_names):
        raise IndexFormatError(
            f"{path}: params must hold exactly {list(_VARIANTS[variant].param_names)} for "
            f"variant {variant!r}, got {params!r}"
        )
    try:
        _check_params(variant, **{"delta": None, "epsilon": 0.25, **params})
    except InvalidInputError as error:
        raise IndexFormatError(f"{path}: {error}") from error
    vocabulary = metadata["vocabulary"]
    if not isinstance(vocabulary, list) or not all(type(term) is str for term in vocabulary):
        raise IndexFormatError(f"{path}: vocabulary must be a list of str")
    if len(set(vocabulary)) != len(vocabulary):
        raise IndexFormatError(f"{path}: vocabulary has duplicate terms")
    return metadata


def _load_array(path: Path, mmap: bool) -> np.ndarray:
    if not path.is_file():
        raise IndexFormatError(f"BM25 index file {path} is missing")
    try:
        return np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
    except (OSError, ValueError) as error:
        raise IndexFormatError(f"BM25 index file {path} is not a readable .npy: {error}") from error


def _check_arrays(arrays: dict[str, np.ndarray], metadata: dict[str, Any], directory: Path) -> None:
    """Check shapes, dtypes and ranges, so a damaged index fails here and not in a query."""

    def fail(name: str, problem: str) -> IndexFormatError:
        return IndexFormatError(f"{directory / _ARRAY_FILES[name]}: {problem}")

    for name, array in arrays.items():
        if array.ndim != 1 or array.dtype.kind not in "iu":
            raise fail(name, f"expected a 1-D integer array, got {array.dtype} {array.shape}")
    counts = metadata["counts"]
    indptr, doc_ids = arrays["indptr"], arrays["posting_doc_ids"]
    tfs, doc_lengths = arrays["posting_tfs"], arrays["doc_lengths"]
    vocabulary_size = len(metadata["vocabulary"])
    num_passages = doc_lengths.shape[0]
    if num_passages == 0 or num_passages != counts.get("num_passages"):
        raise fail(
            "doc_lengths",
            f"holds {num_passages} passages; bm25.json counts {counts.get('num_passages')}",
        )
    if indptr.shape[0] != vocabulary_size + 1:
        raise fail("indptr", f"length {indptr.shape[0]}, expected {vocabulary_size + 1}")
    num_postings = doc_ids.shape[0]
    if indptr[0] != 0 or indptr[-1] != num_postings or np.any(np.diff(indptr) < 0):
        raise fail("indptr", f"must rise from 0 to the number of postings {num_postings}")
    if tfs.shape[0] != num_postings:
        raise fail("posting_tfs", f"length {tfs.shape[0]}, expected {num_postings}")
    if num_postings and (doc_ids.min() < 0 or doc_ids.max() >= num_passages):
        raise fail("posting_doc_ids", f"holds positions outside 0..{num_passages - 1}")
    if num_postings and tfs.min() < 1:
        raise fail("posting_tfs", "holds term frequencies below 1")
    if doc_lengths.min() < 0:
        raise fail("doc_lengths", "holds negative lengths")
