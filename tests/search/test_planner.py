"""The query path: plans decided before running, results stable under paging, ties broken
the documented way, deepening only as the plan says."""

from __future__ import annotations

import itertools
import os

import pytest

from hybridsearch.errors import InvalidInputError
from hybridsearch.search.fusion import rrf
from hybridsearch.search.options import SearchOptions

from .conftest import make_planner, random_queries

MODES = ("hybrid", "bm25", "dense")
FUSIONS = ("rrf", "convex")
UNITS = ("documents", "passages")


def search(planner, query, **options):
    (hits,) = planner.run([planner.plan(query, SearchOptions(**options))])
    return hits


def as_rows(hits):
    return [
        (h.doc_id, h.passage_id, h.score, h.bm25_rank, h.bm25_score, h.dense_rank, h.dense_score)
        for h in hits
    ]


@pytest.mark.parametrize(
    ("mode", "fusion", "unit"), list(itertools.product(MODES, FUSIONS, UNITS))
)
def test_results_are_stable_under_paging(planner, mode, fusion, unit):
    # 100 random queries per combination: the first ten of k=50 are exactly k=10's.
    for query in random_queries(100):
        top10 = search(planner, query, k=10, mode=mode, fusion=fusion, unit=unit)
        top50 = search(planner, query, k=50, mode=mode, fusion=fusion, unit=unit)
        assert as_rows(top10) == as_rows(top50)[:10], query
        assert [h.rank for h in top10] == list(range(1, len(top10) + 1))


def test_paging_holds_with_a_small_depth_and_many_crowding_passages():
    # Documents of up to 9 passages crowd a depth of 5, so document results deepen; the
    # deepening does not depend on k (k <= depth), so paging stays exact.
    planner = make_planner(num_documents=40, seed=3, passages_per_document=(1, 10))
    for query in random_queries(60, seed=4):
        small = search(planner, query, k=3, depth=5, unit="documents")
        large = search(planner, query, k=5, depth=5, unit="documents")
        assert as_rows(small) == as_rows(large)[:3]


def _tie_key(hit):
    """The documented order among equal fused scores: best rank in any leg, then BM25's list
    before the dense one (a passage BM25 returned first), then that list's rank."""
    ranks = [rank for rank in (hit.bm25_rank, hit.dense_rank) if rank is not None]
    in_bm25 = hit.bm25_rank is not None
    return (min(ranks), 0 if in_bm25 else 1, hit.bm25_rank if in_bm25 else hit.dense_rank)


def test_every_fused_tie_is_broken_the_documented_way(planner):
    ties = 0
    for query in random_queries(150, seed=7):
        hits = search(planner, query, k=100, unit="passages", fusion="rrf")
        for first, second in itertools.pairwise(hits):
            assert first.score >= second.score
            if first.score == second.score:
                ties += 1
                assert _tie_key(first) < _tie_key(second), (query, first, second)
    assert ties > 100  # RRF ties are common (one-leg hits at the same rank): the rule matters


def test_hybrid_scores_are_the_fusion_of_the_legs(planner):
    query = "alpha river stone"
    hits = search(planner, query, k=100, unit="passages", rrf_k=60)
    bm25 = search(planner, query, k=100, mode="bm25", unit="passages")
    dense = search(planner, query, k=100, mode="dense", unit="passages")
    expected = rrf([[h.passage_id for h in bm25], [h.passage_id for h in dense]], k=60)
    assert [(h.passage_id, h.score) for h in hits] == [
        (passage, pytest.approx(score, rel=1e-12)) for passage, score in expected[:100]
    ]


def test_one_leg_hits_carry_that_legs_raw_scores(planner):
    hits = search(planner, "gamma delta", mode="bm25", unit="passages", k=5)
    assert all(h.dense_rank is None and h.score == h.bm25_score for h in hits)
    assert [h.bm25_rank for h in hits] == list(range(1, len(hits) + 1))


def test_documents_unit_deepens_as_the_plan_says_and_the_plan_is_unchanged():
    planner = make_planner(num_documents=30, seed=5, passages_per_document=(6, 10))
    plan = planner.plan("alpha beta", SearchOptions(k=10, depth=10, mode="bm25"))
    assert plan.target == 10 and plan.depth == 10 and plan.deepens
    assert "4x deeper" in plan.describe()
    (hits,) = planner.run([plan])
    assert hits.plan is plan and plan.depth == 10  # decided before running, never rewritten
    assert len({h.doc_id for h in hits}) == len(hits) == 10
    assert hits.depth > plan.depth
    assert f"searched {hits.depth} passages" in hits.describe()


def test_passages_unit_never_deepens(planner):
    plan = planner.plan("alpha", SearchOptions(unit="passages"))
    assert not plan.deepens and plan.deepening_rule() == "none"


def test_k_above_the_window_widens_it():
    planner = make_planner()
    plan = planner.plan("alpha", SearchOptions(k=150, unit="passages"))
    assert plan.target == 150 and plan.depth == min(150, planner.source.num_passages)


def test_a_query_bm25_cannot_match_runs_dense_only_and_says_so(planner):
    hits = search(planner, "unseenword", k=5)
    assert hits.plan.legs == ("dense",)
    assert hits.plan.notes and "dense only" in hits.plan.notes[0]
    assert search(planner, "unseenword", mode="bm25").plan.notes[0].endswith("BM25 returns nothing")
    assert len(search(planner, "unseenword", mode="bm25")) == 0


@pytest.mark.parametrize("query", ["", "   ", None, 3])
def test_bad_queries_are_refused(planner, query):
    with pytest.raises(InvalidInputError):
        planner.plan(query, SearchOptions())


def test_batch_equals_one_by_one(planner):
    queries = random_queries(20, seed=11)
    options = SearchOptions(k=7)
    batch = planner.run([planner.plan(query, options) for query in queries])
    for query, hits in zip(queries, batch, strict=True):
        assert as_rows(hits) == as_rows(search(planner, query, k=7))


def test_timings_name_the_legs(planner):
    hits = search(planner, "alpha beta")
    assert {"encode", "bm25", "dense", "fusion", "total"} <= set(hits.timings)


def test_the_plan_analyses_queries_with_the_query_stopwords():
    # Words dropped from queries only (AnalyzerSettings.query_stopwords) never reach BM25.
    from hybridsearch.sparse.analysis import Analyzer

    planner = make_planner()
    planner.analyzer = Analyzer(stemmer=None, stopwords=False, query_stopwords=["how", "do"])
    word = random_queries(1)[0].split()[0]
    plan = planner.plan(f"how do {word}", SearchOptions())
    assert plan.query_terms == (word,)
    assert planner.plan("how do", SearchOptions()).query_terms == ()  # kept, but unknown
# -- issue 14 item 1: a lone surrogate in a query -----------------------------------------------


@pytest.mark.parametrize("mode", ["hybrid", "bm25", "dense"])
def test_a_query_with_a_lone_surrogate_is_refused_in_every_mode(planner, mode):
    query = os.fsdecode(b"exceptions \xff")  # an undecodable command-line byte, as Python reads it
    with pytest.raises(InvalidInputError) as caught:
        search(planner, query, mode=mode)
    message = str(caught.value)
    assert message.startswith("query holds a lone surrogate (U+DCFF) at character 11"), message


def test_encoding_beside_bm25_gives_the_same_hits_in_every_mode():
    # At OVERLAP_MIN_PASSAGES the query is encoded in a thread while BM25 runs; forcing the
    # threshold down on a small index must change nothing a user sees (deepening included).
    sequential, overlapped = make_planner(), make_planner()
    overlapped.overlap_min_passages = 0
    queries = random_queries(12, seed=5)
    for mode, fusion, unit in itertools.product(MODES, FUSIONS, UNITS):
        options = SearchOptions(k=8, mode=mode, fusion=fusion, unit=unit, depth=5)
        one = sequential.run([sequential.plan(query, options) for query in queries])
        two = overlapped.run([overlapped.plan(query, options) for query in queries])
        assert [as_rows(hits) for hits in one] == [as_rows(hits) for hits in two]
        assert [hits.depth for hits in one] == [hits.depth for hits in two]


def test_the_allocator_is_asked_to_keep_freed_memory_once_when_searches_overlap(monkeypatch):
    import hybridsearch.search.planner as planner_module

    calls = []
    monkeypatch.setattr(planner_module, "retain_freed_memory", lambda: calls.append(1))
    sequential, overlapped = make_planner(), make_planner()
    overlapped.overlap_min_passages = 0
    for _ in range(3):
        search(sequential, "alpha beta", mode="hybrid")
        search(overlapped, "alpha beta", mode="hybrid")
    assert calls == [1]  # the overlapping planner's first search only


def test_an_encoder_error_in_the_background_reaches_the_caller():
    class Failing(RuntimeError):
        pass

    planner = make_planner()
    planner.overlap_min_passages = 0

    def fail(texts):
        raise Failing("encoder broke")

    planner.encoder.encode_queries = fail
    with pytest.raises(Failing, match="encoder broke"):
        search(planner, "alpha beta", mode="hybrid")


def test_a_mismatched_encoder_is_refused_before_any_leg_runs():
    from hybridsearch.errors import ModelMismatchError

    planner = make_planner()
    planner.overlap_min_passages = 0
    planner.model_identity = type(planner.model_identity)(name="another-model")
    calls = []
    planner.source.bm25.search = lambda *args, **kwargs: calls.append(args)
    with pytest.raises(ModelMismatchError):
        search(planner, "alpha beta", mode="hybrid")
    assert calls == []
