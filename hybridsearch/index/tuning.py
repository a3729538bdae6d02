"""The tuning half of HybridIndex: fit the fusion on labelled queries, keep it as the default.

:meth:`Tuning.tune` runs each leg once per labelled query (:meth:`Tuning.leg_candidates`),
hands the lists to :func:`hybridsearch.eval.tuning.tune_fusion`, and makes the result the
index's default fusion: every search that sets none of ``fusion``, ``rrf_k``,
``normalization`` and ``weights`` uses it, and its plan says "fusion tuned on N queries".
:meth:`~hybridsearch.index.updates.Updates.commit` (or ``save``) stores it in the commit.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from hybridsearch.errors import InvalidInputError
from hybridsearch.eval.tuning import LegCandidates, TuningResult, tune_fusion
from hybridsearch.search.options import SearchOptions
from hybridsearch.search.tuned import FUSION_FIELDS, TunedFusion
from hybridsearch.validation import positive_int

if TYPE_CHECKING:
    from hybridsearch.index.hybrid_index import HybridIndex

__all__ = ["Tuning"]


class Tuning:
    """tune / tuned_fusion / leg_candidates, mixed into HybridIndex."""

    _tuned: TunedFusion | None = None

    def tune(
        self: HybridIndex,
        queries: Mapping[str, str],
        qrels: Mapping[str, Mapping[str, int]],
        *,
        folds: int = 5,
        seed: int = 0,
        depth: int = 100,
        metric: str = "ndcg@10",
        rm3: bool = True,
    ) -> TuningResult:
        """Fit the fusion (method, weights, RRF's k) on labelled queries; make it the default.

        The fit is cross-validated on these queries only (see
        :func:`~hybridsearch.eval.tuning.tune_fusion`); ``result.report()`` prints the
        estimate beside each leg alone. When fusion does not beat the better leg, that leg is
        kept dominant and the result says so. Commit (``commit()``, or ``save``) to keep it.

        Args:
            queries: Query id -> text (20-50 labelled queries are enough).
            qrels: Query id -> {document id: grade}, as BEIR's qrels.
            folds: Cross-validation folds.
            seed: Seed of the split into folds.
            depth: Candidate passages per leg and query.
            metric: The metric fitted, ``ndcg@10`` by default.
            rm3: Also try the BM25 leg with RM3 pseudo-relevance feedback (kept only if it
                wins on these queries).

        Raises:
            InvalidInputError: fewer than 2 queries with judgements, or a bad argument.
        """
        judged = {query_id: text for query_id, text in queries.items() if qrels.get(query_id)}
        if len(judged) < 2:
            raise InvalidInputError(
                f"tune: {len(judged)} of the {len(queries)} queries have judgements in the "
                "qrels; expected at least 2 (20-50 give a useful estimate)"
            )
        candidates = self.leg_candidates(judged, depth=depth, rm3=rm3)
        result = tune_fusion(candidates, qrels, folds=folds, seed=seed, metric=metric)
        self.tuned_fusion = result.tuned
        return result

    def leg_candidates(
        self: HybridIndex,
        queries: Mapping[str, str],
        *,
        depth: int = 100,
        batch_size: int = 64,
        rm3: bool = False,
    ) -> dict[str, LegCandidates]:
        """Each query's BM25 and dense passages (``depth`` each), unfused, with their documents.

        A query none of whose terms BM25 knows has only the dense list (as a hybrid search
        of it runs dense only). With ``rm3``, also the BM25 leg with RM3 feedback, as
        ``bm25+rm3``.
        """
        positive_int("depth", depth)
        options = SearchOptions(mode="hybrid", unit="passages", depth=depth)
        rm3_options = SearchOptions(mode="bm25", unit="passages", depth=depth, bm25_feedback="rm3")
        _, planner = self._view
        snapshot = planner.source
        query_ids = list(queries)
        candidates: dict[str, LegCandidates] = {}
        for start in range(0, len(query_ids), batch_size):
            batch = query_ids[start : start + batch_size]
            plans = [planner.plan(queries[query_id], options) for query_id in batch]
            rankings_of = planner.leg_rankings(plans)
            if rm3:
                rm3_plans = [planner.plan(queries[query_id], rm3_options) for query_id in batch]
                for rankings, extra in zip(
                    rankings_of, planner.leg_rankings(rm3_plans), strict=True
                ):
                    if "bm25" in rankings:
                        rankings["bm25+rm3"] = extra["bm25"]
            for query_id, rankings in zip(batch, rankings_of, strict=True):
                legs = {leg: ranking.scored_pairs() for leg, ranking in rankings.items()}
                passages = np.unique(
                    np.concatenate([r.passage_ids for r in rankings.values()] or [[]])
                ).astype(np.int64)
                doc_ids = snapshot.document_ids_of(passages) if len(passages) else []
                candidates[query_id] = LegCandidates(
                    legs, dict(zip(passages.tolist(), doc_ids, strict=True))
                )
        return candidates

    @property
    def tuned_fusion(self) -> TunedFusion | None:
        """The fusion :meth:`tune` fitted (the default of searches), or None."""
        return self._tuned

    @tuned_fusion.setter
    def tuned_fusion(self: HybridIndex, tuned: TunedFusion | None) -> None:
        # Set (or cleared with None) in memory; commit() or save() stores it.
        self._tuned = tuned
        self._view = self._make_view(self._view[0])

    def search_defaults_data(self) -> dict[str, Any] | None:
        """The tuned fusion as the commit stores it (None without one)."""
        return None if self._tuned is None else self._tuned.to_dict()

    def _with_defaults(self, options: Mapping[str, Any]) -> dict[str, Any]:
        """Search options with the tuned fusion filled in, unless the caller set any of it.

        A caller who sets one fusion option gets the library defaults for the others, not a
        mix with a fit made for another method.
        """
        if self._tuned is None or any(name in options for name in FUSION_FIELDS):
            return dict(options)
        return {**self._tuned.search_options(), **options}
