"""Tests for hybridsearch.eval.metrics: metrics checked by hand and against pytrec_eval."""

from __future__ import annotations

import math
import random

import pytest

from hybridsearch.errors import InvalidInputError
from hybridsearch.eval.metrics import (
    DEFAULT_METRICS,
    evaluate,
    evaluate_per_query,
    run_from_ranked,
)

# --- textbook metric formulas, independent of pytrec_eval ----------------------------------


def ndcg_at(ranked: list[str], grades: dict[str, int], cutoff: int) -> float:
    """nDCG@k with linear gain (trec_eval's and BEIR's) and a log2(rank + 1) discount."""
    dcg = sum(
        grades.get(doc_id, 0) / math.log2(rank + 1)
        for rank, doc_id in enumerate(ranked[:cutoff], start=1)
    )
    ideal = sorted((grade for grade in grades.values() if grade > 0), reverse=True)[:cutoff]
    idcg = sum(grade / math.log2(rank + 1) for rank, grade in enumerate(ideal, start=1))
    return dcg / idcg if idcg else 0.0


def recall_at(ranked: list[str], grades: dict[str, int], cutoff: int) -> float:
    relevant = {doc_id for doc_id, grade in grades.items() if grade > 0}
    return len(relevant & set(ranked[:cutoff])) / len(relevant)


def reciprocal_rank_at(ranked: list[str], grades: dict[str, int], cutoff: int) -> float:
    for rank, doc_id in enumerate(ranked[:cutoff], start=1):
        if grades.get(doc_id, 0) > 0:
            return 1 / rank
    return 0.0


QRELS = {
    "q1": {"d1": 2, "d2": 1, "d5": 1, "d9": 0},
    "q2": {"d3": 1},
    "q3": {"d7": 1},  # not in the run: must count as 0
}
RUN = {
    # d2 (grade 1) at rank 1, d9 (judged non-relevant) at 2, d1 (grade 2) at 3; d5 not found.
    "q1": {"d2": 0.9, "d9": 0.8, "d1": 0.7, "d4": 0.6},
    # the only relevant document at rank 11: outside MRR@10 and nDCG@10, inside Recall@100.
    "q2": {**{f"x{rank}": 100.0 - rank for rank in range(1, 11)}, "d3": 50.0},
    "q4": {"d1": 1.0},  # not judged: ignored
}
RANKED = {
    "q1": ["d2", "d9", "d1", "d4"],
    "q2": [f"x{rank}" for rank in range(1, 11)] + ["d3"],
    "q3": [],
}


def test_hand_example_values_by_hand() -> None:
    # Worked out on paper for q1: DCG = 1/log2(2) + 2/log2(4) = 2,
    # IDCG = 2/log2(2) + 1/log2(3) + 1/log2(4) = 2.5 + 1/log2(3).
    assert ndcg_at(RANKED["q1"], QRELS["q1"], 10) == pytest.approx(2 / (2.5 + 1 / math.log2(3)))
    assert recall_at(RANKED["q1"], QRELS["q1"], 100) == pytest.approx(2 / 3)


def test_evaluate_matches_textbook_formulas() -> None:
    results = evaluate(RUN, QRELS)
    assert set(results) == {"ndcg@10", "recall@100", "mrr@10"}
    query_ids = list(QRELS)
    expected = {
        "ndcg@10": sum(ndcg_at(RANKED[q], QRELS[q], 10) for q in query_ids) / 3,
        "recall@100": sum(recall_at(RANKED[q], QRELS[q], 100) for q in query_ids) / 3,
        "mrr@10": sum(reciprocal_rank_at(RANKED[q], QRELS[q], 10) for q in query_ids) / 3,
    }
    for metric, value in expected.items():
        assert results[metric] == pytest.approx(value, rel=1e-9), metric
    # The same numbers written out: q1 + q2 + q3 (missing) over 3 queries.
    assert results["mrr@10"] == pytest.approx((1 + 0 + 0) / 3)
    assert results["recall@100"] == pytest.approx((2 / 3 + 1 + 0) / 3)


def test_evaluate_per_query_and_missing_query_is_zero() -> None:
    per_query = evaluate_per_query(RUN, QRELS, metrics=["ndcg@10", "mrr@10", "precision@2"])
    assert list(per_query) == ["q1", "q2", "q3"]  # every judged query, unjudged q4 ignored
    assert per_query["q3"] == {"ndcg@10": 0.0, "mrr@10": 0.0, "precision@2": 0.0}
    assert per_query["q1"]["precision@2"] == pytest.approx(0.5)
    # MRR is cut at 10: q2's relevant document at rank 11 gives 0, not 1/11.
    assert per_query["q2"]["mrr@10"] == 0.0
    assert evaluate_per_query(RUN, QRELS, metrics=["mrr@11"])["q2"]["mrr@11"] == pytest.approx(
        1 / 11
    )
    # An empty result list counts like a missing one.
    assert evaluate({"q3": {}}, {"q3": {"d7": 1}}) == {
        "ndcg@10": 0.0,
        "recall@100": 0.0,
        "mrr@10": 0.0,
    }


def test_evaluate_keeps_run_order_on_ties() -> None:
    # trec_eval alone breaks ties by doc id descending ("z" before "a") and treats scores
    # that differ in the 9th digit as tied; evaluate keeps the run's own order.
    qrels = {"q": {"a": 1}}
    assert evaluate({"q": {"a": 1.0, "z": 1.0}}, qrels, ["mrr@10"]) == {"mrr@10": 1.0}
    assert evaluate({"q": {"z": 1.0, "a": 1.0 - 1e-9}}, qrels, ["mrr@10"]) == {"mrr@10": 0.5}
    assert evaluate({"q": {"a": 1.0, "z": 1.0 - 1e-9}}, qrels, ["mrr@10"]) == {"mrr@10": 1.0}


def test_evaluate_agrees_with_pytrec_eval_on_untied_run() -> None:
    import pytrec_eval

    rng = random.Random(7)
    doc_ids = [f"d{i}" for i in range(60)]
    qrels = {
        f"q{q}": {doc_id: rng.choice([0, 1, 2]) for doc_id in rng.sample(doc_ids, 8)}
        for q in range(20)
    }
    run = {
        query_id: {doc_id: rng.random() for doc_id in rng.sample(doc_ids, 30)} for query_id in qrels
    }
    direct = pytrec_eval.RelevanceEvaluator(qrels, {"ndcg_cut.10", "recall.100"}).evaluate(run)
    ours = evaluate(run, qrels, ["ndcg@10", "recall@100"])
    for metric, key in [("ndcg@10", "ndcg_cut_10"), ("recall@100", "recall_100")]:
        direct_mean = sum(values[key] for values in direct.values()) / len(direct)
        assert ours[metric] == pytest.approx(direct_mean, rel=1e-12)


@pytest.mark.parametrize(
    ("run", "qrels", "metrics", "message"),
    [
        (RUN, QRELS, ["ndcg"], "unknown metric 'ndcg'"),
        (RUN, QRELS, ["ndcg@0"], "unknown metric"),
        (RUN, QRELS, "ndcg@10", "metrics must be a sequence of metric names"),
        (RUN, QRELS, ["ndcg@10", 5], r"metrics\[1\] is a int"),
        (RUN, QRELS, [], "metrics is empty"),
        (RUN, {}, ["ndcg@10"], "qrels is empty"),
        (RUN, {"q1": {"d1": 1.5}}, ["ndcg@10"], "expected a str document id and an integer"),
        ({"q1": {"d1": "high"}}, QRELS, ["ndcg@10"], "expected a str document id and a real"),
        ({"q1": {"d1": math.nan}}, QRELS, ["ndcg@10"], "real score"),
        ({"q1": ["d1"]}, QRELS, ["ndcg@10"], r"run\['q1'\] is a list"),
    ],
)
def test_evaluate_validation(run: object, qrels: object, metrics: object, message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        evaluate(run, qrels, metrics)  # type: ignore[arg-type]


# --- run_from_ranked -----------------------------------------------------------------------


def test_run_from_ranked_strictly_decreasing() -> None:
    run = run_from_ranked({"q": ["b", "a", "c", "a"], "empty": []})
    assert run == {"q": {"b": 3.0, "a": 2.0, "c": 1.0}, "empty": {}}
    with pytest.raises(InvalidInputError, match=r"ranked\['q'\]\[0\] is a int; expected a str"):
        run_from_ranked({"q": [1, 2]})  # type: ignore[list-item]
    with pytest.raises(
        InvalidInputError, match=r"ranked\['q'\] must be a sequence of document ids \(a list"
    ):
        run_from_ranked({"q": "abc"})
    with pytest.raises(InvalidInputError, match="query id 3 is not a str"):
        run_from_ranked({3: ["a"]})  # type: ignore[dict-item]


def test_default_metrics() -> None:
    assert set(evaluate(RUN, QRELS)) == set(DEFAULT_METRICS)


def test_evaluate_metric_order_and_duplicates() -> None:
    results = evaluate(RUN, QRELS, ["mrr@10", "ndcg@10", "mrr@10", "map@5"])
    assert list(results) == ["mrr@10", "ndcg@10", "map@5"]
