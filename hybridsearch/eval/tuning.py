"""Fitting the fusion on a few labelled queries, by cross-validation on those queries only.

Bruch et al. ("An Analysis of Fusion Functions for Hybrid Retrieval", ACM TOIS 2023) show a
convex combination needs only a few labelled queries to fit. :func:`tune_fusion` does that
for every fusion this library has: it scores a grid of settings (RRF's ``k`` and weights,
convex min-max / z-score and DBSF weights) on each query, estimates how well *choosing the
best setting* does on queries it was not chosen on (k-fold cross-validation), and reports
that estimate beside each leg alone, so a user sees whether fusion helps on their corpus.

Fast by construction: each leg's candidate list is computed once per query
(:class:`LegCandidates`, made by the index), and every setting is a pure function of those
lists (:func:`fused_documents`), so the grid costs fusion arithmetic, not searches.

When the cross-validated fused estimate does not beat the better leg, the result says so and
keeps that leg dominant (the other leg weighted 0: the hybrid ranking is that leg's), instead
of storing a fusion the queries say is worse. Whenever fused scores below a leg on labelled
queries (here or in ``hybridsearch evaluate``), :func:`fused_below_legs` warns.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from hybridsearch.errors import InvalidInputError
from hybridsearch.eval.metrics import evaluate_per_query, run_from_ranked
from hybridsearch.search.fusion import DEFAULT_RRF_K, fuse
from hybridsearch.search.options import LEGS
from hybridsearch.search.tuned import ESTIMATED, TunedFusion
from hybridsearch.validation import positive_int

__all__ = [
    "FusedBelowLegWarning",
    "FusionSetting",
    "LegCandidates",
    "TuningResult",
    "default_grid",
    "fused_below_legs",
    "fused_documents",
    "leg_documents",
    "tune_fusion",
]

#: Dense-to-BM25 weight ratios tried (the weights are scaled so the larger one is 1).
WEIGHT_RATIOS: tuple[float, ...] = (0.2, 0.33, 0.5, 0.67, 0.8, 1.0, 1.25, 1.5, 2.0, 3.0, 5.0)
#: RRF constants tried.
RRF_KS: tuple[float, ...] = (10.0, 20.0, 40.0, 60.0, 100.0)
#: Results per query the metric is computed on (nDCG@10 needs 10; deeper costs nothing much).
RANKED_DEPTH = 100


class FusedBelowLegWarning(UserWarning):
    """On labelled queries, the fused ranking scored below one of the legs it fuses."""


@dataclass(frozen=True)
class FusionSetting:
    """One point of the grid: a fusion method, its constant or normalisation, and weights.

    Attributes:
        fusion: ``rrf``, ``convex`` or ``dbsf``.
        weights: ``(bm25 weight, dense weight)``.
        rrf_k: RRF's constant (RRF only).
        normalization: ``minmax`` or ``zscore`` (convex only).
        bm25_feedback: ``none``, or ``rm3``: the BM25 list fused is the RM3-expanded one.
    """

    fusion: str
    weights: tuple[float, float] = (1.0, 1.0)
    rrf_k: float = DEFAULT_RRF_K
    normalization: str = "minmax"
    bm25_feedback: str = "none"

    def search_options(self) -> dict[str, Any]:
        """The setting as search options (``fusion``, ``rrf_k``, ``normalization``, ``weights``)."""
        return {
            "fusion": self.fusion,
            "rrf_k": self.rrf_k,
            "normalization": self.normalization,
            "weights": dict(zip(LEGS, self.weights, strict=True)),
            "bm25_feedback": self.bm25_feedback,
        }

    def describe(self) -> str:
        """``rrf k=60, bm25 1 : dense 1.5``."""
        method = {
            "rrf": f"rrf k={self.rrf_k:g}",
            "convex": f"convex {self.normalization}",
            "dbsf": "dbsf",
        }[self.fusion]
        bm25_weight, dense_weight = self.weights
        bm25 = "bm25+rm3" if self.bm25_feedback == "rm3" else "bm25"
        return f"{method}, {bm25} {bm25_weight:.3g} : dense {dense_weight:.3g}"


@dataclass(frozen=True)
class LegCandidates:
    """One query's legs, computed once: what every fusion setting is scored from.

    Attributes:
        legs: Leg name -> ``(passage id, score)`` pairs, best first (ties by passage id);
            ``bm25+rm3``, when present, is the BM25 leg with RM3 feedback.
        doc_ids: Passage id -> the id of its document, for every passage in ``legs``.
    """

    legs: Mapping[str, Sequence[tuple[int, float]]]
    doc_ids: Mapping[int, str]


@dataclass(frozen=True)
class TuningResult:
    """What :func:`tune_fusion` found.

    Attributes:
        tuned: What the index stores: the setting chosen on all queries, or the better leg
            kept dominant when fusion did not beat it (see ``tuned.kept``).
        best: The fused setting best on all the queries (in-sample).
        in_sample: ``best``'s metric on all the queries (optimistic: chosen on them).
        estimate: The cross-validated metric of choosing the best fused setting.
        leg_estimates: Each leg alone on the same queries (no parameter: not optimistic).
        default_rrf: Untuned RRF (k=60, equal weights) on the same queries.
        queries: How many labelled queries were used.
        folds: Folds of the cross-validation.
        metric: The metric (``ndcg@10``).
        warnings: The fused-below-a-leg warnings raised.
        table: Every setting tried with its metric on all the queries (in-sample), in grid
            order.
    """

    tuned: TunedFusion
    best: FusionSetting
    in_sample: float
    estimate: float
    leg_estimates: Mapping[str, float]
    default_rrf: float
    queries: int
    folds: int
    metric: str
    warnings: tuple[str, ...] = field(default_factory=tuple)
    table: tuple[tuple[str, float], ...] = field(default_factory=tuple)

    def report(self) -> str:
        """The estimates, each leg alone beside fusion, and what was kept, as a few lines."""
        lines = [
            f"{self.queries} labelled queries, {self.folds}-fold cross-validation, {self.metric}:"
        ]
        for leg, value in self.leg_estimates.items():
            lines.append(f"  {leg + ' alone':<26}{value:.4f}")
        lines.append(f"  {'rrf k=60 (untuned)':<26}{self.default_rrf:.4f}")
        lines.append(f"  {'fused, tuned (CV)':<26}{self.estimate:.4f}")
        lines.append(
            f"best setting on all {self.queries} queries: {self.best.describe()} "
            f"({self.in_sample:.4f} in-sample, optimistic)"
        )
        if self.tuned.kept == "fused":
            lines.append("kept: the tuned fusion; it is now the index's default")
        else:
            lines.append(
                f"kept: {self.tuned.kept} dominant (the other leg weighted 0): fusion did not "
                f"beat {self.tuned.kept} alone on these queries"
                + (" (with RM3 feedback)" if self.tuned.bm25_feedback == "rm3" else "")
            )
        lines.extend(f"warning: {message}" for message in self.warnings)
        return "\n".join(lines)


def default_grid(feedback: Sequence[str] = ("none",)) -> list[FusionSetting]:
    """Every setting tried: RRF per k and weight ratio, then convex and DBSF per ratio, for
    each BM25 feedback option in ``feedback`` (``none``, ``rm3``).

    Untuned RRF (k=60, equal weights, no feedback) comes first, so on a tie it is chosen.
    """
    grid = _fusion_grid()
    for option in feedback:
        if option != "none":
            grid += [replace(setting, bm25_feedback=option) for setting in _fusion_grid()]
    return grid


def _fusion_grid() -> list[FusionSetting]:
    """The fusion settings of one BM25 list (see :func:`default_grid`)."""
    weight_pairs = [_weights_for_ratio(ratio) for ratio in WEIGHT_RATIOS]
    grid = [FusionSetting("rrf", (1.0, 1.0), DEFAULT_RRF_K)]
    grid += [
        FusionSetting("rrf", weights, rrf_k)
        for rrf_k in RRF_KS
        for weights in weight_pairs
        if (rrf_k, weights) != (DEFAULT_RRF_K, (1.0, 1.0))
    ]
    for normalization in ("minmax", "zscore"):
        grid += [
            FusionSetting("convex", weights, normalization=normalization)
            for weights in weight_pairs
        ]
    grid += [FusionSetting("dbsf", weights) for weights in weight_pairs]
    return grid


def fused_documents(
    candidates: LegCandidates, setting: FusionSetting, depth: int = RANKED_DEPTH
) -> list[str]:
    """The document ids a setting ranks first: fuse the passages, keep each document's best.

    The same order the planner shows (fusion over passages, then each document once, where
    its best passage sits), computed from the stored candidate lists.
    """
    weights = dict(zip(LEGS, setting.weights, strict=True))
    source = {"bm25": "bm25+rm3" if setting.bm25_feedback == "rm3" else "bm25", "dense": "dense"}
    legs = [leg for leg in LEGS if source[leg] in candidates.legs]
    fused = fuse(
        [candidates.legs[source[leg]] for leg in legs],
        method=setting.fusion,
        weights=[weights[leg] for leg in legs],
        k=setting.rrf_k,
        normalization=setting.normalization,
    )
    return _documents(candidates, (passage for passage, _ in fused), depth)


def leg_documents(candidates: LegCandidates, leg: str, depth: int = RANKED_DEPTH) -> list[str]:
    """The document ids one leg alone ranks first (each document at its best passage)."""
    return _documents(candidates, (passage for passage, _ in candidates.legs.get(leg, ())), depth)


def tune_fusion(
    candidates: Mapping[str, LegCandidates],
    qrels: Mapping[str, Mapping[str, int]],
    *,
    folds: int = 5,
    seed: int = 0,
    metric: str = "ndcg@10",
    grid: Sequence[FusionSetting] | None = None,
) -> TuningResult:
    """Fit the fusion on labelled queries; estimate it by k-fold cross-validation.

    Args:
        candidates: Query id -> its legs' candidate lists (see :class:`LegCandidates`).
        qrels: Query id -> {document id: grade}; only queries in both are used.
        folds: Folds of the cross-validation (at most the number of queries).
        seed: Seed of the queries' shuffle into folds.
        metric: What is fitted and reported (any metric of :mod:`hybridsearch.eval.metrics`).
        grid: The settings tried (default :func:`default_grid`).

    Returns:
        The chosen fusion (or the better leg kept dominant), with its estimates.

    Raises:
        InvalidInputError: fewer than 2 labelled queries, or ``folds`` below 2.
    """
    query_ids = [query_id for query_id in candidates if qrels.get(query_id)]
    if len(query_ids) < 2:
        raise InvalidInputError(
            f"tune: {len(query_ids)} of the {len(candidates)} queries have judgements in the "
            "qrels; expected at least 2 (20-50 give a useful estimate)"
        )
    if positive_int("folds", folds) < 2:
        raise InvalidInputError(f"tune: folds is {folds}; expected at least 2")
    folds = min(folds, len(query_ids))
    with_rm3 = any("bm25+rm3" in found.legs for found in candidates.values())
    settings = list(grid) if grid is not None else default_grid(("none", "rm3") if with_rm3 else ())
    estimated = [name for name in ESTIMATED if name != "bm25+rm3" or with_rm3]
    judged = {query_id: qrels[query_id] for query_id in query_ids}

    def scores_of(ranked: Mapping[str, list[str]]) -> np.ndarray:
        per_query = evaluate_per_query(run_from_ranked(ranked), judged, [metric])
        return np.array([per_query[query_id][metric] for query_id in query_ids])

    leg_scores = {
        leg: scores_of({q: leg_documents(candidates[q], leg) for q in query_ids})
        for leg in estimated
    }
    matrix = np.stack(
        [scores_of({q: fused_documents(candidates[q], s) for q in query_ids}) for s in settings]
    )
    estimate = _cross_validated(matrix, folds, seed)
    leg_estimates = {leg: float(values.mean()) for leg, values in leg_scores.items()}
    best_number = int(np.argmax(matrix.mean(axis=1)))  # first of equals: grid order
    return _result(
        settings, best_number, matrix, estimate, leg_estimates, len(query_ids), folds, metric
    )


def fused_below_legs(
    scores: Mapping[str, float], *, fused: str = "hybrid", where: str = "these queries"
) -> list[str]:
    """Warn (:class:`FusedBelowLegWarning`) for each leg the fused ranking scores below.

    Args:
        scores: Name -> metric value; ``fused`` is the fused ranking, the names in
            :data:`~hybridsearch.search.tuned.ESTIMATED` the legs (a missing one is skipped).
        fused: The fused ranking's name in ``scores``.
        where: What the scores were measured on, for the message.

    Returns:
        The warning messages (empty when fusion is at least as good as every leg).
    """
    if fused not in scores:
        return []
    messages = [
        f"the fused ranking scores below {leg} alone on {where} ({scores[fused]:.4f} < "
        f"{scores[leg]:.4f}); tune the fusion (hybridsearch tune) or search with that leg alone"
        for leg in ESTIMATED
        if leg in scores and scores[fused] < scores[leg]
    ]
    for message in messages:
        warnings.warn(message, FusedBelowLegWarning, stacklevel=2)
    return messages


def _result(
    settings: list[FusionSetting],
    best_number: int,
    matrix: np.ndarray,
    estimate: float,
    leg_estimates: dict[str, float],
    queries: int,
    folds: int,
    metric: str,
) -> TuningResult:
    """The result: the best setting kept, or the better leg kept dominant; warnings raised."""
    best = settings[best_number]
    better_leg = max(leg_estimates, key=lambda leg: leg_estimates[leg])
    if estimate > leg_estimates[better_leg]:
        kept, stored = "fused", best
    else:
        kept = "dense" if better_leg == "dense" else "bm25"
        weights = tuple(1.0 if leg == kept else 0.0 for leg in LEGS)
        feedback = "rm3" if better_leg == "bm25+rm3" else "none"
        stored = FusionSetting("rrf", weights, bm25_feedback=feedback)  # type: ignore[arg-type]
    tuned = TunedFusion(
        **stored.search_options(),
        tuned_on=queries,
        folds=folds,
        metric=metric,
        estimate=estimate,
        leg_estimates=leg_estimates,
        kept=kept,
    )
    where = f"these {queries} queries (cross-validated)"
    messages = fused_below_legs({"hybrid": estimate, **leg_estimates}, where=where)
    default_rrf = next(
        (float(matrix[n].mean()) for n, s in enumerate(settings) if s == FusionSetting("rrf")),
        float("nan"),
    )
    return TuningResult(
        tuned=tuned,
        best=best,
        in_sample=float(matrix[best_number].mean()),
        estimate=estimate,
        leg_estimates=leg_estimates,
        default_rrf=default_rrf,
        queries=queries,
        folds=folds,
        metric=metric,
        warnings=tuple(messages),
        table=tuple(
            (setting.describe(), float(matrix[n].mean())) for n, setting in enumerate(settings)
        ),
    )


def _cross_validated(matrix: np.ndarray, folds: int, seed: int) -> float:
    """Mean held-out metric of choosing the best setting on the other folds.

    ``matrix[setting, query]`` holds each setting's metric per query; the queries are
    shuffled (seeded) into ``folds`` folds; every query is held out exactly once.
    """
    order = np.random.default_rng(seed).permutation(matrix.shape[1])
    held_out = np.empty(matrix.shape[1])
    for fold in np.array_split(order, folds):
        training = np.setdiff1d(order, fold)
        chosen = int(np.argmax(matrix[:, training].mean(axis=1)))
        held_out[fold] = matrix[chosen, fold]
    return float(held_out.mean())


def _weights_for_ratio(ratio: float) -> tuple[float, float]:
    """``(bm25, dense)`` weights with ``dense / bm25 = ratio``, the larger one 1."""
    return (1.0, ratio) if ratio <= 1 else (round(1.0 / ratio, 4), 1.0)


def _documents(candidates: LegCandidates, passages: Any, depth: int) -> list[str]:
    """Each document once, at its first passage in ``passages``, the first ``depth``."""
    ranked: dict[str, None] = {}
    for passage in passages:
        ranked.setdefault(candidates.doc_ids[passage], None)
        if len(ranked) == depth:
            break
    return list(ranked)
