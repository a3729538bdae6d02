"""BEIR dataset loading and retrieval metrics (nDCG@k, Recall@k, MRR@k, ...).

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

import json
import math
import numbers
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from hybridsearch.errors import CorpusFormatError, InvalidInputError

if TYPE_CHECKING:
    from hybridsearch.index.hybrid_index import HybridIndex

__all__ = [
    "DEFAULT_METRICS",
    "BeirDataset",
    "evaluate",
    "evaluate_index",
    "evaluate_per_query",
    "load_beir",
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

_QRELS_HEADER = ("query-id", "corpus-id", "score")


class BeirDataset(NamedTuple):
    """One split of a BEIR dataset, ready to evaluate against.

    Attributes:
        corpus_path: The dataset's ``corpus.jsonl`` (stream it with ``read_beir_corpus``).
        queries: Query id -> query text, only the queries judged in the split, in the order
            they first appear in the qrels file.
        qrels: Query id -> {document id: relevance grade}.
    """

    corpus_path: Path
    queries: dict[str, str]
    qrels: dict[str, dict[str, int]]


def load_beir(dataset_dir: str | os.PathLike[str], split: str = "test") -> BeirDataset:
    """Load the queries and relevance judgements of one split of a BEIR dataset folder.

    The folder holds ``corpus.jsonl``, ``queries.jsonl`` (all splits' queries, ``_id`` and
    ``text`` per line) and ``qrels/<split>.tsv`` (a ``query-id  corpus-id  score`` header,
    tab-separated, CRLF or LF line endings). The corpus is not read, only checked to exist:
    it can be large and the index streams it.

    Args:
        dataset_dir: The BEIR dataset folder (e.g. ``../shared/beir/scifact``).
        split: The qrels split to load (``"test"``, ``"dev"``, ``"train"``).

    Returns:
        The dataset split.

    Raises:
        CorpusFormatError: A file is missing, a line is malformed, or a judged query is not in
            ``queries.jsonl`` (the message names the file and line).
        InvalidInputError: The split has no qrels file (the message lists those present).
    """
    dataset_path = Path(dataset_dir)
    if not dataset_path.is_dir():
        raise CorpusFormatError(f"BEIR dataset not found: {dataset_path}")
    corpus_path = dataset_path / "corpus.jsonl"
    queries_path = dataset_path / "queries.jsonl"
    qrels_dir = dataset_path / "qrels"
    for required_path in (corpus_path, queries_path):
        if not required_path.is_file():
            raise CorpusFormatError(f"{required_path}: missing; expected a BEIR dataset folder")
    if not qrels_dir.is_dir():
        raise CorpusFormatError(f"{qrels_dir}: missing; expected a folder of <split>.tsv files")
    qrels_path = qrels_dir / f"{split}.tsv"
    if not qrels_path.is_file():
        available_splits = sorted(path.stem for path in qrels_dir.glob("*.tsv"))
        raise InvalidInputError(
            f"split {split!r} not found in {qrels_dir}; available splits: "
            f"{', '.join(available_splits) or 'none'}"
        )

    qrels, first_line_by_query = _read_qrels(qrels_path)
    all_queries = _read_queries(queries_path)
    queries: dict[str, str] = {}
    for query_id in qrels:
        if query_id not in all_queries:
            raise CorpusFormatError(
                f"{qrels_path}:{first_line_by_query[query_id]}: query id {query_id!r} is not "
                f"in {queries_path}; expected every judged query to have a text"
            )
        queries[query_id] = all_queries[query_id]
    return BeirDataset(corpus_path=corpus_path, queries=queries, qrels=qrels)


def _read_qrels(qrels_path: Path) -> tuple[dict[str, dict[str, int]], dict[str, int]]:
    """Parse a BEIR qrels TSV: judgements, and each query's first line number (for errors)."""
    qrels: dict[str, dict[str, int]] = {}
    first_line_by_query: dict[str, int] = {}
    expected = "expected 'query-id<TAB>corpus-id<TAB>integer score'"
    with qrels_path.open(encoding="utf-8", newline="") as qrels_file:
        for line_no, raw_line in enumerate(qrels_file, start=1):
            line = raw_line.rstrip("\r\n")
            if not line.strip():
                continue
            fields = line.split("\t")
            if line_no == 1 and tuple(field.strip() for field in fields) == _QRELS_HEADER:
                continue
            if len(fields) != 3:
                raise CorpusFormatError(
                    f"{qrels_path}:{line_no}: found {len(fields)} tab-separated fields; {expected}"
                )
            query_id, doc_id, raw_score = (field.strip() for field in fields)
            if not query_id or not doc_id:
                raise CorpusFormatError(f"{qrels_path}:{line_no}: empty id; {expected}")
            try:
                score = int(raw_score)
            except ValueError:
                raise CorpusFormatError(
                    f"{qrels_path}:{line_no}: score {raw_score!r} is not an integer; {expected}"
                ) from None
            judgements = qrels.setdefault(query_id, {})
            first_line_by_query.setdefault(query_id, line_no)
            if judgements.get(doc_id, score) != score:
                raise CorpusFormatError(
                    f"{qrels_path}:{line_no}: ({query_id!r}, {doc_id!r}) judged again with a "
                    f"different score ({judgements[doc_id]} then {score}); expected one "
                    "judgement per pair"
                )
            judgements[doc_id] = score
    return qrels, first_line_by_query


def _read_queries(queries_path: Path) -> dict[str, str]:
    """Parse BEIR's queries.jsonl into query id -> text."""
    queries: dict[str, str] = {}
    expected = 'expected one JSON object per line with "_id" and "text" strings'
    with queries_path.open("rb") as queries_file:
        for line_no, raw_line in enumerate(queries_file, start=1):
            where = f"{queries_path}:{line_no}"
            try:
                line = raw_line.decode("utf-8").removeprefix("\ufeff")
            except UnicodeDecodeError:
                raise CorpusFormatError(f"{where}: not valid UTF-8; {expected}") from None
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise CorpusFormatError(f"{where}: invalid JSON ({exc.msg}); {expected}") from None
            if not isinstance(record, dict):
                raise CorpusFormatError(f"{where}: not a JSON object; {expected}")
            raw_id = record.get("_id", record.get("id"))
            if isinstance(raw_id, bool) or not isinstance(raw_id, str | int) or raw_id == "":
                raise CorpusFormatError(f"{where}: missing or invalid id {raw_id!r}; {expected}")
            text = record.get("text")
            if not isinstance(text, str):
                raise CorpusFormatError(f"{where}: query {raw_id!r} has no text string; {expected}")
            queries[str(raw_id)] = text
    return queries


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
        if isinstance(doc_ids, str):
            raise InvalidInputError(
                f"run_from_ranked: query {query_id!r} maps to a string; expected a sequence "
                "of document ids"
            )
        unique_doc_ids = list(dict.fromkeys(doc_ids))
        if len(unique_doc_ids) > _MAX_RANKED_PER_QUERY:
            raise InvalidInputError(
                f"run_from_ranked: query {query_id!r} has {len(unique_doc_ids)} documents; "
                f"at most {_MAX_RANKED_PER_QUERY} can be ranked exactly"
            )
        for doc_id in unique_doc_ids:
            if not isinstance(doc_id, str):
                raise InvalidInputError(
                    f"run_from_ranked: query {query_id!r}: document id {doc_id!r} is not a str"
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
    import pytrec_eval  # deferred: a C extension only evaluation needs

    metric_names = _unique_metrics(metrics)
    parsed_metrics = [_parse_metric(metric) for metric in metric_names]
    checked_qrels = _checked_qrels(qrels)
    ranked_doc_ids = _ranked_doc_ids(run, checked_qrels)

    per_query: dict[str, dict[str, float]] = {
        query_id: dict.fromkeys(metric_names, 0.0) for query_id in checked_qrels
    }

    # Metrics other than MRR: one pytrec_eval pass over the full run. trec_eval's result key
    # for measure family "ndcg_cut" at cutoff 10 is "ndcg_cut_10".
    cutoffs_by_measure: dict[str, set[int]] = {}
    for name, cutoff in parsed_metrics:
        if name != "mrr":
            cutoffs_by_measure.setdefault(_PYTREC_MEASURE_BY_METRIC[name], set()).add(cutoff)
    if cutoffs_by_measure:
        measures = {
            f"{measure}.{','.join(str(cutoff) for cutoff in sorted(cutoffs))}"
            for measure, cutoffs in cutoffs_by_measure.items()
        }
        evaluator = pytrec_eval.RelevanceEvaluator(checked_qrels, measures)
        results = evaluator.evaluate(run_from_ranked(ranked_doc_ids))
        for metric, (name, cutoff) in zip(metric_names, parsed_metrics, strict=True):
            if name == "mrr":
                continue
            result_key = f"{_PYTREC_MEASURE_BY_METRIC[name]}_{cutoff}"
            for query_id, values in results.items():
                per_query[query_id][metric] = float(values[result_key])

    # MRR@k: recip_rank on the run truncated to each query's top k.
    mrr_evaluator = None
    for metric, (name, cutoff) in zip(metric_names, parsed_metrics, strict=True):
        if name != "mrr":
            continue
        if mrr_evaluator is None:
            mrr_evaluator = pytrec_eval.RelevanceEvaluator(checked_qrels, {"recip_rank"})
        truncated = {query_id: doc_ids[:cutoff] for query_id, doc_ids in ranked_doc_ids.items()}
        results = mrr_evaluator.evaluate(run_from_ranked(truncated))
        for query_id, values in results.items():
            per_query[query_id][metric] = float(values["recip_rank"])
    return per_query


def _unique_metrics(metrics: Sequence[str]) -> list[str]:
    if isinstance(metrics, str):
        raise InvalidInputError(
            f"metrics must be a sequence of names, got the string {metrics!r}; "
            f"e.g. {list(DEFAULT_METRICS)!r}"
        )
    metric_names = list(dict.fromkeys(metrics))
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


def search_run(
    index: HybridIndex,
    queries: Mapping[str, str],
    *,
    depth: int = 100,
    batch_size: int = 64,
    **options: Any,
) -> dict[str, list[str]]:
    """Document ids ranked by the index for each query (query id -> ids, best first).

    Args:
        index: The index to search.
        queries: Query id -> query text.
        depth: Documents per query (100, so Recall@100 is meaningful).
        batch_size: Queries searched together (their dense encodings share batches).
        **options: Search options (``mode``, ``fusion``, ...), as for ``HybridIndex.search``.
    """
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
    index: HybridIndex,
    dataset: BeirDataset,
    *,
    metrics: Sequence[str] = DEFAULT_METRICS,
    **options: Any,
) -> dict[str, float]:
    """Search every query of a BEIR split with the index and score the document rankings.

    Args:
        index: The index (built from ``dataset.corpus_path``).
        dataset: The split, from :func:`load_beir`.
        metrics: As for :func:`evaluate`.
        **options: Search options (``mode``, ``fusion``, ...), as for ``HybridIndex.search``.
    """
    ranked = search_run(index, dataset.queries, **options)
    return evaluate(run_from_ranked(ranked), dataset.qrels, metrics)
