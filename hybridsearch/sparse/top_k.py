"""Top-k selection with one tie rule: higher score first, equal scores by passage id ascending.

The order is total, so the best ``k`` are exactly the first ``k`` of the best ``k + m``: a
search with a small k is always the head of a search with a larger one (results are stable
under paging).
"""

from __future__ import annotations

import numpy as np

__all__ = ["EMPTY_PASSAGE_IDS", "EMPTY_SCORES", "best_first", "top_k_marked", "top_k_matching"]

# Returned for queries that match nothing; read-only, since every such call shares them.
EMPTY_PASSAGE_IDS = np.empty(0, dtype=np.int64)
EMPTY_SCORES = np.empty(0, dtype=np.float64)
EMPTY_PASSAGE_IDS.flags.writeable = False
EMPTY_SCORES.flags.writeable = False


def best_first(passage_ids: np.ndarray, scores: np.ndarray, top_k: int) -> np.ndarray:
    """The best ``top_k`` of ``passage_ids`` (ascending) by ``scores``, best first.

    Equal scores are ordered by passage id ascending, also where ``top_k`` cuts through a run
    of equal scores: the tied passages kept are those with the lowest ids.

    Args:
        passage_ids: Candidate passage ids, ascending (as ``np.flatnonzero`` returns them).
        scores: Their scores, aligned with ``passage_ids``.
        top_k: How many to keep (>= 1).

    Returns:
        The kept passage ids (int64), best first.
    """
    num_candidates = passage_ids.shape[0]
    if num_candidates > top_k:
        # The k-th best score: every passage above it is kept; of those equal to it, the
        # lowest ids fill what is left. np.partition selects it without sorting everything.
        kth_score = np.partition(scores, num_candidates - top_k)[num_candidates - top_k]
        better = np.flatnonzero(scores > kth_score)
        tied = np.flatnonzero(scores == kth_score)[: top_k - better.shape[0]]
        selected = np.concatenate([better, tied])
        passage_ids, scores = passage_ids[selected], scores[selected]
    order = np.lexsort((passage_ids, -scores))
    return passage_ids[order].astype(np.int64, copy=False)


def top_k_marked(
    scores: np.ndarray, marked: np.ndarray, top_k: int
) -> tuple[np.ndarray, np.ndarray]:
    """The best ``top_k`` of the passages ``marked`` (a bool mask), by score, best first.

    For when the candidates cannot be told by their score (okapi's floor can make a matching
    passage score 0 or less), with :func:`best_first`'s tie rule.

    Returns:
        (passage ids int64, their scores float64), best first.
    """
    candidates = np.flatnonzero(marked)
    best = best_first(candidates, scores[candidates], top_k)
    return best, scores[best]


def top_k_matching(
    unshifted_scores: np.ndarray, top_k: int, shift: float = 0.0
) -> tuple[np.ndarray, np.ndarray]:
    """The best ``top_k`` passages among those scoring above 0, ranked by score + ``shift``.

    ``unshifted_scores`` is what the passages' postings gave them (>= 0, and > 0 exactly for
    the passages holding a query term); ``shift`` is what every passage gets on top (BM25+'s
    per-query constant, else 0). Ranking is by the shifted score, which is what is returned,
    with :func:`best_first`'s tie rule: rounding in ``+ shift`` can make distinct scores equal,
    and then passage ids decide.

    Candidates are first pruned to the passages whose shifted score reaches that of half the
    best unshifted score: if ``top_k`` of them do, the k-th best is among them and every pruned
    passage scores strictly less, so the result is exact, ties included; otherwise every
    passage above 0 is a candidate.

    Returns:
        (passage ids int64, their shifted scores float64), best first.
    """
    best = unshifted_scores.max()
    if best <= 0:
        return EMPTY_PASSAGE_IDS, EMPTY_SCORES
    scores = unshifted_scores + shift if shift else unshifted_scores
    # A passage holding no query term scores exactly ``shift``, so a threshold above it keeps
    # only matching passages; rounding (a huge shift) can break that, and then nothing is pruned.
    threshold = best * 0.5 + shift
    candidates = np.flatnonzero(scores >= threshold) if threshold > shift else None
    if candidates is None or candidates.shape[0] < top_k:
        candidates = np.flatnonzero(unshifted_scores > 0)
    passage_ids = best_first(candidates, scores[candidates], top_k)
    return passage_ids, scores[passage_ids]
