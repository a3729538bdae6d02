"""Tests for hybridsearch.display.html: escaping, highlighting in tables, mode comparison.

The HTML is read back with the standard library's ``html.parser``, an independent oracle:
what a browser would take as text and as tags.
"""

from __future__ import annotations

import json
import subprocess
import sys
from types import SimpleNamespace

from hybridsearch.display.html import compare_modes_html, hits_to_html, only_found_in
from hybridsearch.search.hits import Hits
from hybridsearch.sparse.analysis import Analyzer
from tests.display.support import (
    HOSTILE,
    MODE_RESULTS,
    StubPlan,
    expected_only_in,
    make_hit,
    mode_hits,
    read_page,
)

# -- escaping ------------------------------------------------------------------------------


def test_repr_html_escapes_passage_title_and_doc_id():
    hit = make_hit(f"doc{HOSTILE}", text=f"before {HOSTILE} after", title=f"title {HOSTILE}")
    for page in (Hits([hit])._repr_html_(), hit._repr_html_()):
        assert "<script>" not in page
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
        assert "R&amp;D" in page and "&quot;quoted&quot;" in page
        reader = read_page(page)
        # The only tags are the table's own: nothing the document holds became markup.
        assert set(reader.tags) <= {"table", "colgroup", "col", "tr", "th", "td", "b", "br"}
        (table,) = reader.tables
        _header, (_row_class, cells) = table
        assert cells[1] == f"doc{HOSTILE}"
        assert cells[5] == f"title {HOSTILE}before {HOSTILE} after"


def test_table_columns_show_rank_scores_and_missing_legs():
    hit = make_hit("d1", rank=2, bm25_rank=3, bm25_score=7.25, dense_rank=None, dense_score=None)
    (table,) = read_page(hits_to_html([hit])).tables
    header, (_row_class, cells) = table
    assert header[1] == [
        "rank",
        "document",
        "score",
        "BM25 rank (score)",
        "dense rank (score)",
        "passage",
    ]
    assert cells[:5] == ["2", "d1", "0.5000", "3 (7.25)", "–"]


def test_dense_score_has_three_decimals():
    hit = make_hit("d1", dense_rank=1, dense_score=0.87654)
    (table,) = read_page(hits_to_html([hit])).tables
    assert table[1][1][4] == "1 (0.877)"


def test_long_passages_show_a_snippet_and_fold_the_full_text_without_breaking_escapes():
    text = "&" * 50 + " & apples. " + "pears & plums. " * 10
    page = hits_to_html([make_hit("d1", text=text)], max_chars=20, query_terms=("plums",))
    reader = read_page(page)
    (table,) = reader.tables
    # The snippet (the best window: the first sentence naming plums), then the folded
    # passage: its summary, then the text as it is, every "&" escaped once.
    assert table[1][1][5] == "… pears & plums. …full passage (211 characters)" + text
    assert "&amp;" * 50 + " &amp; apples." in page and "&amp;amp;" not in page
    assert reader.marked[0] == "plums"
    assert {"details", "summary"} <= set(reader.tags)


def test_a_passage_that_fits_is_not_folded():
    page = hits_to_html([make_hit("d1", text="A short passage.\n  Indented.")])
    assert "<details" not in page
    assert read_page(page).tables[0][1][1][5] == "A short passage. Indented."


def test_cells_set_their_own_alignment_and_the_table_its_width():
    # Notebook front ends right-align cells with selectors that beat a <style> block, so
    # every cell carries its alignment in its own style attribute.
    page = hits_to_html([make_hit("d1", text="prose " * 80, title="Title", bm25_rank=1)])
    styles = read_page(page).styles
    assert "table-layout:fixed;width:100%;max-width:100%" in styles["table"][0]
    header_cells, *row_cells = styles["th"], styles["td"]
    assert all("text-align:left" in style for style in header_cells)
    (cells,) = row_cells
    assert ["text-align:right" in style for style in cells] == [
        True,
        False,
        True,
        True,
        True,
        False,
    ]
    assert "text-align:left" in cells[5] and "overflow-wrap:anywhere" in cells[5]


def test_hits_are_duck_typed():
    # Anything with a hit's fields renders: display does not import the search layer.
    hit = SimpleNamespace(
        rank=1,
        doc_id="plain",
        score=0.5,
        text="exceptions",
        title="",
        bm25_rank=None,
        bm25_score=None,
        dense_rank=2,
        dense_score=0.25,
    )
    reader = read_page(hits_to_html([hit], query_terms=("except",), analyzer=Analyzer()))
    assert reader.tables[0][1][1][:5] == ["1", "plain", "0.5000", "–", "2 (0.250)"]
    assert reader.marked == ["exceptions"]


# -- highlighting --------------------------------------------------------------------------


def test_highlight_marks_words_whose_stem_is_a_query_term():
    text = "Exceptions are raised; an exception handler & except clauses accept exceptional cases."
    page = hits_to_html([make_hit("d1", text=text)], query_terms=("except",), analyzer=Analyzer())
    reader = read_page(page)
    # "exceptional" stems to "except" as well, so BM25 matches it and it is marked too;
    # "accept" and "raised" are other stems.
    assert reader.marked == ["Exceptions", "exception", "except", "exceptional"]
    assert "<mark>raised</mark>" not in page and "<mark>accept</mark>" not in page
    assert "handler &amp; <mark>except</mark>" in page


def test_marked_text_in_a_table_is_still_escaped():
    text = 'exceptions&<b>"'
    page = hits_to_html([make_hit("d1", text=text)], query_terms=("except",), analyzer=Analyzer())
    assert "<mark>exceptions</mark>&amp;&lt;b&gt;&quot;" in page


def test_query_terms_may_be_a_one_shot_iterator():
    text = "exceptions"
    results = {"bm25": Hits([make_hit("a", text=text)]), "dense": Hits([make_hit("b", text=text)])}
    page = compare_modes_html(results, query_terms=iter(["except"]), analyzer=Analyzer())
    assert read_page(page).marked == ["exceptions", "exceptions"]


def test_hits_repr_highlights_the_plan_query_terms():
    text = "An exception handler catches exceptions."
    analyzer = Analyzer()
    with_terms = Hits(
        [make_hit("d1", text=text)], plan=StubPlan("exceptions", ("except",)), analyzer=analyzer
    )
    assert read_page(with_terms._repr_html_()).marked == ["exception", "exceptions"]
    # The plan's analysed terms decide, not the raw query: a plan whose terms BM25 did not
    # know highlights nothing, and so does a result without a plan.
    no_terms = Hits([make_hit("d1", text=text)], plan=StubPlan("exceptions", ()), analyzer=analyzer)
    assert "<mark>" not in no_terms._repr_html_()
    assert "<mark>" not in Hits([make_hit("d1", text=text)], analyzer=analyzer)._repr_html_()


# -- empty results -------------------------------------------------------------------------


def test_empty_hits_render_no_results():
    pages = (hits_to_html([]), Hits()._repr_html_(), Hits(plan=StubPlan("q", ()))._repr_html_())
    for page in pages:
        (table,) = read_page(page).tables
        assert table[1][1] == ["no results"]


# -- comparing modes -----------------------------------------------------------------------


def test_only_found_in_lists_documents_one_mode_returned_in_rank_order():
    results = {mode: mode_hits(mode) for mode in MODE_RESULTS}
    assert only_found_in(results) == {"bm25": ["c", "g"], "dense": ["e"], "hybrid": []}
    assert {mode: set(ids) for mode, ids in only_found_in(results).items()} == expected_only_in()


def test_compare_modes_html_shades_and_counts_rows_found_by_one_mode():
    page = compare_modes_html({mode: mode_hits(mode) for mode in MODE_RESULTS})
    reader = read_page(page)
    expected = expected_only_in()
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
    page = compare_modes_html({"bm25": Hits(), "dense": mode_hits("dense")})
    reader = read_page(page)
    assert reader.headings == ["bm25 (0 found only here)", "dense (3 found only here)"]
    assert reader.tables[0][1][1] == ["no results"]


# -- layering ------------------------------------------------------------------------------


def test_display_imports_nothing_above_it():
    # display sits below search: importing it must not load search, index, dense or torch
    # (search/hits.py imports display at module top, so the reverse would be a cycle).
    code = (
        "import json, sys\n"
        "import hybridsearch.display.html, hybridsearch.display.terminal\n"
        "import hybridsearch.display.notebook, hybridsearch.display.text\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    loaded = json.loads(result.stdout)
    above = ("hybridsearch.search", "hybridsearch.index", "hybridsearch.dense", "torch")
    assert [name for name in loaded if name.startswith(above)] == []
