"""The inverted index BM25 scores: postings as flat numpy arrays, CSR by term.

Passages are numbered 0..n-1 (passage ids); callers map their own ids onto these. For term id
``t`` its postings are ``posting_passage_ids[indptr[t]:indptr[t + 1]]`` (ascending passage ids)
and the matching ``posting_tfs`` (term frequencies). With ``passage_lengths`` these are the only
stored arrays: no idf or score is baked in, because corpus statistics change when passages are
added or deleted (see :class:`~hybridsearch.sparse.bm25.BM25Index`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from itertools import chain

import numpy as np

from hybridsearch.errors import EmptyCorpusError, InvalidInputError

__all__ = ["ARRAY_NAMES", "Postings"]

#: The arrays of :class:`Postings`, in the order they are written.
ARRAY_NAMES = ("indptr", "posting_passage_ids", "posting_tfs", "passage_lengths")


@dataclass(frozen=True, eq=False)
class Postings:
    """A vocabulary and its postings over passages 0..n-1, CSR by term.

    Attributes:
        vocabulary: The terms in term-id order.
        indptr: CSR offsets by term id, length ``len(vocabulary) + 1``.
        posting_passage_ids: Passage ids of all postings, grouped by term, ascending per term.
        posting_tfs: Term frequencies aligned with ``posting_passage_ids`` (each >= 1).
        passage_lengths: Length of each passage in terms (0 for an empty passage).
    """

    vocabulary: list[str]
    indptr: np.ndarray
    posting_passage_ids: np.ndarray
    posting_tfs: np.ndarray
    passage_lengths: np.ndarray

    @classmethod
    def from_tokens(cls, passage_tokens: Sequence[Sequence[str]]) -> Postings:
        """Invert analysed passages; passage ``i`` of ``passage_tokens`` gets id ``i``.

        Raises:
            EmptyCorpusError: ``passage_tokens`` has no passages.
            InvalidInputError: ``passage_tokens`` or one passage is not a list of str (the
                message gives the position).
        """
        if isinstance(passage_tokens, str | bytes) or not isinstance(passage_tokens, Sequence):
            raise InvalidInputError(
                "passage_tokens must be a sequence of passages, each a list of str, "
                f"got {type(passage_tokens).__name__}"
            )
        num_passages = len(passage_tokens)
        if num_passages == 0:
            raise EmptyCorpusError("cannot build a BM25 index from an empty corpus (0 passages)")
        for position, passage in enumerate(passage_tokens):
            if isinstance(passage, str | bytes) or not isinstance(passage, Sequence):
                raise InvalidInputError(
                    f"passage_tokens[{position}] must be a list of str, "
                    f"got {type(passage).__name__}"
                )
        passage_lengths = np.fromiter(
            (len(passage) for passage in passage_tokens), dtype=np.int64, count=num_passages
        )
        vocabulary, flat_term_ids = _term_ids(passage_tokens, int(passage_lengths.sum()))

        # One key per (term, passage) occurrence; unique keys sort by term then passage, which
        # is CSR order, and their counts are the term frequencies.
        # Built in place to keep the peak memory of a large build down.
        keys = flat_term_ids
        keys *= num_passages
        keys += np.repeat(np.arange(num_passages, dtype=np.int64), passage_lengths)
        keys, tfs = _sorted_unique_counts(keys)
        posting_term_ids = keys // num_passages
        passage_id_dtype = np.int32 if num_passages < 2**31 else np.int64
        posting_passage_ids = (keys % num_passages).astype(passage_id_dtype)
        indptr = np.zeros(len(vocabulary) + 1, dtype=np.int64)
        np.cumsum(np.bincount(posting_term_ids, minlength=len(vocabulary)), out=indptr[1:])
        return cls(
            vocabulary=vocabulary,
            indptr=indptr,
            posting_passage_ids=posting_passage_ids,
            posting_tfs=tfs.astype(np.int32),
            passage_lengths=passage_lengths,
        )

    @property
    def num_passages(self) -> int:
        """How many passages (ids 0..num_passages-1)."""
        return int(self.passage_lengths.shape[0])

    @property
    def num_postings(self) -> int:
        """How many (term, passage) pairs."""
        return int(self.posting_passage_ids.shape[0])

    @cached_property
    def term_ids(self) -> dict[str, int]:
        """Term -> term id, built on first use and kept with these postings.

        Every index that scores these postings shares the one dict (one entry per term), so
        it is built once per set of postings, not once per index or per snapshot over them.
        Treat it as read-only.
        """
        return {term: term_id for term_id, term in enumerate(self.vocabulary)}

    def arrays(self) -> dict[str, np.ndarray]:
        """The arrays by name (:data:`ARRAY_NAMES`)."""
        return {name: getattr(self, name) for name in ARRAY_NAMES}


def _term_ids(
    passage_tokens: Sequence[Sequence[str]], total_tokens: int
) -> tuple[list[str], np.ndarray]:
    """The vocabulary in order of first occurrence, and every token's term id in corpus order."""
    # A defaultdict whose factory is its own length assigns the next id in C, so the whole
    # corpus is mapped without a Python loop.
    term_ids: defaultdict[str, int] = defaultdict()
    term_ids.default_factory = term_ids.__len__
    try:
        flat_term_ids = np.fromiter(
            map(term_ids.__getitem__, chain.from_iterable(passage_tokens)),
            dtype=np.int64,
            count=total_tokens,
        )
    except TypeError as error:  # an unhashable token
        raise InvalidInputError(_describe_bad_token(passage_tokens)) from error
    if not all(type(term) is str for term in term_ids):
        raise InvalidInputError(_describe_bad_token(passage_tokens))
    return list(term_ids), flat_term_ids


def _describe_bad_token(passage_tokens: Sequence[Sequence[str]]) -> str:
    for position, passage in enumerate(passage_tokens):
        for token_position, token in enumerate(passage):
            if not isinstance(token, str):
                return (
                    f"passage_tokens[{position}][{token_position}] is "
                    f"{type(token).__name__}, expected str"
                )
    return "passage_tokens must hold lists of str"


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
