"""Retrieval metrics (nDCG@k, Recall@k, MRR@k, P@k, MAP@k) over a run and qrels.

Metrics come from pytrec_eval (trec_eval's C code), the implementation BEIR reports with, so
figures are comparable with published ones. Three of its behaviours are handled here rather
than left to surprise the caller:

- **Missing queries.** pytrec_eval silently skips a query that has judgements but no entry in
  the run, which would inflate averages. Here every query of the qrels is scored, and one the
  run lacks (or answers with nothing) scores 0 on every metric. Averages are over all the
  qrels' queries. Queries in the run but not in the qrels are ignored.
- **Ties.** trec_eval orders a run by score and breaks ties by document id (descending),
  comparing scores at about single precision. So two documents whose scores differ in the
  eighth digit count as tied and the run's own order is lost. :func:`evaluate` therefore
  first orders each query's run itself (score descending, exact ties in the mapping's order)
  and hands pytrec_eval strictly decreasing, exactly representable scores
  (:func:`run_from_ranked`): the ranking evaluated is the ranking the system produced.
- **MRR@k.** pytrec_eval's ``recip_rank`` has no cutoff, so MRR@k is ``recip_rank`` on each
  query's run truncated to its top k.

nDCG uses trec_eval's gains: the graded relevance itself (linear gain, not ``2^rel - 1``) with
a ``log2(rank + 1)`` discount, ideal ranking taken from the qrels. A judgement of 0 or less is
not relevant.

pytrec_eval is imported inside the functions that need it, so ``import hybridsearch`` stays
fast.
"""

from __future__ import annotations

import math
import numbers
import re
from collections.abc import Mapping, Sequence

from hybridsearch.errors import InvalidInputError
from hybridsearch.validation import string_list

__all__ = [
    "DEFAULT_METRICS",
    "evaluate",
    "evaluate_per_query",
    "run_from_ranked",
]

#: Metrics :func:`evaluate` reports by default (BEIR's headline figures).
DEFAULT_METRICS: tuple[str, ...] = ("ndcg@10", "recall@100", "mrr@10")

# Metric name (before "@k") -> pytrec_eval measure family; "mrr" is handled separately
# because it needs the run truncated (see the module docstring).
_PYTREC_MEASURE_BY_METRIC = {
    "ndcg": "ndcg_cut",
    "recall": "recall",
    "precision": "P",
    "map": "map_cut",
}
_METRIC_PATTERN = re.compile(r"^(ndcg|recall|precision|map|mrr)@([1-9][0-9]*)$")

# trec_eval compares scores at about single precision; integers up to 2**24 are exact there.
_MAX_RANKED_PER_QUERY = 2**24


def run_from_ranked(ranked: Mapping[str, Sequence[str]]) -> dict[str, dict[str, float]]:
    """Turn ranked document ids per query into a run with strictly decreasing scores.

    The scores are ``n, n - 1, ..., 1`` for a list of ``n`` ids: integers, so exactly
    representable at the single precision trec_eval compares with, and strictly decreasing,
    so trec_eval keeps the given order instead of re-sorting ties by document id. A
    duplicate id keeps its first (best) position.

    Args:
        ranked: Query id -> document ids, best first.

    Returns:
        Query id -> {document id: score}, in the form :func:`evaluate` and pytrec_eval take.

    Raises:
        InvalidInputError: An id is not a string, or a list is longer than 2**24.
    """
    run: dict[str, dict[str, float]] = {}
    for query_id, doc_ids in ranked.items():
        if not isinstance(query_id, str):
            raise InvalidInputError(f"run_from_ranked: query id {query_id!r} is not a str")
        checked_doc_ids = string_list(
            f"run_from_ranked: ranked[{query_id!r}]", doc_ids, what="document ids"
        )
        unique_doc_ids = list(dict.fromkeys(checked_doc_ids))
        if len(unique_doc_ids) > _MAX_RANKED_PER_QUERY:
            raise InvalidInputError(
                f"run_from_ranked: query {query_id!r} has {len(unique_doc_ids)} documents; "
                f"at most {_MAX_RANKED_PER_QUERY} can be ranked exactly"
            )
        list_length = len(unique_doc_ids)
        run[query_id] = {
            doc_id: float(list_length - position) for position, doc_id in enumerate(unique_doc_ids)
        }
    return run


def evaluate(
    run: Mapping[str, Mapping[str, float]],
    qrels: Mapping[str, Mapping[str, int]],
    metrics: Sequence[str] = DEFAULT_METRICS,
) -> dict[str, float]:
    """Mean of each metric over all the qrels' queries.

    See the module docstring for how missing queries (0), ties and MRR@k are treated.

    Args:
        run: Query id -> {document id: score}; higher is better.
        qrels: Query id -> {document id: relevance grade}; grades > 0 are relevant.
        metrics: Names of the form ``"<name>@<k>"`` with name one of ``ndcg``, ``recall``,
            ``mrr``, ``precision``, ``map``.

    Returns:
        Metric name (as given) -> mean over the qrels' queries.

    Raises:
        InvalidInputError: Empty qrels, an unknown metric, or a malformed run or qrels.
    """
    per_query = evaluate_per_query(run, qrels, metrics)
    query_count = len(per_query)
    return {
        metric: math.fsum(values[metric] for values in per_query.values()) / query_count
        for metric in _unique_metrics(metrics)
    }


def evaluate_per_query(
    run: Mapping[str, Mapping[str, float]],
    qrels: Mapping[str, Mapping[str, int]],
    metrics: Sequence[str] = DEFAULT_METRICS,
) -> dict[str, dict[str, float]]:
    """Each metric for each of the qrels' queries (a query the run lacks scores 0).

    A separate function rather than a flag on :func:`evaluate`, so each has one return type.

    Args:
        run: Query id -> {document id: score}; higher is better.
        qrels: Query id -> {document id: relevance grade}; grades > 0 are relevant.
        metrics: As for :func:`evaluate`.

    Returns:
        Query id -> {metric name: value}, for every query of the qrels, in qrels order.

    Raises:
        InvalidInputError: Empty qrels, an unknown metric, or a malformed run or qrels.
    """
    metric_names = _unique_metrics(metrics)
    parsed_metrics = {metric: _parse_metric(metric) for metric in metric_names}
    checked_qrels = _checked_qrels(qrels)
    ranked_doc_ids = _ranked_doc_ids(run, checked_qrels)

    per_query: dict[str, dict[str, float]] = {
        query_id: dict.fromkeys(metric_names, 0.0) for query_id in checked_qrels
    }
    _score_cutoff_metrics(per_query, checked_qrels, ranked_doc_ids, parsed_metrics)
    _score_mrr(per_query, checked_qrels, ranked_doc_ids, parsed_metrics)
    return per_query


def _score_cutoff_metrics(
    per_query: dict[str, dict[str, float]],
    qrels: dict[str, dict[str, int]],
    ranked_doc_ids: dict[str, list[str]],
    parsed_metrics: dict[str, tuple[str, int]],
) -> None:
    """Fill in the metrics other than MRR: one pytrec_eval pass over the full run."""
    import pytrec_eval  # deferred: a C extension only evaluation needs

    cutoffs_by_measure: dict[str, set[int]] = {}
    for name, cutoff in parsed_metrics.values():
        if name != "mrr":
            cutoffs_by_measure.setdefault(_PYTREC_MEASURE_BY_METRIC[name], set()).add(cutoff)
    if not cutoffs_by_measure:
        return
    measures = {
        f"{measure}.{','.join(str(cutoff) for cutoff in sorted(cutoffs))}"
        for measure, cutoffs in cutoffs_by_measure.items()
    }
    evaluator = pytrec_eval.RelevanceEvaluator(qrels, measures)
    results = evaluator.evaluate(run_from_ranked(ranked_doc_ids))
    for metric, (name, cutoff) in parsed_metrics.items():
        if name == "mrr":
            continue
        # trec_eval's result key for measure family "ndcg_cut" at cutoff 10 is "ndcg_cut_10".
        result_key = f"{_PYTREC_MEASURE_BY_METRIC[name]}_{cutoff}"
        for query_id, values in results.items():
            per_query[query_id][metric] = float(values[result_key])


def _score_mrr(
    per_query: dict[str, dict[str, float]],
    qrels: dict[str, dict[str, int]],
    ranked_doc_ids: dict[str, list[str]],
    parsed_metrics: dict[str, tuple[str, int]],
) -> None:
    """Fill in MRR@k: recip_rank on the run truncated to each query's top k."""
    import pytrec_eval  # deferred: a C extension only evaluation needs

    mrr_evaluator = None
    for metric, (name, cutoff) in parsed_metrics.items():
        if name != "mrr":
            continue
        if mrr_evaluator is None:
            mrr_evaluator = pytrec_eval.RelevanceEvaluator(qrels, {"recip_rank"})
        truncated = {query_id: doc_ids[:cutoff] for query_id, doc_ids in ranked_doc_ids.items()}
        results = mrr_evaluator.evaluate(run_from_ranked(truncated))
        for query_id, values in results.items():
            per_query[query_id][metric] = float(values["recip_rank"])


def _unique_metrics(metrics: Sequence[str]) -> list[str]:
    metric_names = list(dict.fromkeys(string_list("metrics", metrics, what="metric names")))
    if not metric_names:
        raise InvalidInputError(f"metrics is empty; expected names such as {DEFAULT_METRICS!r}")
    return metric_names


def _parse_metric(metric: object) -> tuple[str, int]:
    match = _METRIC_PATTERN.match(metric) if isinstance(metric, str) else None
    if match is None:
        raise InvalidInputError(
            f"unknown metric {metric!r}; expected '<name>@<k>' with name one of ndcg, recall, "
            "mrr, precision, map and k >= 1 (e.g. 'ndcg@10')"
        )
    return match.group(1), int(match.group(2))


def _checked_qrels(qrels: Mapping[str, Mapping[str, int]]) -> dict[str, dict[str, int]]:
    """Qrels as plain dicts of str -> int, the only form pytrec_eval accepts."""
    if not isinstance(qrels, Mapping) or not qrels:
        raise InvalidInputError(
            "qrels is empty or not a mapping; expected {query id: {doc id: grade}}"
        )
    checked: dict[str, dict[str, int]] = {}
    for query_id, judgements in qrels.items():
        if not isinstance(query_id, str) or not isinstance(judgements, Mapping):
            raise InvalidInputError(
                f"qrels[{query_id!r}]: expected a str query id mapped to {{doc id: grade}}"
            )
        checked_judgements: dict[str, int] = {}
        for doc_id, grade in judgements.items():
            if (
                not isinstance(doc_id, str)
                or isinstance(grade, bool)
                or not isinstance(grade, numbers.Integral)
            ):
                raise InvalidInputError(
                    f"qrels[{query_id!r}][{doc_id!r}] = {grade!r}; expected a str document id "
                    "and an integer grade"
                )
            checked_judgements[doc_id] = int(grade)
        checked[query_id] = checked_judgements
    return checked


def _ranked_doc_ids(
    run: Mapping[str, Mapping[str, float]], qrels: Mapping[str, Mapping[str, int]]
) -> dict[str, list[str]]:
    """Each judged query's run as document ids, score descending, exact ties in given order."""
    if not isinstance(run, Mapping):
        raise InvalidInputError(
            f"run is a {type(run).__name__}; expected {{query id: {{doc id: score}}}}"
        )
    ranked: dict[str, list[str]] = {}
    for query_id, scores_by_doc in run.items():
        if query_id not in qrels:
            continue  # unjudged queries cannot be scored; trec_eval ignores them too
        if not isinstance(scores_by_doc, Mapping):
            raise InvalidInputError(
                f"run[{query_id!r}] is a {type(scores_by_doc).__name__}; expected {{doc id: score}}"
            )
        for doc_id, score in scores_by_doc.items():
            if (
                not isinstance(doc_id, str)
                or isinstance(score, bool)
                or not isinstance(score, numbers.Real)
                or math.isnan(score)
            ):
                raise InvalidInputError(
                    f"run[{query_id!r}][{doc_id!r}] = {score!r}; expected a str document id "
                    "and a real score"
                )
        # sorted() is stable, so documents with exactly equal scores keep the run's order.
        ranked[query_id] = sorted(scores_by_doc, key=lambda doc_id: -scores_by_doc[doc_id])
    return ranked
