"""HybridIndex.tune end to end on a small corpus: candidates equal the legs a search runs,
the tuned fusion becomes the default (and the plan says so), and commits and saves keep it."""

from __future__ import annotations

import json
import warnings

import pytest

from hybridsearch.corpus.documents import Document
from hybridsearch.errors import IndexFormatError, InvalidInputError
from hybridsearch.eval.tuning import (
    FusedBelowLegWarning,
    FusionSetting,
    fused_documents,
    leg_documents,
)
from hybridsearch.index.hybrid_index import HybridIndex

DOCUMENTS = {
    "tea": "Green tea leaves are steeped in hot water for a few minutes.",
    "coffee": "Coffee beans are roasted, ground and brewed with hot water.",
    "kettle": "An electric kettle boils water quickly and switches itself off.",
    "milk": "Milk froths when steamed, for cappuccino and latte drinks.",
    "sugar": "Sugar sweetens bitter drinks; honey is a sweeter alternative.",
    "cocoa": "Cocoa powder mixed with warm milk makes a hot chocolate drink.",
    "herbal": "Herbal infusions such as chamomile contain no tea leaves at all.",
    "grinder": "A burr grinder crushes roasted beans evenly before brewing.",
}
QUERIES = {
    "q1": ("steeping green tea", "tea"),
    "q2": ("grinding roasted coffee beans", "grinder"),
    "q3": ("boiling water fast", "kettle"),
    "q4": ("frothy milk for a latte", "milk"),
    "q5": ("hot chocolate", "cocoa"),
    "q6": ("chamomile infusion", "herbal"),
}


@pytest.fixture(scope="module")
def index(encoder) -> HybridIndex:
    return HybridIndex.build(
        [Document(doc_id, text) for doc_id, text in DOCUMENTS.items()], model=encoder
    )


def _labelled() -> tuple[dict[str, str], dict[str, dict[str, int]]]:
    queries = {query_id: text for query_id, (text, _) in QUERIES.items()}
    qrels = {query_id: {doc_id: 1} for query_id, (_, doc_id) in QUERIES.items()}
    return queries, qrels


def test_candidates_rank_as_the_search_does(index):
    queries, _ = _labelled()
    candidates = index.leg_candidates(queries)
    texts = list(queries.values())
    searches = {
        FusionSetting("rrf"): {"fusion": "rrf"},
        FusionSetting("dbsf", (0.5, 1.0)): {"fusion": "dbsf", "weights": {"bm25": 0.5}},
        FusionSetting("convex", (1.0, 0.0)): {"fusion": "convex", "weights": {"dense": 0}},
    }
    for leg in ("bm25", "dense"):
        for query_id, hits in zip(queries, index.search_batch(texts, 100, mode=leg), strict=True):
            assert leg_documents(candidates[query_id], leg) == [hit.doc_id for hit in hits]
    for setting, options in searches.items():
        for query_id, hits in zip(queries, index.search_batch(texts, 100, **options), strict=True):
            assert fused_documents(candidates[query_id], setting) == [h.doc_id for h in hits]


def test_tune_sets_the_default_and_the_plan_says_so(index, tmp_path):
    queries, qrels = _labelled()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = index.tune(queries, qrels, folds=3)
    tuned = index.tuned_fusion
    assert tuned is result.tuned and tuned.tuned_on == 6 and tuned.folds == 3
    assert set(result.leg_estimates) == {"bm25", "dense", "bm25+rm3"}
    better = max(result.leg_estimates.values())
    below = [w for w in caught if issubclass(w.category, FusedBelowLegWarning)]
    assert len(below) == sum(result.estimate < v for v in result.leg_estimates.values())
    if result.estimate <= better:  # kept the better leg, the other weighted 0
        assert tuned.kept in ("bm25", "dense") and tuned.weights[tuned.kept] == 1.0
        assert sum(tuned.weights.values()) == 1.0
        best_leg = max(result.leg_estimates, key=result.leg_estimates.get)
        assert tuned.bm25_feedback == ("rm3" if best_leg == "bm25+rm3" else "none")
    else:
        assert tuned.kept == "fused"
    hits = index.search("green tea", k=3)
    assert hits.plan.fusion == tuned.fusion
    assert dict(hits.plan.fusion_params["weights"]) == dict(tuned.weights)
    assert any("fusion tuned on 6 queries" in note for note in hits.plan.notes)
    # Setting any fusion option yourself: the library defaults, and no tuned note.
    explicit = index.search("green tea", k=3, fusion="rrf")
    assert explicit.plan.fusion_params == {"k": 60.0, "weights": {"bm25": 1.0, "dense": 1.0}}
    assert not any("tuned" in note for note in explicit.plan.notes)

    # save() keeps it, load() reads it back, and a commit after a change carries it.
    index.save(tmp_path / "saved")
    loaded = HybridIndex.load(tmp_path / "saved", model=index.encoder)
    assert loaded.tuned_fusion == tuned
    with HybridIndex.open(tmp_path / "saved", model=index.encoder) as opened:
        opened.add([Document("water", "Mineral water has no tea, coffee or sugar in it.")])
        generation = opened.commit()
    commit = json.loads((tmp_path / "saved" / f"commit_{generation:010d}.json").read_text())
    assert commit["search_defaults"]["tuned_on"] == 6
    assert HybridIndex.load(tmp_path / "saved", model=index.encoder).tuned_fusion == tuned

    # A damaged stored fusion is refused with the file and field named.
    commit["search_defaults"]["fusion"] = "median"
    path = tmp_path / "saved" / f"commit_{generation:010d}.json"
    path.write_text(json.dumps(commit))
    with pytest.raises(IndexFormatError, match=r"search_defaults.*fusion"):
        HybridIndex.load(tmp_path / "saved", model=index.encoder, verify_checksums=False)
    index.tuned_fusion = None
    assert not any("tuned" in note for note in index.search("green tea").plan.notes)


def test_tune_refuses_unlabelled_queries(index):
    with pytest.raises(InvalidInputError, match="0 of the 2 queries have judgements"):
        index.tune({"a": "tea", "b": "coffee"}, {"zz": {"tea": 1}})
