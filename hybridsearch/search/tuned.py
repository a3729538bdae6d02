"""A tuned fusion: the fusion an index uses by default once ``tune`` has fitted it.

``HybridIndex.tune`` (see :mod:`hybridsearch.eval.tuning`) fits the fusion method, its weights
and constant on labelled queries; the result is a :class:`TunedFusion`, stored in the index's
commit and applied to every search that does not set those options itself. The plan of such a
search says so ("fusion tuned on N queries ..."), so nobody mistakes a tuned default for the
library's.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from hybridsearch.errors import InvalidInputError
from hybridsearch.search.fusion import DEFAULT_RRF_K
from hybridsearch.search.options import LEGS, SearchOptions
from hybridsearch.settings import Settings
from hybridsearch.validation import check_choice, finite_number, positive_int

__all__ = ["ESTIMATED", "FUSION_FIELDS", "TunedFusion"]

#: The search options a tuned fusion sets (every other option keeps its own default).
FUSION_FIELDS: tuple[str, ...] = ("fusion", "rrf_k", "normalization", "weights", "bm25_feedback")


#: What a tuning estimates alone beside fusion: each leg, and BM25 with RM3 feedback.
ESTIMATED: tuple[str, ...] = (*LEGS, "bm25+rm3")


@dataclass(frozen=True)
class TunedFusion(Settings):
    """The fusion fitted on labelled queries, and what the fit measured.

    Attributes:
        fusion: ``rrf``, ``convex`` or ``dbsf``.
        rrf_k: RRF's constant (kept at its default for the score fusions).
        normalization: Convex fusion's normalisation (``minmax`` for the others).
        weights: Weight per leg.
        bm25_feedback: ``none``, or ``rm3`` where RM3 feedback won on the labelled queries.
        tuned_on: How many labelled queries it was fitted on.
        folds: The folds of the cross-validation that estimated it.
        metric: The metric fitted (``ndcg@10``).
        estimate: The cross-validated metric of the fused setting chosen this way.
        leg_estimates: The metric of each leg alone on the same queries.
        kept: ``"fused"``, or the leg kept dominant because fusion did not beat it.
    """

    fusion: str = "rrf"
    rrf_k: float = DEFAULT_RRF_K
    normalization: str = "minmax"
    weights: Mapping[str, float] = field(default_factory=lambda: dict.fromkeys(LEGS, 1.0))
    bm25_feedback: str = "none"
    tuned_on: int = 1
    folds: int = 1
    metric: str = "ndcg@10"
    estimate: float = 0.0
    leg_estimates: Mapping[str, float] = field(default_factory=dict)
    kept: str = "fused"

    def validate(self) -> None:
        """Check the fusion through :class:`SearchOptions` (one place checks options)."""
        checked = SearchOptions(**self.search_options())
        object.__setattr__(self, "weights", dict(checked.weights))
        positive_int("tuned_on", self.tuned_on)
        positive_int("folds", self.folds)
        finite_number("estimate", self.estimate)
        if not isinstance(self.leg_estimates, Mapping):
            raise InvalidInputError("leg_estimates must map leg name to a number")
        object.__setattr__(
            self,
            "leg_estimates",
            {
                check_choice("leg", leg, ESTIMATED): finite_number(f"estimate of {leg}", value)
                for leg, value in self.leg_estimates.items()
            },
        )
        check_choice("kept", self.kept, ("fused", *LEGS))

    def search_options(self) -> dict[str, Any]:
        """The search options it sets: fusion, rrf_k, normalization, weights, bm25_feedback."""
        return {name: getattr(self, name) for name in FUSION_FIELDS}

    def applies_to(self, options: SearchOptions) -> bool:
        """Whether a search with ``options`` fuses exactly as tuned."""
        return all(getattr(options, name) == value for name, value in self.search_options().items())

    def note(self) -> str:
        """One line for the plan: how many queries, and the estimates beside each leg."""
        legs = ", ".join(f"{leg} alone {value:.4f}" for leg, value in self.leg_estimates.items())
        kept = ""
        if self.kept != "fused":
            kept = f"; fusion did not beat {self.kept}, kept it dominant"
        return (
            f"fusion tuned on {self.tuned_on} queries ({self.folds}-fold cross-validated "
            f"{self.metric} {self.estimate:.4f}; {legs}{kept})"
        )
