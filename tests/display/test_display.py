"""Tests for hybridsearch.display.html: escaping, highlighting, mode comparison, the search box.

Hits are built by hand (no model), and the HTML is read back with the standard library's
``html.parser``, an independent oracle: what a browser would take as text and as tags.
"""

from __future__ import annotations

from html.parser import HTMLParser
from typing import Any

import pytest

from hybridsearch.sparse.analysis import Analyzer
from hybridsearch.display.html import (
    ModeComparison,
    SearchBox,
    compare_modes,
    compare_modes_html,
    highlight_spans,
    hits_to_html,
    mark_spans,
    only_found_in,
)
from hybridsearch.errors import InvalidInputError
from hybridsearch.search.planner import Plan
from hybridsearch.search.hits import Hit, Hits

HOSTILE = '<script>alert(1)</script> R&D "quoted"'


class _TableReader(HTMLParser):
    """Collects the tables of a page: per row its class and its cells' text; h4 headings too.

    ``convert_charrefs`` is on, so cell text is what a reader sees (entities decoded).
    """

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tables: list[list[tuple[str | None, list[str]]]] = []
        self.headings: list[str] = []
        self.tags: list[str] = []
        self.marked: list[str] = []
        self._cell: list[str] | None = None
        self._heading: list[str] | None = None
        self._mark: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        if tag == "table":
            self.tables.append([])
        elif tag == "tr":
            self.tables[-1].append((dict(attrs).get("class"), []))
        elif tag in ("td", "th"):
            self._cell = []
        elif tag == "h4":
            self._heading = []
        elif tag == "mark":
            self._mark = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None:
            self.tables[-1][-1][1].append("".join(self._cell))
            self._cell = None
        elif tag == "h4" and self._heading is not None:
            self.headings.append("".join(self._heading))
            self._heading = None
        elif tag == "mark" and self._mark is not None:
            self.marked.append("".join(self._mark))
            self._mark = None

    def handle_data(self, data: str) -> None:
        for buffer in (self._cell, self._heading, self._mark):
            if buffer is not None:
                buffer.append(data)


def _read(page: str) -> _TableReader:
    reader = _TableReader()
    reader.feed(page)
    reader.close()
    return reader


def _hit(doc_id: str, rank: int = 1, text: str = "some passage", **fields: Any) -> Hit:
    return Hit(rank=rank, doc_id=doc_id, passage_id=rank - 1, score=1.0 / rank, text=text, **fields)


def _plan(query: str, query_terms: tuple[str, ...], mode: str = "hybrid") -> Plan:
    legs = ("bm25", "dense") if mode == "hybrid" else (mode,)
    return Plan(
        query=query,
        k=5,
        mode=mode,
        legs=legs,
        depth=100,
        fusion="rrf" if mode == "hybrid" else None,
        fusion_params={},
        unit="documents",
        query_terms=query_terms,
    )


# -- escaping ------------------------------------------------------------------------------


def test_repr_html_escapes_passage_title_and_doc_id():
    hit = _hit(f"doc{HOSTILE}", text=f"before {HOSTILE} after", title=f"title {HOSTILE}")
    for page in (Hits([hit])._repr_html_(), hit._repr_html_()):
        assert "<script>" not in page
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
        assert "R&amp;D" in page and "&quot;quoted&quot;" in page
        reader = _read(page)
        # The only tags are the table's own: nothing the document holds became markup.
        assert set(reader.tags) <= {"style", "table", "tr", "th", "td", "b", "br"}
        (table,) = reader.tables
        _header, (_row_class, cells) = table
        assert cells[1] == f"doc{HOSTILE}"
        assert cells[7] == f"title {HOSTILE}before {HOSTILE} after"


def test_table_columns_show_rank_scores_and_missing_legs():
    hit = _hit("d1", rank=2, bm25_rank=3, bm25_score=7.25, dense_rank=None, dense_score=None)
    (table,) = _read(hits_to_html([hit])).tables
    header, (_row_class, cells) = table
    assert header[1] == [
        "rank",
        "document",
        "score",
        "BM25 rank",
        "BM25 score",
        "dense rank",
        "dense score",
        "passage",
    ]
    assert cells[:7] == ["2", "d1", "0.5000", "3", "7.25", "–", "–"]


def test_long_passages_are_cut_without_breaking_escapes():
    text = "&" * 50
    page = hits_to_html([_hit("d1", text=text)], max_chars=10)
    (table,) = _read(page).tables
    assert table[1][1][7] == "&" * 10 + " …"


# -- highlighting --------------------------------------------------------------------------


def test_analyzer_stems_exceptions_to_the_query_term():
    # The premise of the highlighting tests: Snowball English stems all these to "except".
    assert Analyzer()("exceptions Exception except") == ["except", "except", "except"]


def test_highlight_marks_words_whose_stem_is_a_query_term():
    text = "Exceptions are raised; an exception handler & except clauses accept exceptional cases."
    page = hits_to_html([_hit("d1", text=text)], query_terms=("except",), analyzer=Analyzer())
    reader = _read(page)
    # "exceptional" stems to "except" as well, so BM25 matches it and it is marked too;
    # "accept" and "raised" are other stems.
    assert reader.marked == ["Exceptions", "exception", "except", "exceptional"]
    assert "<mark>raised</mark>" not in page and "<mark>accept</mark>" not in page
    assert "handler &amp; <mark>except</mark>" in page


def test_highlight_without_analyzer_matches_lowercase_words_only():
    text = "Exceptions and EXCEPT and except"
    spans = highlight_spans(text, ("except",), None)
    assert [text[start:end] for start, end in spans] == ["EXCEPT", "except"]
    assert highlight_spans(text, (), Analyzer()) == []


def test_marked_text_is_still_escaped():
    assert mark_spans("R&D <x>", [(0, 3)]) == "<mark>R&amp;D</mark> &lt;x&gt;"
    text = 'exceptions&<b>"'
    page = hits_to_html([_hit("d1", text=text)], query_terms=("except",), analyzer=Analyzer())
    assert "<mark>exceptions</mark>&amp;&lt;b&gt;&quot;" in page


def test_hits_repr_highlights_the_plan_query_terms():
    text = "An exception handler catches exceptions."
    analyzer = Analyzer()
    with_terms = Hits(
        [_hit("d1", text=text)], plan=_plan("exceptions", ("except",)), analyzer=analyzer
    )
    assert _read(with_terms._repr_html_()).marked == ["exception", "exceptions"]
    # The plan's analysed terms decide, not the raw query: a plan whose terms BM25 did not
    # know highlights nothing, and so does a result without a plan.
    no_terms = Hits([_hit("d1", text=text)], plan=_plan("exceptions", ()), analyzer=analyzer)
    assert "<mark>" not in no_terms._repr_html_()
    assert "<mark>" not in Hits([_hit("d1", text=text)], analyzer=analyzer)._repr_html_()


# -- empty results -------------------------------------------------------------------------


def test_empty_hits_render_no_results():
    for page in (hits_to_html([]), Hits()._repr_html_(), Hits(plan=_plan("q", ()))._repr_html_()):
        (table,) = _read(page).tables
        assert table[1][1] == ["no results"]


# -- comparing modes -----------------------------------------------------------------------

MODE_RESULTS = {
    "bm25": ["a", "b", "c", "g"],
    "dense": ["a", "d", "e"],
    "hybrid": ["a", "b", "d"],
}


def _mode_hits(mode: str, query_terms: tuple[str, ...] = ()) -> Hits:
    hits = [_hit(doc_id, rank) for rank, doc_id in enumerate(MODE_RESULTS[mode], start=1)]
    return Hits(hits, plan=_plan("query", query_terms, mode), analyzer=Analyzer())


def _expected_only_in() -> dict[str, set[str]]:
    expected = {}
    for mode, doc_ids in MODE_RESULTS.items():
        elsewhere = set().union(*(set(ids) for other, ids in MODE_RESULTS.items() if other != mode))
        expected[mode] = set(doc_ids) - elsewhere
    return expected


def test_only_found_in_lists_documents_one_mode_returned_in_rank_order():
    results = {mode: _mode_hits(mode) for mode in MODE_RESULTS}
    assert only_found_in(results) == {"bm25": ["c", "g"], "dense": ["e"], "hybrid": []}
    assert {mode: set(ids) for mode, ids in only_found_in(results).items()} == _expected_only_in()


def test_compare_modes_html_shades_and_counts_rows_found_by_one_mode():
    page = compare_modes_html({mode: _mode_hits(mode) for mode in MODE_RESULTS})
    reader = _read(page)
    expected = _expected_only_in()
    assert reader.headings == [
        f"{mode} ({len(expected[mode])} found only here)" for mode in MODE_RESULTS
    ]
    for mode, table in zip(MODE_RESULTS, reader.tables, strict=True):
        rows = table[1:]
        assert [cells[1] for _class, cells in rows] == MODE_RESULTS[mode]
        shaded = {cells[1] for row_class, cells in rows if row_class == "hs-only"}
        assert shaded == expected[mode]
        assert all(row_class is None for row_class, cells in rows if cells[1] not in shaded)


def test_compare_modes_html_with_an_empty_mode():
    page = compare_modes_html({"bm25": Hits(), "dense": _mode_hits("dense")})
    reader = _read(page)
    assert reader.headings == ["bm25 (0 found only here)", "dense (3 found only here)"]
    assert reader.tables[0][1][1] == ["no results"]


class _StubIndex:
    """Stands in for a HybridIndex: canned hits per mode, and a record of each call."""

    def __init__(self, fail_on: str | None = None) -> None:
        self.calls: list[tuple[str, int, dict[str, Any]]] = []
        self.fail_on = fail_on

    def search(self, query: str, k: int = 10, **options: Any) -> Hits:
        self.calls.append((query, k, options))
        if query == self.fail_on:
            raise InvalidInputError(f"bad <query> {query!r}")
        hits = _mode_hits(options["mode"], query_terms=("except",))
        return Hits(hits[:k], plan=hits.plan, timings={"total": 1.5}, analyzer=hits.analyzer)


def test_compare_modes_searches_each_mode_with_the_same_options():
    index = _StubIndex()
    comparison = compare_modes(index, "<exceptions>", k=2, fusion="convex")
    assert isinstance(comparison, ModeComparison)
    assert list(comparison.results) == ["bm25", "dense", "hybrid"]
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
    assert len(_read(page).tables) == 3


def test_compare_modes_takes_the_modes_asked_for():
    index = _StubIndex()
    comparison = compare_modes(index, "q", modes=("dense", "bm25"))
    assert list(comparison.results) == ["dense", "bm25"]
    for bad_modes in ((), "bm25"):
        with pytest.raises(InvalidInputError, match="modes"):
            compare_modes(index, "q", modes=bad_modes)


def test_mode_comparison_highlights_with_the_plans_terms():
    text = "exceptions everywhere"
    results = {
        "bm25": Hits([_hit("a", text=text)], plan=_plan("q", ("except",)), analyzer=Analyzer()),
        "dense": Hits([_hit("b", text=text)], plan=_plan("q", ("except",), "dense")),
    }
    assert _read(ModeComparison("q", results)._repr_html_()).marked == ["exceptions"] * 2


# -- the search box ------------------------------------------------------------------------


def test_search_box_renders_and_follows_query_and_mode():
    pytest.importorskip("ipywidgets")
    index = _StubIndex(fail_on="broken")
    box = SearchBox(index, "exceptions", k=3, unit="passages")
    assert index.calls == [("exceptions", 3, {"mode": "hybrid", "unit": "passages"})]
    assert "<table" in box.results.value
    assert "1.5 ms" in box.results.value and "BM25 terms: except" in box.results.value
    hybrid_rows = [cells[1] for _class, cells in _read(box.results.value).tables[0][1:]]
    assert hybrid_rows == MODE_RESULTS["hybrid"][:3]

    box.mode_input.value = "bm25"
    assert index.calls[-1] == ("exceptions", 3, {"mode": "bm25", "unit": "passages"})
    bm25_rows = [cells[1] for _class, cells in _read(box.results.value).tables[0][1:]]
    assert bm25_rows == MODE_RESULTS["bm25"][:3]

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
