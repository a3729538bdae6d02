"""Evaluation runs: search every query of a split with an index and score what it shows.

A run is scored by the **order shown**, never by the hits' fused scores: fused scores tie
often (reciprocal rank fusion gives every one-leg hit at rank r the same score), and
trec_eval re-breaks ties by document id, so a run scored by ``hit.score`` measures a ranking
nobody sees. :func:`evaluate_index` turns each query's hit order into strictly decreasing
scores with :func:`~hybridsearch.eval.metrics.run_from_ranked` before scoring.

This module sits below the index layer, so it takes any object with a ``search_batch``
method (:class:`BatchSearcher`); a :class:`~hybridsearch.index.hybrid_index.HybridIndex` is
one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from hybridsearch.eval.beir import BeirDataset
from hybridsearch.eval.metrics import DEFAULT_METRICS, evaluate, run_from_ranked
from hybridsearch.validation import positive_int

__all__ = ["BatchSearcher", "RankedHit", "evaluate_index", "search_run"]


class RankedHit(Protocol):
    """What a run reads from a hit: the id of the document it points to."""

    @property
    def doc_id(self) -> str: ...


class BatchSearcher(Protocol):
    """An index that searches several queries at once (``HybridIndex`` is one)."""

    def search_batch(
        self, queries: Sequence[str], k: int, **options: Any
    ) -> Sequence[Sequence[RankedHit]]:
        """Hit lists, one per query in order, each best first and at most ``k`` long."""
        ...


def search_run(
    index: BatchSearcher,
    queries: Mapping[str, str],
    *,
    depth: int = 100,
    batch_size: int = 64,
    **options: Any,
) -> dict[str, list[str]]:
    """Document ids ranked by the index for each query (query id -> ids, best first).

    The ids are in the order the index shows its hits; their scores are not kept (see the
    module docstring).

    Args:
        index: The index to search (anything with ``search_batch``).
        queries: Query id -> query text.
        depth: Documents per query (100, so Recall@100 is meaningful).
        batch_size: Queries searched together (their dense encodings share batches).
        **options: Search options (``mode``, ``fusion``, ...), as for ``HybridIndex.search``;
            the unit is always documents.

    Raises:
        InvalidInputError: ``depth`` or ``batch_size`` is not a positive integer.
    """
    depth = positive_int("depth", depth)
    batch_size = positive_int("batch_size", batch_size)
    query_ids = list(queries)
    ranked: dict[str, list[str]] = {}
    for start in range(0, len(query_ids), batch_size):
        batch = query_ids[start : start + batch_size]
        results = index.search_batch(
            [queries[query_id] for query_id in batch], depth, unit="documents", **options
        )
        for query_id, hits in zip(batch, results, strict=True):
            ranked[query_id] = [hit.doc_id for hit in hits]
    return ranked


def evaluate_index(
    index: BatchSearcher,
    dataset: BeirDataset,
    *,
    metrics: Sequence[str] = DEFAULT_METRICS,
    **options: Any,
) -> dict[str, float]:
    """Search every query of a BEIR split with the index and score the document rankings.

    Each query's ranking is scored in the order the index shows it
    (``evaluate(run_from_ranked(search_run(...)))``), never by the hits' raw fused scores:
    those tie often, and trec_eval would re-break the ties by document id, measuring a
    ranking other than the one shown.

    Args:
        index: The index (built from ``dataset.corpus_path``).
        dataset: The split, from :func:`~hybridsearch.eval.beir.load_beir`.
        metrics: As for :func:`~hybridsearch.eval.metrics.evaluate`.
        **options: Search options (``mode``, ``fusion``, ...), as for ``HybridIndex.search``,
            plus ``depth`` and ``batch_size`` as for :func:`search_run`.

    Returns:
        Metric name -> mean over the split's judged queries.
    """
    ranked = search_run(index, dataset.queries, **options)
    return evaluate(run_from_ranked(ranked), dataset.qrels, metrics)
