"""Tests for hybridsearch.eval.runs: runs are scored by the order shown, not by fused scores."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from hybridsearch.errors import InvalidInputError
from hybridsearch.eval.beir import BeirDataset
from hybridsearch.eval.metrics import evaluate, run_from_ranked
from hybridsearch.eval.runs import evaluate_index, search_run


@dataclass(frozen=True)
class FakeHit:
    doc_id: str
    score: float


class FakeIndex:
    """Answers each query with fixed hits; records how search_batch was called."""

    def __init__(self, hits_by_query: dict[str, list[FakeHit]]) -> None:
        self.hits_by_query = hits_by_query
        self.calls: list[tuple[list[str], int, dict[str, Any]]] = []

    def search_batch(self, queries: list[str], k: int, **options: Any) -> list[list[FakeHit]]:
        self.calls.append((list(queries), k, options))
        return [self.hits_by_query.get(query, [])[:k] for query in queries]


# The shown order puts tied hits in ascending id order ("a" before "z"); trec_eval, given
# the raw scores, re-breaks those ties by id descending, so scoring by score would put the
# relevant "a" second (q1) and the first relevant document of q2 ("x") second.
HITS = {
    "text one": [FakeHit("a", 0.5), FakeHit("z", 0.5), FakeHit("c", 0.1)],
    "text two": [FakeHit("m", 0.3), FakeHit("y", 0.3), FakeHit("x", 0.3), FakeHit("b", 0.1)],
    "text three": [],
}
DATASET = BeirDataset(
    corpus_path=Path("corpus.jsonl"),
    queries={"q1": "text one", "q2": "text two", "q3": "text three"},
    qrels={"q1": {"a": 1}, "q2": {"m": 2, "x": 1}, "q3": {"d": 1}},
)
SHOWN = {
    "q1": ["a", "z", "c"],
    "q2": ["m", "y", "x", "b"],
    "q3": [],
}
METRICS = ["ndcg@10", "mrr@10", "recall@100"]


def test_search_run_keeps_the_order_shown_and_the_call_shape() -> None:
    index = FakeIndex(HITS)
    ranked = search_run(index, DATASET.queries, depth=3, batch_size=2, mode="hybrid")
    assert ranked == {"q1": ["a", "z", "c"], "q2": ["m", "y", "x"], "q3": []}
    assert index.calls == [
        (["text one", "text two"], 3, {"unit": "documents", "mode": "hybrid"}),
        (["text three"], 3, {"unit": "documents", "mode": "hybrid"}),
    ]


def test_evaluate_index_scores_the_order_shown_not_the_scores() -> None:
    import pytrec_eval

    figures = evaluate_index(FakeIndex(HITS), DATASET, metrics=METRICS)
    assert figures == evaluate(run_from_ranked(SHOWN), DATASET.qrels, METRICS)
    # By hand: q1 and q2 have their best document first, q3 found nothing.
    assert figures["mrr@10"] == pytest.approx((1 + 1 + 0) / 3)

    # What scoring by the raw (tied) scores would measure: trec_eval puts "z" before "a", and
    # "y", "x" before "m", so both reciprocal ranks fall to 1/2 and nDCG falls too.
    score_run = {
        query_id: {hit.doc_id: hit.score for hit in HITS[text]}
        for query_id, text in DATASET.queries.items()
    }
    by_score = pytrec_eval.RelevanceEvaluator(DATASET.qrels, {"recip_rank"}).evaluate(score_run)
    assert by_score["q1"]["recip_rank"] == pytest.approx(0.5)
    assert by_score["q2"]["recip_rank"] == pytest.approx(0.5)
    mean_by_score = (by_score["q1"]["recip_rank"] + by_score["q2"]["recip_rank"] + 0) / 3
    assert figures["mrr@10"] != pytest.approx(mean_by_score)
    ndcg_by_score = pytrec_eval.RelevanceEvaluator(DATASET.qrels, {"ndcg_cut.10"}).evaluate(
        score_run
    )
    mean_ndcg_by_score = sum(values["ndcg_cut_10"] for values in ndcg_by_score.values()) / 3
    assert figures["ndcg@10"] > mean_ndcg_by_score + 0.1


def test_evaluate_index_passes_depth_and_options() -> None:
    index = FakeIndex(HITS)
    figures = evaluate_index(index, DATASET, metrics=["recall@100"], depth=1, fusion="rrf")
    # Depth 1 drops q2's second relevant document and keeps q1's.
    assert figures == pytest.approx({"recall@100": (1 + 0.5 + 0) / 3})
    assert {call[1] for call in index.calls} == {1}
    assert all(call[2] == {"unit": "documents", "fusion": "rrf"} for call in index.calls)


@pytest.mark.parametrize(("name", "value"), [("depth", 0), ("batch_size", 0), ("depth", 2.5)])
def test_search_run_refuses_bad_sizes(name: str, value: object) -> None:
    with pytest.raises(InvalidInputError, match=f"{name} must be a positive integer"):
        search_run(FakeIndex(HITS), DATASET.queries, **{name: value})
