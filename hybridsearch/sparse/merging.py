"""Merging postings: several segments' postings, keeping only live passages, as one.

The merged postings are what :meth:`Postings.from_tokens` would make from the live passages'
tokens in order (same term frequencies and lengths; the vocabulary holds only terms some live
passage has, in order of first occurrence by merged term id), without re-analysing any text.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from hybridsearch.errors import EmptyCorpusError
from hybridsearch.sparse.postings import Postings

__all__ = ["merge_postings"]


def merge_postings(parts: Sequence[tuple[Postings, np.ndarray]]) -> Postings:
    """One Postings over the live passages of each part, in part order.

    Args:
        parts: ``(postings, live)`` pairs; ``live`` is a bool per passage of that part.

    Raises:
        EmptyCorpusError: no live passage in any part.
    """
    term_id: dict[str, int] = {}
    all_terms, all_passages, all_tfs, lengths = [], [], [], []
    offset = 0
    for postings, live in parts:
        live = np.asarray(live, dtype=np.bool_)
        new_ids = np.cumsum(live, dtype=np.int64) - 1 + offset  # passage -> merged id
        counts = np.diff(np.asarray(postings.indptr))
        local_terms = np.repeat(np.arange(len(postings.vocabulary), dtype=np.int64), counts)
        passages = np.asarray(postings.posting_passage_ids, dtype=np.int64)
        keep = live[passages]
        used = np.unique(local_terms[keep])
        mapping = np.full(len(postings.vocabulary), -1, dtype=np.int64)
        for local in used.tolist():
            mapping[local] = term_id.setdefault(postings.vocabulary[local], len(term_id))
        all_terms.append(mapping[local_terms[keep]])
        all_passages.append(new_ids[passages[keep]])
        all_tfs.append(np.asarray(postings.posting_tfs)[keep])
        lengths.append(np.asarray(postings.passage_lengths)[live])
        offset += int(live.sum())
    if offset == 0:
        raise EmptyCorpusError("no live passage to merge")
    terms = np.concatenate(all_terms)
    passages = np.concatenate(all_passages)
    order = np.lexsort((passages, terms))  # CSR: by term, passages ascending
    indptr = np.zeros(len(term_id) + 1, dtype=np.int64)
    np.cumsum(np.bincount(terms, minlength=len(term_id)), out=indptr[1:])
    passage_dtype = np.int32 if offset < 2**31 else np.int64
    return Postings(
        vocabulary=list(term_id),
        indptr=indptr,
        posting_passage_ids=passages[order].astype(passage_dtype),
        posting_tfs=np.concatenate(all_tfs)[order].astype(np.int32),
        passage_lengths=np.concatenate(lengths).astype(np.int64),
    )
