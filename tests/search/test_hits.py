"""Tests of hybridsearch.search.hits: the JSON form of hits carries a snippet beside the text."""

from __future__ import annotations

import json

from hybridsearch.search.hits import Hit, Hits
from hybridsearch.sparse.analysis import Analyzer
from tests.display.support import StubPlan

TEXT = (
    "Lists are mutable sequences. " * 6
    + "Tuples are immutable sequences. "
    + "Ranges are sequences of numbers. " * 6
)


def _hits(terms: tuple[str, ...]) -> Hits:
    hit = Hit(rank=1, doc_id="seq", passage_id=0, score=1.0, text=TEXT, title="Sequences")
    return Hits([hit], plan=StubPlan("tuples", terms), analyzer=Analyzer())


def test_to_dicts_puts_the_best_window_beside_the_full_text():
    (data,) = json.loads(json.dumps(_hits(("tupl",)).to_dicts(snippet_chars=70)))
    keys = list(data)
    assert keys[keys.index("text") + 1] == "snippet"
    assert data["text"] == TEXT  # the full passage is still there
    assert data["snippet"] == "… Tuples are immutable sequences. Ranges are sequences of numbers. …"


def test_without_query_terms_the_snippet_is_the_beginning():
    (data,) = _hits(()).to_dicts(snippet_chars=60)
    assert data["snippet"] == "Lists are mutable sequences. Lists are mutable sequences. …"
    (data,) = Hits(_hits(())).to_dicts()  # no plan, no analyzer
    assert data["snippet"].startswith("Lists are mutable sequences.")


def test_to_dict_equals_dataclasses_asdict():
    from dataclasses import asdict

    hit = Hit(
        rank=2, doc_id="d", passage_id=7, score=0.5, text="t", title="T", start=3, end=9,
        bm25_rank=1, bm25_score=2.5, dense_rank=None, dense_score=None,
        metadata={"year": 2020, "tags": ["a", "b"]},
    )  # fmt: skip
    data = hit.to_dict()
    assert data == asdict(hit) and list(data) == list(asdict(hit))
    assert type(data["metadata"]) is dict and data["metadata"] is not hit.metadata


def test_snippets_through_the_word_cache_equal_those_of_the_plain_analyzer():
    from hybridsearch.display.snippets import best_window

    analyzer = Analyzer()
    hits = Hits(_hits(("tupl", "rang")), plan=StubPlan("q", ("tupl", "rang")), analyzer=analyzer)
    expected = best_window(TEXT, ("tupl", "rang"), Analyzer(), 70).text  # no word cache
    assert [data["snippet"] for data in hits.to_dicts(snippet_chars=70)] == [expected]
    assert hits.to_dicts(snippet_chars=70)[0]["snippet"] == expected  # cache warm


def test_to_dicts_without_snippets_keeps_the_field_empty():
    (data,) = _hits(("tupl",)).to_dicts(snippets=False)
    (full,) = _hits(("tupl",)).to_dicts()
    assert list(data) == list(full) and data == full | {"snippet": ""}
