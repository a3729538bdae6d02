"""Tests for hybridsearch.eval.tuning on hand-made candidate lists (no index, no model)."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

from hybridsearch.errors import InvalidInputError
from hybridsearch.eval.tuning import (
    FusedBelowLegWarning,
    FusionSetting,
    LegCandidates,
    _cross_validated,
    default_grid,
    fused_below_legs,
    fused_documents,
    leg_documents,
    tune_fusion,
)


def candidates_of(bm25: list[str], dense: list[str]) -> LegCandidates:
    """Legs whose passages are their documents (passage n = n-th distinct id), scores falling."""
    ids = list(dict.fromkeys(bm25 + dense))
    number = {doc_id: position for position, doc_id in enumerate(ids)}
    legs = {
        "bm25": [(number[d], 10.0 - rank) for rank, d in enumerate(bm25)],
        "dense": [(number[d], 0.9 - rank / 100) for rank, d in enumerate(dense)],
    }
    return LegCandidates(legs, {position: doc_id for doc_id, position in number.items()})


def test_fused_documents_keeps_each_document_at_its_best_passage() -> None:
    # Passages 0 and 2 belong to document "a". RRF k=60, equal weights:
    # p0: 1/61 (bm25 1st); p1: 1/62 + 1/61 (bm25 2nd, dense 1st); p2: 1/62 (dense 2nd).
    candidates = LegCandidates(
        {"bm25": [(0, 5.0), (1, 4.0)], "dense": [(1, 0.9), (2, 0.8)]},
        {0: "a", 1: "b", 2: "a"},
    )
    assert fused_documents(candidates, FusionSetting("rrf")) == ["b", "a"]
    assert leg_documents(candidates, "dense") == ["b", "a"]
    assert leg_documents(candidates, "bm25") == ["a", "b"]
    # Dense off: BM25's order alone.
    assert fused_documents(candidates, FusionSetting("rrf", (1.0, 0.0))) == ["a", "b"]


def test_cross_validation_is_honest_about_overfitting() -> None:
    # Leave-one-out (folds = queries): each held-out query's setting is chosen on the other
    # three, and is always the one that scores 0 on it. In-sample the best scores 0.5.
    matrix = np.array([[1.0, 1.0, 0.0, 0.0], [0.0, 0.0, 1.0, 1.0]])
    assert _cross_validated(matrix, folds=4, seed=0) == 0.0
    # A setting better on every query is chosen in every fold.
    matrix = np.array([[0.2, 0.4, 0.6, 0.8], [0.3, 0.5, 0.7, 0.9]])
    assert _cross_validated(matrix, folds=2, seed=3) == pytest.approx(0.6)


def test_tune_keeps_fusion_that_beats_both_legs() -> None:
    # Each leg puts the relevant document 2nd behind its own distractor; fused, the relevant
    # one is the only document both legs return, so RRF (any k, equal weights) ranks it 1st.
    candidates = {
        f"q{n}": candidates_of([f"x{n}", f"r{n}", f"y{n}"], [f"z{n}", f"r{n}", f"w{n}"])
        for n in range(10)
    }
    qrels = {f"q{n}": {f"r{n}": 1} for n in range(10)}
    result = tune_fusion(candidates, qrels, folds=5)
    leg_ndcg = 1 / math.log2(3)
    assert result.leg_estimates == pytest.approx({"bm25": leg_ndcg, "dense": leg_ndcg})
    assert result.default_rrf == pytest.approx(1.0)
    assert result.estimate == pytest.approx(1.0)
    assert result.tuned.kept == "fused" and result.warnings == ()
    # Untuned RRF is first in the grid, so ties keep it.
    assert result.best == FusionSetting("rrf")
    assert result.tuned.tuned_on == 10 and result.tuned.fusion == "rrf"
    assert "bm25 alone" in result.report() and "fused, tuned (CV)" in result.report()
    assert len(result.table) == len(default_grid())


def test_tune_keeps_the_better_leg_when_fusion_loses_and_warns() -> None:
    # Dense ranks the relevant document 1st; BM25 puts two distractors first. With equal
    # RRF weights (the only setting tried here) a distractor returned by both legs wins.
    candidates = {
        f"q{n}": candidates_of([f"x{n}", f"y{n}", f"r{n}"], [f"r{n}", f"x{n}", f"y{n}"])
        for n in range(6)
    }
    qrels = {f"q{n}": {f"r{n}": 1} for n in range(6)}
    with pytest.warns(FusedBelowLegWarning, match="below dense alone"):
        result = tune_fusion(candidates, qrels, folds=3, grid=[FusionSetting("rrf")])
    assert result.leg_estimates["dense"] == pytest.approx(1.0)
    assert result.estimate < 1.0
    assert result.tuned.kept == "dense"
    assert result.tuned.weights == {"bm25": 0.0, "dense": 1.0}
    assert "kept: dense dominant" in result.report()
    assert len(result.warnings) == 1


def test_tune_needs_two_labelled_queries_and_two_folds() -> None:
    candidates = {"q1": candidates_of(["a"], ["a"]), "q2": candidates_of(["b"], ["b"])}
    with pytest.raises(InvalidInputError, match="1 of the 2 queries have judgements"):
        tune_fusion(candidates, {"q1": {"a": 1}, "q9": {"b": 1}})
    with pytest.raises(InvalidInputError, match="folds is 1"):
        tune_fusion(candidates, {"q1": {"a": 1}, "q2": {"b": 1}}, folds=1)


def test_fused_below_legs_warns_only_below() -> None:
    with pytest.warns(FusedBelowLegWarning) as caught:
        messages = fused_below_legs({"bm25": 0.70, "dense": 0.60, "hybrid": 0.65})
    assert len(caught) == 1 and len(messages) == 1
    assert "below bm25 alone" in messages[0] and "0.6500 < 0.7000" in messages[0]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert fused_below_legs({"bm25": 0.70, "dense": 0.60, "hybrid": 0.70}) == []
        assert fused_below_legs({"bm25": 0.70}) == []
