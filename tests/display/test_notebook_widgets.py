"""Tests for hybridsearch.display.notebook: modes side by side and the live search box.

The index is a stub that returns canned hits per mode and records its calls, so these run
without a model; ``Searchable`` asks nothing more of an index.
"""

from __future__ import annotations

from typing import Any

import pytest

from hybridsearch.display.notebook import COMPARED_MODES, ModeComparison, SearchBox, compare_modes
from hybridsearch.errors import InvalidInputError
from hybridsearch.search.hits import Hits
from hybridsearch.sparse.analysis import Analyzer
from tests.display.support import MODE_RESULTS, StubPlan, make_hit, mode_hits, read_page


class _StubIndex:
    """Stands in for a HybridIndex: canned hits per mode, and a record of each call."""

    def __init__(self, fail_on: str | None = None) -> None:
        self.calls: list[tuple[str, int, dict[str, Any]]] = []
        self.fail_on = fail_on

    def search(self, query: str, k: int = 10, **options: Any) -> Hits:
        self.calls.append((query, k, options))
        if query == self.fail_on:
            raise InvalidInputError(f"bad <query> {query!r}")
        hits = mode_hits(options["mode"], query_terms=("except",))
        plan = StubPlan(query, ("except",), options["mode"], notes=("a <note>",))
        return Hits(hits[:k], plan=plan, timings={"total": 1.5}, analyzer=hits.analyzer)


# -- comparing modes -----------------------------------------------------------------------


def test_compare_modes_searches_each_mode_with_the_same_options():
    index = _StubIndex()
    comparison = compare_modes(index, "<exceptions>", k=2, fusion="convex")
    assert isinstance(comparison, ModeComparison)
    assert list(comparison.results) == list(COMPARED_MODES) == ["bm25", "dense", "hybrid"]
    assert index.calls == [
        ("<exceptions>", 2, {"mode": mode, "fusion": "convex"}) for mode in MODE_RESULTS
    ]
    # Top 2 per mode: bm25 a b, dense a d, hybrid a b.
    assert comparison.only_in == {"bm25": [], "dense": ["d"], "hybrid": []}
    assert repr(comparison) == (
        "ModeComparison('<exceptions>'; bm25: 2 hits, dense: 2 hits, hybrid: 2 hits)"
    )
    page = comparison._repr_html_()
    assert "&lt;exceptions&gt;" in page and "<exceptions>" not in page
    assert len(read_page(page).tables) == 3


def test_compare_modes_takes_the_modes_asked_for():
    index = _StubIndex()
    comparison = compare_modes(index, "q", modes=("dense", "bm25"))
    assert list(comparison.results) == ["dense", "bm25"]
    for bad_modes in ((), [], "bm25", ["bm25", 3]):
        with pytest.raises(InvalidInputError, match="modes"):
            compare_modes(index, "q", modes=bad_modes)


def test_mode_comparison_highlights_with_the_plans_terms():
    text = "exceptions everywhere"
    results = {
        "bm25": Hits(
            [make_hit("a", text=text)], plan=StubPlan("q", ("except",)), analyzer=Analyzer()
        ),
        "dense": Hits([make_hit("b", text=text)], plan=StubPlan("q", ("except",), "dense")),
    }
    assert read_page(ModeComparison("q", results)._repr_html_()).marked == ["exceptions"] * 2


# -- the search box ------------------------------------------------------------------------


def _rows(page: str) -> list[str]:
    return [cells[1] for _class, cells in read_page(page).tables[0][1:]]


def test_search_box_renders_and_follows_query_and_mode():
    pytest.importorskip("ipywidgets")
    index = _StubIndex(fail_on="broken")
    box = SearchBox(index, "exceptions", k=3, unit="passages")
    assert index.calls == [("exceptions", 3, {"mode": "hybrid", "unit": "passages"})]
    assert "<table" in box.results.value
    assert "1.5 ms" in box.results.value and "BM25 terms: except" in box.results.value
    assert "note: a &lt;note&gt;" in box.results.value
    assert _rows(box.results.value) == MODE_RESULTS["hybrid"][:3]

    box.mode_input.value = "bm25"
    assert index.calls[-1] == ("exceptions", 3, {"mode": "bm25", "unit": "passages"})
    assert _rows(box.results.value) == MODE_RESULTS["bm25"][:3]

    box.query_input.value = "broken"
    assert "bad &lt;query&gt;" in box.results.value and "<table" not in box.results.value

    calls = len(index.calls)
    box.query_input.value = "   "
    assert "type a query" in box.results.value
    assert len(index.calls) == calls  # a blank query is not searched
    assert "application/vnd.jupyter.widget-view+json" in box._repr_mimebundle_()


def test_search_box_without_a_query_shows_a_hint():
    pytest.importorskip("ipywidgets")
    index = _StubIndex()
    box = SearchBox(index, as_you_type=False)
    assert index.calls == []
    assert "type a query" in box.results.value
    assert box.query_input.continuous_update is False
    assert box.mode_input.value == "hybrid"
    with pytest.raises(InvalidInputError, match="'hybrid' is not among"):
        SearchBox(index, modes=("bm25", "dense"))
    with pytest.raises(InvalidInputError, match="modes"):
        SearchBox(index, modes="hybrid")
