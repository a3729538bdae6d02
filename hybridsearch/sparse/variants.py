"""BM25 scoring variants: small pure functions of corpus statistics, picked by name.

A variant is three functions (see :class:`Variant`):

* ``idf(doc_freqs, num_passages, params)``: the idf of each term from the number of passages
  that hold it (terms held by no passage are masked to 0 by the caller);
* ``passage_part(passage_lengths, avgdl, params)``: what a passage's length contributes to the
  saturation of any term in it (for lucene, ``k1 * (1 - b + b * dl / avgdl)``); a pure function
  of the passage, so an index computes it once per passage, not once per posting;
* ``saturation(tfs, passage_parts, params)``: the term-frequency part of a term's score in a
  passage that holds the term (tf >= 1), from the tf and the passage's part, without what
  every passage gets;
* ``absent_value(params)``: what each query term adds, times its idf, to *every* passage,
  including those without the term (0 except for BM25+).

``avgdl`` is BM25's name for the average passage length in terms (the literature says
"document"; here BM25 ranks passages).

How these compose into scores is written once, here, for every index that scores with them
(:class:`~hybridsearch.sparse.bm25.BM25Index` over one set of postings,
:class:`~hybridsearch.sparse.segmented.SegmentedBM25` over several): :func:`average_length`,
:func:`normalising_length`, :meth:`Variant.posting_scores`, :func:`scale_by_term`,
:meth:`Variant.query_constant` and :func:`sum_by_passage`. Sharing them is what makes those
indexes agree to the bit: each is elementwise, so a value computed per passage and gathered
per posting has the bits it would have computed per posting.

The variants:

* ``lucene`` (default): idf = log(1 + (N - n + 0.5) / (n + 0.5)),
  term score = idf * tf / (tf + k1 * (1 - b + b * dl / avgdl)), as Lucene's BM25Similarity
  (no ``k1 + 1`` factor; that constant does not change rankings) and bm25s's "lucene".
* ``okapi``: exactly rank-bm25's ``BM25Okapi``: idf = log(N - n + 0.5) - log(n + 0.5), negative
  idfs replaced by ``epsilon`` times the mean idf over the vocabulary.
* ``bm25l``: exactly rank-bm25's ``BM25L``. Note that rank-bm25 multiplies Lv & Zhai's BM25L
  term by tf, so a passage without the term gets 0 from it (unlike bm25s's BM25L).
* ``bm25plus``: exactly rank-bm25's ``BM25Plus``: every passage, with or without the term,
  gets ``idf * delta`` per query term occurrence on top of the saturated tf part.

Pure numpy, no I/O: rank-bm25 is the tests' oracle for okapi, bm25l and bm25plus.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

__all__ = [
    "BM25_VARIANTS",
    "DEFAULT_DELTAS",
    "VARIANTS",
    "Variant",
    "average_length",
    "normalising_length",
    "scale_by_term",
    "sum_by_passage",
]

Params = Mapping[str, float]


def _idf_lucene(doc_freqs: np.ndarray, num_passages: int, params: Params) -> np.ndarray:
    return np.log1p((num_passages - doc_freqs + 0.5) / (doc_freqs + 0.5))


def _idf_okapi(doc_freqs: np.ndarray, num_passages: int, params: Params) -> np.ndarray:
    # rank-bm25: log(N - n + 0.5) - log(n + 0.5); idfs below zero (terms in more than half of
    # the passages) are floored to epsilon * mean idf, the mean taken before flooring. The mean
    # is taken over the sorted idfs: a float sum depends on the order of its terms, and sorted
    # they have one order whatever order the vocabulary lists the terms in (a fresh build and a
    # segmented index over the same passages list them differently), so both floor alike.
    idf = np.log(num_passages - doc_freqs + 0.5) - np.log(doc_freqs + 0.5)
    present = doc_freqs > 0
    mean_idf = float(np.sort(idf[present]).mean()) if present.any() else 0.0
    return np.where(idf < 0, params["epsilon"] * mean_idf, idf)


def _idf_bm25l(doc_freqs: np.ndarray, num_passages: int, params: Params) -> np.ndarray:
    return np.log(num_passages + 1) - np.log(doc_freqs + 0.5)


def _idf_bm25plus(doc_freqs: np.ndarray, num_passages: int, params: Params) -> np.ndarray:
    with np.errstate(divide="ignore"):  # doc_freq 0 (no postings) is masked by the caller
        return np.log((num_passages + 1) / doc_freqs)


def _length_norm(passage_lengths: np.ndarray, avgdl: float, params: Params) -> np.ndarray:
    b = params["b"]
    return 1 - b + b * passage_lengths / avgdl


def _k1_length_norm(passage_lengths: np.ndarray, avgdl: float, params: Params) -> np.ndarray:
    return params["k1"] * _length_norm(passage_lengths, avgdl, params)


# The saturations below may overwrite ``passage_parts`` (always a fresh gather, never stored):
# on a million passages a query's postings are ~0.5M floats, and each temporary array saved
# is a pass over memory saved.


def _saturation_lucene(tfs: np.ndarray, passage_parts: np.ndarray, params: Params) -> np.ndarray:
    # tfs / (tfs + k1 * norm); addition commutes bit for bit, so the in-place sum is the same
    denominators = np.add(passage_parts, tfs, out=passage_parts)
    return np.divide(tfs, denominators, out=denominators)


def _saturation_okapi(tfs: np.ndarray, passage_parts: np.ndarray, params: Params) -> np.ndarray:
    denominators = np.add(passage_parts, tfs, out=passage_parts)
    return np.divide(tfs * (params["k1"] + 1), denominators, out=denominators)


def _saturation_bm25l(tfs: np.ndarray, passage_parts: np.ndarray, params: Params) -> np.ndarray:
    k1, delta = params["k1"], params["delta"]
    ctd = tfs / passage_parts
    return tfs * (k1 + 1) * (ctd + delta) / (k1 + ctd + delta)


def _absent_zero(params: Params) -> float:
    return 0.0


def _absent_delta(params: Params) -> float:
    return params["delta"]


@dataclass(frozen=True)
class Variant:
    """One BM25 variant: its three scoring functions and the parameters they read.

    ``idf_uses_vocabulary`` is True where a term's idf depends on the whole vocabulary's
    document frequencies, not on its own alone (okapi's floor is a fraction of the mean idf):
    such an idf must be computed over every term at once.
    """

    idf: Callable[[np.ndarray, int, Params], np.ndarray]
    passage_part: Callable[[np.ndarray, float, Params], np.ndarray]
    saturation: Callable[[np.ndarray, np.ndarray, Params], np.ndarray]
    absent_value: Callable[[Params], float]
    param_names: tuple[str, ...]
    idf_uses_vocabulary: bool = False

    def passage_parts(
        self, passage_lengths: np.ndarray, avgdl: float, params: Params
    ) -> np.ndarray:
        """Each passage's length part of the saturation (float64, one per passage).

        Args:
            passage_lengths: Passage lengths in terms.
            avgdl: The normalising length (:func:`normalising_length`).
            params: The variant's parameters.
        """
        return self.passage_part(passage_lengths.astype(np.float64, copy=False), avgdl, params)

    def posting_scores(
        self, tfs: np.ndarray, passage_parts: np.ndarray, params: Params
    ) -> np.ndarray:
        """Each posting's saturation (float64): its score before the idf scales it.

        Args:
            tfs: The postings' term frequencies.
            passage_parts: The :meth:`passage_parts` of the postings' passages, aligned with
                ``tfs``: a fresh array (a gather), which this may overwrite.
            params: The variant's parameters.
        """
        return self.saturation(tfs.astype(np.float64, copy=False), passage_parts, params)

    def query_constant(self, idfs: Sequence[float], counts: Sequence[int], params: Params) -> float:
        """What every passage gets from a query (BM25+: delta * the sum of its idfs; else 0).

        Args:
            idfs: The idf of each distinct known query term.
            counts: How often each occurs in the query (a repeat counts again).
            params: The variant's parameters.
        """
        absent_value = self.absent_value(params)
        if not absent_value:
            return 0.0
        return absent_value * math.fsum(
            idf * count for idf, count in zip(idfs, counts, strict=True)
        )


#: Variant name -> its functions.
VARIANTS: dict[str, Variant] = {
    "lucene": Variant(
        _idf_lucene, _k1_length_norm, _saturation_lucene, _absent_zero, ("k1", "b")
    ),
    "okapi": Variant(
        _idf_okapi,
        _k1_length_norm,
        _saturation_okapi,
        _absent_zero,
        ("k1", "b", "epsilon"),
        idf_uses_vocabulary=True,
    ),
    "bm25l": Variant(
        _idf_bm25l, _length_norm, _saturation_bm25l, _absent_zero, ("k1", "b", "delta")
    ),
    # BM25+'s tf part is Okapi's; its delta is what every passage gets (absent_value).
    "bm25plus": Variant(
        _idf_bm25plus, _k1_length_norm, _saturation_okapi, _absent_delta, ("k1", "b", "delta")
    ),
}

#: The variant names ``BM25Settings.variant`` accepts.
BM25_VARIANTS: tuple[str, ...] = tuple(VARIANTS)

#: rank-bm25's defaults, so "bm25l" and "bm25plus" with ``delta=None`` reproduce it.
DEFAULT_DELTAS: dict[str, float] = {"bm25l": 0.5, "bm25plus": 1.0}


def average_length(total_length: int, num_passages: int) -> float:
    """Mean passage length in terms: Python ``int / int`` as rank-bm25 has it (0.0 for none)."""
    return total_length / num_passages if num_passages else 0.0


def normalising_length(average: float) -> float:
    """The ``avgdl`` saturations divide by: the average length, or 1 where it is 0.

    Where every passage is empty there are no postings to normalise, so any positive value
    keeps the arithmetic defined.
    """
    return average if average > 0 else 1.0


def scale_by_term(
    posting_scores: np.ndarray, term_sizes: Sequence[int], idfs: Sequence[float]
) -> np.ndarray:
    """Multiply each term's run of saturations by its idf, in place; returns the array.

    Args:
        posting_scores: Saturations (:meth:`Variant.posting_scores`), term after term.
        term_sizes: How many postings each term has there, in the same order.
        idfs: Each term's idf, in the same order.

    A slice at a time rather than against an idf repeated per posting: the same products,
    without a second array as large as the postings.
    """
    start = 0
    for size, idf in zip(term_sizes, idfs, strict=True):
        posting_scores[start : start + size] *= idf
        start += size
    return posting_scores


def sum_by_passage(
    passage_ids: np.ndarray,
    posting_scores: np.ndarray,
    term_sizes: Sequence[int],
    counts: Sequence[float],
    num_passages: int,
) -> np.ndarray:
    """Sum the query terms' posting scores per passage: float64 array of ``num_passages``.

    Args:
        passage_ids: The query terms' postings' passage ids, term after term in query order.
        posting_scores: Their scores (:meth:`Variant.posting_scores`), aligned; a fresh
            array, since the scores of a repeated term are scaled in place.
        term_sizes: How many postings each term has there, in the same order.
        counts: How often each term occurs in the query (its scores count that often), or
            each term's weight (a pseudo-relevance-feedback query weights its terms).
        num_passages: The length of the result; passages without a term get 0.

    ``np.bincount`` adds the weights in array order, so each passage's score is its terms'
    contributions added one by one in query-term order, starting from 0: the same bits
    whichever index calls this, as long as it lists the terms in the same order.
    """
    if any(count != 1 for count in counts):
        start = 0
        for size, count in zip(term_sizes, counts, strict=True):
            if count != 1:
                posting_scores[start : start + size] *= count
            start += size
    return np.bincount(passage_ids, weights=posting_scores, minlength=num_passages)
