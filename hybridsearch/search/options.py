"""Search options: everything a caller may ask of one search, validated once, here.

:class:`SearchOptions` is the only place the options are checked; the planner, the legs and
fusion trust it. It follows the settings protocol (:mod:`hybridsearch.settings`), so the same
object can be stored (a tuned default) or sent over the wire.

The candidate window (``depth``) does not depend on ``k``: every search with ``k <= depth``
runs exactly the same legs, fusion and aggregation and only cuts the result at ``k``, so
``search(q, k=10)`` is always the first ten of ``search(q, k=50)`` (results are stable under
paging). See :class:`~hybridsearch.search.plan.Plan` for when the legs go deeper.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from hybridsearch.errors import InvalidInputError
from hybridsearch.search.filters import Filter, parse_filter
from hybridsearch.search.fusion import DEFAULT_RRF_K, FUSION_METHODS, NORMALIZATIONS
from hybridsearch.settings import Settings
from hybridsearch.sparse.feedback import FEEDBACK
from hybridsearch.validation import check_choice, finite_number, positive_int

__all__ = ["DEFAULT_DEPTH", "LEGS", "MODES", "UNITS", "SearchOptions"]

#: What a search may run: both legs fused, or one leg alone.
MODES: tuple[str, ...] = ("hybrid", "bm25", "dense")
#: The legs, in the order they run and are fused (this order also breaks fused ties).
LEGS: tuple[str, ...] = ("bm25", "dense")
#: Result units: each document once (its best passage shown), or every passage.
UNITS: tuple[str, ...] = ("documents", "passages")
#: Candidate passages each leg returns, whatever k is (deeper only when k or the document
#: aggregation needs it). 100 is where RRF's contribution 1/(60 + rank) has fallen to a third
#: of the top rank's, and it costs under a millisecond per leg on 10k passages.
DEFAULT_DEPTH = 100


@dataclass(frozen=True)
class SearchOptions(Settings):
    """How to search, checked when made.

    Attributes:
        k: Results wanted.
        mode: ``hybrid`` (both legs, fused), ``bm25`` or ``dense``.
        fusion: ``rrf`` (reciprocal rank fusion), ``convex`` (weighted sum of normalised
            scores) or ``dbsf`` (weighted sum of scores normalised by each list's mean +- 3
            std, Qdrant's distribution-based score fusion).
        unit: ``documents`` (each document once, its best passage shown) or ``passages``.
        depth: The candidate window: passages each leg returns (default 100), independent of
            ``k``; the legs go deeper only when ``k`` exceeds it or, for documents, when fewer
            than ``max(k, depth)`` documents come out of it.
        rrf_k: RRF's rank constant (a finite ``k >= 0``), checked in every mode, also when
            only one leg runs and nothing is fused.
        weights: Weight per leg (``bm25``, ``dense``), default 1.0 each; a leg weighted 0
            contributes nothing, and at least one weight must be above 0 (in every mode).
            Numpy scalars are accepted.
        normalization: Convex fusion's score normalisation: ``minmax`` or ``zscore``.
        bm25_feedback: ``none``, or ``rm3``: the BM25 leg expands the query with the terms of
            its own top passages (RM3 pseudo-relevance feedback; see
            :mod:`hybridsearch.sparse.feedback`).
        filter: A metadata filter (see :mod:`hybridsearch.search.filters`), e.g.
            ``{"year": {"gte": 2020}, "lang": "en"}``; both legs search only the passages of
            documents that pass it, with scores unchanged.
    """

    k: int = 10
    mode: str = "hybrid"
    fusion: str = "rrf"
    unit: str = "documents"
    depth: int = DEFAULT_DEPTH
    rrf_k: float = DEFAULT_RRF_K
    weights: Mapping[str, float] = field(default_factory=lambda: dict.fromkeys(LEGS, 1.0))
    normalization: str = "minmax"
    bm25_feedback: str = "none"
    filter: Any = None

    def validate(self) -> None:
        """Check every option; see the class docstring for what each accepts."""
        positive_int("k", self.k)
        check_choice("mode", self.mode, MODES)
        check_choice("fusion", self.fusion, FUSION_METHODS)
        check_choice("unit", self.unit, UNITS)
        positive_int("depth", self.depth)
        finite_number("rrf_k", self.rrf_k, minimum=0)
        check_choice("normalization", self.normalization, NORMALIZATIONS)
        check_choice("bm25_feedback", self.bm25_feedback, FEEDBACK)
        # Frozen: normalise the weights in place once, so every reader sees all legs as floats.
        object.__setattr__(self, "weights", _leg_weights(self.weights))
        if self.filter is not None and not isinstance(self.filter, Filter):
            object.__setattr__(self, "filter", parse_filter(self.filter))

    def to_dict(self) -> dict[str, Any]:
        """Every option, JSON-ready (the filter in its JSON form)."""
        data = super().to_dict()
        data["filter"] = None if self.filter is None else self.filter.to_dict()
        return data

    @classmethod
    def from_call(cls, k: int, options: Mapping[str, Any]) -> SearchOptions:
        """Options from a ``search(query, k, **options)`` call (unknown names refused)."""
        return cls.coerce({"k": k, **options}, "search options")


def _leg_weights(weights: Any) -> dict[str, float]:
    """Every leg's weight as a float (1.0 where not given), checked."""
    if weights is None:
        return dict.fromkeys(LEGS, 1.0)
    if not isinstance(weights, Mapping):
        raise InvalidInputError(
            "weights must be a mapping of leg name to weight, e.g. {'bm25': 1.0, 'dense': 2.0}, "
            f"got {type(weights).__name__}"
        )
    resolved = dict.fromkeys(LEGS, 1.0)
    for leg, weight in weights.items():
        check_choice("leg in weights", leg, LEGS)
        resolved[leg] = finite_number(f"weight of {leg!r}", weight, minimum=0)
    # Checked whatever the mode: fused, all-zero weights score every passage 0 and return
    # nothing after searching everything; refusing them in one mode only would make a
    # stored default valid or not depending on the search it is used with.
    if not any(resolved.values()):
        raise InvalidInputError(
            f"every leg's weight is 0 ({resolved}); at least one leg needs a weight > 0"
        )
    return resolved
