"""Fusion of ranked lists: reciprocal rank fusion, convex score combinations, and DBSF.

Pure functions: each takes the legs' result lists (best first) and returns one fused list of
``(id, fused score)`` pairs, best first. Ids are any hashable (the planner passes int passage
ids).

Shared rules, so the methods can be swapped without surprises:

- An id missing from a list gets nothing from that list: no fake score or rank is invented.
- Within one list only an id's first occurrence counts; later duplicates are dropped before
  ranks are counted (the list is treated as if they were not there).
- Weights default to 1.0 per list (so ``rrf`` is textbook RRF and ``convex`` is CombSUM of
  normalised scores); only their ratios matter for the order. A list weighted 0 is switched
  off entirely: its ids do not appear unless another list has them.
- Ties in fused score are broken by the best rank the id has in any list, then by first
  appearance (reading the lists in the order given, each best first), so the output is fully
  deterministic.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Hashable, Sequence

from hybridsearch.errors import InvalidInputError

__all__ = [
    "FUSION_METHODS",
    "NORMALIZATIONS",
    "convex",
    "dbsf",
    "fuse",
    "rrf",
]

#: Names accepted by :func:`fuse`.
FUSION_METHODS: tuple[str, ...] = ("rrf", "convex", "dbsf")
#: Score normalisations accepted by :func:`convex`.
NORMALIZATIONS: tuple[str, ...] = ("minmax", "zscore")

#: The usual RRF constant (Cormack, Clarke & Büttcher, 2009).
DEFAULT_RRF_K = 60.0


def rrf(
    ranked_lists: Sequence[Sequence[Hashable]],
    *,
    k: float = DEFAULT_RRF_K,
    weights: Sequence[float] | None = None,
) -> list[tuple[Hashable, float]]:
    """Reciprocal rank fusion: score(d) = sum_i weight_i / (k + rank_i(d)), rank from 1.

    RRF needs no score calibration between legs (BM25 scores and cosine similarities live on
    different scales), which is why it is the default fusion.

    Args:
        ranked_lists: One sequence of ids per leg, best first.
        k: Smoothing constant, ``k >= 0``; larger values flatten the gap between top ranks.
        weights: One non-negative weight per list, not all 0; ``None`` means 1.0 each.

    Returns:
        ``(id, fused score)`` pairs, fused score descending (ties: best rank in any list,
        then first appearance).

    Raises:
        InvalidInputError: ``k`` is negative or not finite, the weights do not match the
            lists, or an id is not hashable.
    """
    list_weights = _checked_weights(weights, len(ranked_lists), "ranked_lists")
    if not _is_finite_number(k) or k < 0:
        raise InvalidInputError(f"rrf: k must be a finite number >= 0, got {k!r}")
    if isinstance(ranked_lists, str | bytes):
        raise InvalidInputError("rrf: ranked_lists must be a sequence of lists of ids")

    accumulator = _FusionAccumulator()
    for list_index, (ranked_ids, weight) in enumerate(zip(ranked_lists, list_weights, strict=True)):
        if weight == 0:
            continue
        unique_ids = _first_occurrences(ranked_ids, f"ranked_lists[{list_index}]")
        for rank, item_id in enumerate(unique_ids, start=1):
            accumulator.add(item_id, weight / (k + rank), rank)
    return accumulator.ranked()


def convex(
    scored_lists: Sequence[Sequence[tuple[Hashable, float]]],
    *,
    weights: Sequence[float] | None = None,
    normalization: str = "minmax",
) -> list[tuple[Hashable, float]]:
    """Convex (weighted-sum) fusion of normalised scores.

    Each list's scores are normalised on their own, then summed with the list weights over
    the lists that contain the id:

    - ``"minmax"``: ``(s - min) / (max - min)``, into [0, 1]; a list whose scores are all
      equal (one item included) gives 1.0 to each, since every item is that list's best.
    - ``"zscore"``: ``(s - mean) / std`` with the population std (ddof=0); a list whose std
      is 0 gives 0.0 to each.

    Normalisation uses only the list given (the top-k a leg returned), so the result depends
    on each leg's depth; that is inherent to score fusion and one reason RRF is the default.

    Args:
        scored_lists: One sequence of ``(id, score)`` pairs per leg, best first (the order
            only breaks ties; normalisation uses the scores).
        weights: One non-negative weight per list, not all 0; ``None`` means 1.0 each.
        normalization: ``"minmax"`` or ``"zscore"``.

    Returns:
        ``(id, fused score)`` pairs, fused score descending (ties: best rank in any list,
        then first appearance).

    Raises:
        InvalidInputError: Unknown normalisation, weights that do not match the lists, an
            item that is not an ``(id, score)`` pair, or a score that is not a finite number.
    """
    if normalization not in NORMALIZATIONS:
        raise InvalidInputError(
            f"convex: unknown normalization {normalization!r}; expected one of "
            f"{', '.join(NORMALIZATIONS)}"
        )
    normalizer = _minmax_normalized if normalization == "minmax" else _zscore_normalized
    return _score_fusion(scored_lists, weights, normalizer, "convex")


def dbsf(
    scored_lists: Sequence[Sequence[tuple[Hashable, float]]],
    *,
    weights: Sequence[float] | None = None,
) -> list[tuple[Hashable, float]]:
    """Distribution-based score fusion (DBSF), as Qdrant defines it.

    Each list's scores are mapped through ``[mean - 3 std, mean + 3 std] -> [0, 1]``:
    ``(s - (mean - 3 std)) / (6 std)``, with the sample std (``n - 1``), and not clipped;
    then summed with the list weights over the lists that contain the id. A list of one
    item, or whose scores are all equal, gives 0.5 to each. Unlike min-max, one outlying
    top score does not squash the rest of its list towards 0.

    Args:
        scored_lists: One sequence of ``(id, score)`` pairs per leg, best first.
        weights: One non-negative weight per list; ``None`` means 1.0 each.

    Returns:
        ``(id, fused score)`` pairs, fused score descending (ties: best rank in any list,
        then first appearance).

    Raises:
        InvalidInputError: Weights that do not match the lists, an item that is not an
            ``(id, score)`` pair, or a score that is not a finite number.
    """
    return _score_fusion(scored_lists, weights, _distribution_normalized, "dbsf")


def fuse(
    scored_lists: Sequence[Sequence[tuple[Hashable, float]]],
    *,
    method: str = "rrf",
    weights: Sequence[float] | None = None,
    k: float = DEFAULT_RRF_K,
    normalization: str = "minmax",
) -> list[tuple[Hashable, float]]:
    """Fuse the legs' ``(id, score)`` lists with a method chosen by name.

    One entry point for the planner, whose legs all return scored lists: ``"rrf"`` uses only
    the order (and ``k``), ``"convex"`` uses the scores (and ``normalization``), ``"dbsf"``
    the scores through each list's mean +- 3 std.

    Args:
        scored_lists: One sequence of ``(id, score)`` pairs per leg, best first.
        method: One of :data:`FUSION_METHODS`.
        weights: One non-negative weight per list, not all 0; ``None`` means 1.0 each.
        k: RRF constant (used by ``"rrf"`` only).
        normalization: Convex normalisation (used by ``"convex"`` only).

    Returns:
        ``(id, fused score)`` pairs, best first.

    Raises:
        InvalidInputError: Unknown method, or invalid arguments for the method.
    """
    if method == "rrf":
        ranked_lists = [
            [
                _scored_pair(item, f"scored_lists[{list_index}]", position)[0]
                for position, item in enumerate(scored_items)
            ]
            for list_index, scored_items in enumerate(scored_lists)
        ]
        return rrf(ranked_lists, k=k, weights=weights)
    if method == "convex":
        return convex(scored_lists, weights=weights, normalization=normalization)
    if method == "dbsf":
        return dbsf(scored_lists, weights=weights)
    raise InvalidInputError(
        f"fuse: unknown method {method!r}; expected one of {', '.join(FUSION_METHODS)}"
    )


def _score_fusion(
    scored_lists: Sequence[Sequence[tuple[Hashable, float]]],
    weights: Sequence[float] | None,
    normalizer: Callable[[Sequence[float]], list[float]],
    name: str,
) -> list[tuple[Hashable, float]]:
    """Weighted sum of each list's normalised scores (the score fusions' shared body)."""
    list_weights = _checked_weights(weights, len(scored_lists), "scored_lists")
    if isinstance(scored_lists, str | bytes):
        raise InvalidInputError(f"{name}: scored_lists must be a sequence of (id, score) lists")
    accumulator = _FusionAccumulator()
    for list_index, (scored_items, weight) in enumerate(
        zip(scored_lists, list_weights, strict=True)
    ):
        if weight == 0:
            continue
        unique_items = _first_scored_occurrences(scored_items, f"scored_lists[{list_index}]")
        normalized_scores = normalizer([score for _, score in unique_items])
        for rank, ((item_id, _), normalized_score) in enumerate(
            zip(unique_items, normalized_scores, strict=True), start=1
        ):
            accumulator.add(item_id, weight * normalized_score, rank)
    return accumulator.ranked()


class _FusionAccumulator:
    """Collects per-id contributions and orders the result with the shared tie-break rules.

    Scoped to one fusion call (never shared), so the module keeps no mutable state.
    """

    def __init__(self) -> None:
        # Insertion order of the dicts is the first-appearance order used to break ties.
        self._fused_score_by_id: dict[Hashable, float] = {}
        self._best_rank_by_id: dict[Hashable, int] = {}

    def add(self, item_id: Hashable, contribution: float, rank: int) -> None:
        self._fused_score_by_id[item_id] = self._fused_score_by_id.get(item_id, 0.0) + contribution
        best_rank = self._best_rank_by_id.get(item_id)
        if best_rank is None or rank < best_rank:
            self._best_rank_by_id[item_id] = rank

    def ranked(self) -> list[tuple[Hashable, float]]:
        first_appearance = {item_id: order for order, item_id in enumerate(self._fused_score_by_id)}
        ordered_ids = sorted(
            self._fused_score_by_id,
            key=lambda item_id: (
                -self._fused_score_by_id[item_id],
                self._best_rank_by_id[item_id],
                first_appearance[item_id],
            ),
        )
        return [(item_id, self._fused_score_by_id[item_id]) for item_id in ordered_ids]


def _checked_weights(
    weights: Sequence[float] | None, list_count: int, lists_name: str
) -> list[float]:
    if weights is None:
        return [1.0] * list_count
    if isinstance(weights, str | bytes) or not isinstance(weights, Sequence):
        raise InvalidInputError(f"weights must be a sequence of numbers, got {weights!r}")
    if len(weights) != list_count:
        raise InvalidInputError(
            f"weights has {len(weights)} values but {lists_name} has {list_count} lists; "
            "expected one weight per list"
        )
    for position, weight in enumerate(weights):
        if not _is_finite_number(weight) or weight < 0:
            raise InvalidInputError(
                f"weights[{position}] is {weight!r}; expected a finite number >= 0"
            )
    if list_count and not any(weights):
        raise InvalidInputError(
            f"every weight is 0 ({list(weights)!r}); at least one list needs a weight > 0, "
            "or every fused score would be 0"
        )
    return [float(weight) for weight in weights]


def _is_finite_number(value: object) -> bool:
    """A finite real number; numpy scalars count (legs return float32), bools do not."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)


def _first_occurrences(ranked_ids: Sequence[Hashable], where: str) -> list[Hashable]:
    """The ids of one list with later duplicates dropped, order kept."""
    if isinstance(ranked_ids, str | bytes):
        raise InvalidInputError(f"{where} is a string; expected a sequence of ids")
    try:
        return list(dict.fromkeys(ranked_ids))
    except TypeError as exc:
        raise InvalidInputError(f"{where}: ids must be hashable ({exc})") from None


def _first_scored_occurrences(
    scored_items: Sequence[tuple[Hashable, float]], where: str
) -> list[tuple[Hashable, float]]:
    """The (id, score) pairs of one list with later duplicate ids dropped, scores checked."""
    if isinstance(scored_items, str | bytes):
        raise InvalidInputError(f"{where} is a string; expected a sequence of (id, score) pairs")
    unique_items: dict[Hashable, float] = {}
    for position, item in enumerate(scored_items):
        item_id, score = _scored_pair(item, where, position)
        if not _is_finite_number(score):
            raise InvalidInputError(
                f"{where}[{position}]: score {score!r} for id {item_id!r}; expected a finite number"
            )
        try:
            unique_items.setdefault(item_id, float(score))
        except TypeError as exc:
            raise InvalidInputError(f"{where}[{position}]: ids must be hashable ({exc})") from None
    return list(unique_items.items())


def _scored_pair(item: object, where: str, position: int) -> tuple[Hashable, float]:
    if isinstance(item, str | bytes) or not isinstance(item, Sequence) or len(item) != 2:
        raise InvalidInputError(f"{where}[{position}] is {item!r}; expected an (id, score) pair")
    return item[0], item[1]


def _minmax_normalized(scores: Sequence[float]) -> list[float]:
    if not scores:
        return []
    lowest, highest = min(scores), max(scores)
    if highest == lowest:
        return [1.0] * len(scores)
    span = highest - lowest
    return [(score - lowest) / span for score in scores]


def _zscore_normalized(scores: Sequence[float]) -> list[float]:
    if not scores:
        return []
    mean = math.fsum(scores) / len(scores)
    std = math.sqrt(math.fsum((score - mean) ** 2 for score in scores) / len(scores))
    if std == 0:
        return [0.0] * len(scores)
    return [(score - mean) / std for score in scores]


def _distribution_normalized(scores: Sequence[float]) -> list[float]:
    """DBSF's normalisation: mean +- 3 sample std mapped to [0, 1], unclipped (Qdrant's)."""
    if not scores:
        return []
    if len(scores) == 1:
        return [0.5]
    mean = math.fsum(scores) / len(scores)
    std = math.sqrt(math.fsum((score - mean) ** 2 for score in scores) / (len(scores) - 1))
    if std == 0:
        return [0.5] * len(scores)
    lowest = mean - 3 * std
    return [(score - lowest) / (6 * std) for score in scores]
