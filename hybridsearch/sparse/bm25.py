"""The BM25 leg: an inverted index over analysed passages, and the settings that score it.

BM25 here ranks passages (numbered 0..n-1, their passage ids); callers map their own ids onto
these. The postings (:mod:`hybridsearch.sparse.postings`) are the only stored data: no idf or
score is baked in, because corpus statistics (number of passages, average passage length,
document frequencies) change when passages are added or deleted. Everything that depends on
them is a derived in-memory cache, recomputed on build and on load.

The scoring variants are small pure functions picked by name
(:mod:`hybridsearch.sparse.variants`); :class:`BM25Settings` names one and its parameters. A
query term repeated in the query counts once per occurrence (as rank-bm25 and Lucene do); terms
absent from the vocabulary contribute nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from hybridsearch.errors import IndexFormatError, InvalidInputError
from hybridsearch.settings import Settings
from hybridsearch.sparse.bm25_files import METADATA_FILE, read_postings, write_postings
from hybridsearch.sparse.fields import check_title_weight
from hybridsearch.sparse.postings import Postings
from hybridsearch.sparse.top_k import (
    EMPTY_PASSAGE_IDS,
    EMPTY_SCORES,
    top_k_marked,
    top_k_matching,
)
from hybridsearch.sparse.variants import (
    BM25_VARIANTS,
    DEFAULT_DELTAS,
    VARIANTS,
    average_length,
    normalising_length,
    sum_by_passage,
)
from hybridsearch.validation import check_choice, finite_number, positive_int, string_list

__all__ = ["BM25Index", "BM25Settings"]


@dataclass(frozen=True)
class BM25Settings(Settings):
    """How BM25 scores passages: the variant and its parameters (validated when made).

    Attributes:
        variant: ``"lucene"`` (default), ``"okapi"``, ``"bm25l"`` or ``"bm25plus"`` (see
            :mod:`hybridsearch.sparse.variants`).
        k1: Term-frequency saturation, >= 0.
        b: Length normalisation, between 0 and 1.
        delta: BM25L/BM25+ lower bound, >= 0; None means rank-bm25's default (0.5 for bm25l,
            1.0 for bm25plus). Refused for the other variants.
        epsilon: Okapi only: negative idfs become ``epsilon * mean idf``; 0.25 is rank-bm25's
            ``BM25Okapi`` default. The other variants ignore it.
        title_weight: BM25F's weight of a passage's carried title against its body (an int
            >= 1; 1, the default, is plain BM25 over title + body). Applied when passages are
            indexed, so it is fixed per index; refused with bm25l. See
            :mod:`hybridsearch.sparse.fields`. Written to the manifest only when not 1, so an
            index without it writes and reads exactly as before.
    """

    variant: str = "lucene"
    k1: float = 1.5
    b: float = 0.75
    delta: float | None = None
    epsilon: float = 0.25
    title_weight: int = 1

    def __post_init__(self) -> None:
        super().__post_init__()
        # Plain floats, so to_dict is JSON-ready whatever number type was given (np.float32).
        for name in ("k1", "b", "epsilon") + (("delta",) if self.delta is not None else ()):
            object.__setattr__(self, name, float(getattr(self, name)))
        object.__setattr__(
            self, "title_weight", check_title_weight(self.title_weight, self.variant)
        )

    def to_dict(self) -> dict[str, Any]:
        """Every field, JSON-ready; ``title_weight`` only when it is not 1 (see its note)."""
        data = super().to_dict()
        if self.title_weight == 1:
            del data["title_weight"]
        return data

    @classmethod
    def from_dict(cls, data: Any, *, where: str = "settings") -> BM25Settings:
        """Read :meth:`to_dict`'s output strictly; a missing ``title_weight`` reads as 1."""
        if isinstance(data, Mapping) and "title_weight" not in data:
            data = {**data, "title_weight": 1}
        return super().from_dict(data, where=where)

    def validate(self) -> None:
        """Raise :class:`~hybridsearch.errors.InvalidInputError` naming a bad field."""
        check_choice("BM25 variant", self.variant, BM25_VARIANTS)
        if self.delta is not None and "delta" not in VARIANTS[self.variant].param_names:
            raise InvalidInputError(
                f"delta applies to bm25l and bm25plus only, not to variant {self.variant!r}"
            )
        names = ("k1", "b", "epsilon") + (("delta",) if self.delta is not None else ())
        for name in names:
            finite_number(f"BM25 parameter {name}", getattr(self, name))
        if self.k1 < 0:
            raise InvalidInputError(f"BM25 parameter k1 must be >= 0, got {self.k1}")
        if not 0 <= self.b <= 1:
            raise InvalidInputError(f"BM25 parameter b must be between 0 and 1, got {self.b}")
        if self.delta is not None and self.delta < 0:
            raise InvalidInputError(f"BM25 parameter delta must be >= 0, got {self.delta}")
        check_title_weight(self.title_weight, self.variant)

    @property
    def params(self) -> dict[str, float]:
        """The parameters the variant reads (k1, b and delta or epsilon), delta's default set."""
        values = {
            "k1": self.k1,
            "b": self.b,
            "delta": DEFAULT_DELTAS.get(self.variant) if self.delta is None else self.delta,
            "epsilon": self.epsilon,
        }
        return {name: values[name] for name in VARIANTS[self.variant].param_names}


class BM25Index:
    """An inverted index over passages 0..n-1, scored with a :class:`BM25Settings`.

    Build one with :meth:`build` from analysed passages (lists of terms, from
    :class:`hybridsearch.sparse.analysis.Analyzer`), or read one with :meth:`load`. The arrays
    are read-only; the constructor is internal.
    """

    def __init__(self, postings: Postings, settings: BM25Settings) -> None:
        self._postings = postings
        self._settings = settings
        self._vocabulary = postings.vocabulary
        self._term_ids = postings.term_ids
        for array in postings.arrays().values():
            if not isinstance(array, np.memmap):
                array.flags.writeable = False  # the caches below assume the arrays never change
        self._compute_statistics()

    def _compute_statistics(self) -> None:
        """Derive the corpus statistics and the per-posting score cache from the postings.

        ``_posting_scores`` holds, per posting, idf(term) * saturation(tf, passage length): one
        float64 each. It depends on N, the average passage length and the document frequencies,
        so it is a derived in-memory cache only (never saved) and must be recomputed whenever
        the statistics change (build, load, and any later add/delete). Caching the product
        rather than the saturation alone saves a multiplication per term on every query.
        """
        postings, params = self._postings, self._settings.params
        self._params = params  # the settings build this dict on each access
        variant = self._variant = VARIANTS[self._settings.variant]
        self._num_passages = postings.num_passages
        self._average_length = average_length(
            int(postings.passage_lengths.sum()), self._num_passages
        )
        doc_freqs = np.diff(postings.indptr)
        idf = variant.idf(doc_freqs.astype(np.float64), self._num_passages, params)
        self._idf = np.where(doc_freqs > 0, idf, 0.0)
        # Plain lists: per-query lookups of a few items are faster on lists than arrays.
        self._idf_list = self._idf.tolist()
        self._indptr_list = postings.indptr.tolist()
        posting_term_ids = np.repeat(np.arange(doc_freqs.shape[0]), doc_freqs)
        passage_parts = variant.passage_parts(
            postings.passage_lengths, normalising_length(self._average_length), params
        )
        self._posting_scores = variant.posting_scores(
            postings.posting_tfs, passage_parts[postings.posting_passage_ids], params
        )
        self._posting_scores *= self._idf[posting_term_ids]

    @classmethod
    def build(
        cls,
        passage_tokens: Sequence[Sequence[str]],
        settings: BM25Settings | Mapping[str, Any] | None = None,
    ) -> BM25Index:
        """Index analysed passages; passage ``i`` of ``passage_tokens`` gets passage id ``i``.

        Args:
            passage_tokens: One list of terms per passage. A passage may be empty (length 0).
            settings: The variant and its parameters: a :class:`BM25Settings`, a mapping of
                some of its fields, or None for the defaults (lucene, k1 1.5, b 0.75).

        Raises:
            EmptyCorpusError: ``passage_tokens`` has no passages.
            InvalidInputError: Bad settings, or a passage that is not a list of str.
        """
        settings = BM25Settings.coerce(settings, "settings")
        return cls(Postings.from_tokens(passage_tokens), settings)

    # -- properties ----------------------------------------------------------------------

    @property
    def settings(self) -> BM25Settings:
        """The variant and parameters this index scores with."""
        return self._settings

    @property
    def num_passages(self) -> int:
        """How many passages (ids 0..num_passages-1) the index holds."""
        return self._num_passages

    @property
    def vocabulary_size(self) -> int:
        """How many distinct terms the index holds."""
        return len(self._vocabulary)

    @property
    def num_postings(self) -> int:
        """How many (term, passage) pairs the index holds."""
        return self._postings.num_postings

    @property
    def average_passage_length(self) -> float:
        """Mean passage length in terms (BM25's ``avgdl``)."""
        return self._average_length

    @property
    def passage_lengths(self) -> np.ndarray:
        """Passage lengths in terms, by passage id (read-only)."""
        return self._postings.passage_lengths

    @property
    def indptr(self) -> np.ndarray:
        """CSR offsets by term id, length vocabulary_size + 1 (read-only)."""
        return self._postings.indptr

    @property
    def posting_passage_ids(self) -> np.ndarray:
        """Passage ids of all postings, grouped by term (read-only)."""
        return self._postings.posting_passage_ids

    @property
    def posting_tfs(self) -> np.ndarray:
        """Term frequencies of all postings, aligned with posting_passage_ids (read-only)."""
        return self._postings.posting_tfs

    @property
    def vocabulary(self) -> list[str]:
        """The terms in term-id order (a copy)."""
        return list(self._vocabulary)

    def __repr__(self) -> str:
        return (
            f"BM25Index({self._settings}, num_passages={self._num_passages}, "
            f"vocabulary_size={self.vocabulary_size})"
        )

    # -- querying ------------------------------------------------------------------------

    def known_terms(self, query_tokens: Sequence[str]) -> list[str]:
        """The distinct query terms the vocabulary holds, in query order.

        Empty when no term is known: such a query scores every passage 0 (and finds nothing),
        which a planner may want to report rather than run.
        """
        tokens = _query_list(query_tokens)
        return list(dict.fromkeys(token for token in tokens if token in self._term_ids))

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
        """The best ``k`` passages for a query: (passage ids int64, scores float64), best first.

        Ties: equal scores are ordered by passage id ascending, also where ``k`` cuts through a
        run of equal scores (the lowest ids are kept). The order is total, so
        ``search(q, k)`` is exactly the first ``k`` of ``search(q, k + m)``.

        Only passages that contain at least one query term are returned, for every variant,
        so fewer than ``k`` results come back when fewer passages match (and none for an empty
        query or one of unknown terms). Scores equal :meth:`get_scores` (bm25plus included: its
        constant per query term is in them). For lucene, bm25l and bm25plus the results are
        exactly the head of get_scores' ranking, because a passage that holds a query term
        always outscores one that holds none; for okapi that holds too unless the epsilon floor
        makes an idf zero or negative (tiny corpora).

        Raises:
            InvalidInputError: ``k`` is not an int >= 1, or the query is malformed.
        """
        return self._search(query_tokens, positive_int("k", k))

    def search_batch(
        self, queries: Sequence[Sequence[str]], k: int
    ) -> list[tuple[np.ndarray, np.ndarray]]:
        """:meth:`search` for each query, in order."""
        top_k = positive_int("k", k)
        if isinstance(queries, str | bytes) or not isinstance(queries, Iterable):
            raise InvalidInputError(
                f"queries must be a list of token lists, got {type(queries).__name__}"
            )
        return [self._search(query_tokens, top_k) for query_tokens in queries]

    def _search(self, query_tokens: Sequence[str], top_k: int) -> tuple[np.ndarray, np.ndarray]:
        term_ids, counts = self._query_terms(query_tokens)
        if not term_ids:
            return EMPTY_PASSAGE_IDS, EMPTY_SCORES
        scores = self._accumulate(term_ids, counts)
        absent_total = self._absent_total(term_ids, counts)
        idf = self._idf_list
        if all(idf[term_id] > 0 for term_id in term_ids):
            # Every posting score is > 0, so the passages holding a query term are exactly
            # those with a score above 0. This is the usual case, and the fast one.
            return top_k_matching(scores, top_k, absent_total)
        # okapi's epsilon floor can give an idf <= 0 (and okapi adds no constant): mark the
        # matching passages instead.
        matching = np.zeros(self._num_passages, dtype=bool)
        indptr, passage_ids = self._indptr_list, self._postings.posting_passage_ids
        for term_id in term_ids:
            matching[passage_ids[indptr[term_id] : indptr[term_id + 1]]] = True
        return top_k_marked(scores, matching, top_k)

    def _query_terms(self, query_tokens: Sequence[str]) -> tuple[list[int], list[int]]:
        """Known term ids of a query (first-occurrence order) and how often each occurs."""
        counts: dict[int, int] = {}
        term_ids = self._term_ids
        for token in _query_list(query_tokens):
            term_id = term_ids.get(token)
            if term_id is not None:
                counts[term_id] = counts.get(term_id, 0) + 1
        return list(counts), list(counts.values())

    def _accumulate(self, term_ids: list[int], counts: list[int]) -> np.ndarray:
        """Sum the cached posting scores of the terms per passage (dense, float64).

        A term repeated in the query counts once per occurrence. Passages without any of the
        terms get 0 here; the absent_value part is added by the callers.
        """
        indptr, passage_ids = self._indptr_list, self._postings.posting_passage_ids
        posting_scores = self._posting_scores
        spans = [(indptr[term_id], indptr[term_id + 1]) for term_id in term_ids]
        return sum_by_passage(
            np.concatenate([passage_ids[start:end] for start, end in spans]),
            np.concatenate([posting_scores[start:end] for start, end in spans]),
            [end - start for start, end in spans],
            counts,
            self._num_passages,
        )

    def _absent_total(self, term_ids: list[int], counts: list[int]) -> float:
        """What every passage gets from the query (bm25plus: delta * sum of idf; else 0)."""
        idf = self._idf_list
        return self._variant.query_constant(
            [idf[term_id] for term_id in term_ids], counts, self._params
        )

    # -- persistence ---------------------------------------------------------------------

    def save(self, directory: str | Path) -> list[Path]:
        """Write the postings into ``directory`` (created if missing); return the paths.

        The settings are not written: the caller records :attr:`settings` (the hybrid index
        keeps ``settings.to_dict()`` in its manifest) and passes them back to :meth:`load`.
        See :mod:`hybridsearch.sparse.bm25_files` for the files.
        """
        return write_postings(directory, self._postings)

    @classmethod
    def load(
        cls, directory: str | Path, settings: BM25Settings, *, mmap: bool = True
    ) -> BM25Index:
        """Read an index written by :meth:`save`, to score with ``settings``.

        Args:
            directory: The directory :meth:`save` wrote.
            settings: The settings the index was saved with (from the manifest).
            mmap: Memory-map the arrays (read-only ``np.memmap``) instead of reading them.

        Raises:
            IndexVersionError: bm25.json has a format_version this release does not read.
            IndexFormatError: A file is missing, unreadable or inconsistent (the message names
                it), or a format-1 bm25.json records other settings than ``settings``.
        """
        if not isinstance(settings, BM25Settings):
            raise InvalidInputError(
                "settings must be the BM25Settings the index was saved with, "
                f"got {type(settings).__name__}"
            )
        postings, recorded = read_postings(directory, mmap=mmap)
        if recorded is not None and recorded != {
            "variant": settings.variant,
            "params": settings.params,
        }:
            raise IndexFormatError(
                f"{Path(directory) / METADATA_FILE}: records BM25 {recorded}, but the settings "
                f"given are {settings}"
            )
        return cls(postings, settings)


def _query_list(query_tokens: Sequence[str]) -> list[str]:
    """The query as a list of str; a bare string (it would be read as letters) is refused."""
    return string_list("query_tokens", query_tokens, what="analysed terms")
