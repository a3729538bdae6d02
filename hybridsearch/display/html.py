"""HTML for notebooks: a table of hits (:func:`hits_to_html`) and one query's hits per mode,
stacked (:func:`compare_modes_html`).

Everything a document contributes (ids, titles, passages) is escaped, so a passage holding
``<script>`` or ``&`` renders as text; query terms are marked as BM25 matches them (see
:mod:`hybridsearch.display.text`).

Duck-typed: a hit is anything with ``rank``, ``doc_id``, ``score``, ``text``, ``title`` and the
per-leg ``bm25_rank``, ``bm25_score``, ``dense_rank``, ``dense_score``, so this module never
imports the search layer that calls it (``Hit._repr_html_`` and ``Hits._repr_html_``).
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING

from hybridsearch.display.snippets import DEFAULT_SNIPPET_CHARS, best_window
from hybridsearch.display.text import WordAnalyzer, highlight_spans, mark_spans, number_text

if TYPE_CHECKING:
    from hybridsearch.search.hits import Hit

__all__ = ["compare_modes_html", "hits_to_html", "only_found_in"]

# Every style is inline: notebook front ends style tables with selectors that outrank a
# <style> block's (JupyterLab right-aligns every cell and fixes the layout), and sanitisers
# may drop <style> elements, but an element's own style attribute wins over both.
_TABLE = (
    "border-collapse:collapse;table-layout:fixed;width:100%;max-width:100%;margin:0;"
    "font-size:13px;line-height:1.35"
)
_CELL = "border:1px solid #ddd;padding:4px 6px;vertical-align:top;"
_TEXT_CELL = _CELL + "text-align:left;white-space:normal;overflow-wrap:anywhere"
_NUMBER_CELL = _CELL + "text-align:right;white-space:nowrap"
_HEADER_CELL = _CELL + "text-align:left;background:#f4f4f4;font-weight:bold;white-space:normal"
_SHADED_ROW = "background:#e6f4ea"
# The full passage, behind a <details>: its line breaks and indentation kept, wrapped, and
# scrolled inside its own box when long, so an opened passage cannot stretch the page.
_FULL_TEXT = (
    "white-space:pre-wrap;overflow-wrap:anywhere;max-height:24em;overflow:auto;"
    "margin-top:4px;padding:4px;border-left:3px solid #ddd"
)

# (header, width): the passage takes what the fixed columns leave.
_COLUMNS = (
    ("rank", "3.5em"),
    ("document", "11em"),
    ("score", "5.5em"),
    ("BM25 rank (score)", "7.5em"),
    ("dense rank (score)", "7.5em"),
    ("passage", "auto"),
)
_COLGROUP = (
    "<colgroup>"
    + "".join(f'<col style="width:{width}">' for _header, width in _COLUMNS)
    + "</colgroup>"
)
_HEADER = (
    "<tr>"
    + "".join(
        f'<th style="{_HEADER_CELL}">{html.escape(header)}</th>' for header, _width in _COLUMNS
    )
    + "</tr>"
)


def _number(value: float | int | None, digits: int = 4) -> str:
    return number_text(value, digits, missing="–")


def _leg(rank: int | None, score: float | None, digits: int) -> str:
    """A leg's rank and raw score in one cell: ``3 (7.25)``, or – where it missed."""
    if rank is None:
        return "–"
    return f"{rank} <small>({_number(score, digits)})</small>" if score is not None else str(rank)


def _passage_cell(
    hit: Hit, terms: Sequence[str], analyzer: WordAnalyzer | None, max_chars: int
) -> str:
    """The title, the best-matching window of the passage, and the full passage folded."""
    snippet = best_window(hit.text, terms, analyzer, max_chars)
    marked = mark_spans(snippet.text, highlight_spans(snippet.text, terms, analyzer))
    title = f"<b>{html.escape(hit.title)}</b><br>" if hit.title else ""
    full = ""
    if snippet.text != " ".join(hit.text.split()):
        full_marked = mark_spans(hit.text, highlight_spans(hit.text, terms, analyzer))
        full = (
            f'<details><summary style="cursor:pointer;color:#555">full passage '
            f"({len(hit.text)} characters)</summary>"
            f'<div style="{_FULL_TEXT}">{full_marked}</div></details>'
        )
    return f'<td style="{_TEXT_CELL}">{title}{marked}{full}</td>'


def _row(
    hit: Hit, terms: Sequence[str], analyzer: WordAnalyzer | None, max_chars: int, shaded: bool
) -> str:
    row_attributes = f' class="hs-only" style="{_SHADED_ROW}"' if shaded else ""
    return (
        f"<tr{row_attributes}>"
        f'<td style="{_NUMBER_CELL}">{hit.rank}</td>'
        f'<td style="{_TEXT_CELL}">{html.escape(hit.doc_id)}</td>'
        f'<td style="{_NUMBER_CELL}">{_number(hit.score)}</td>'
        f'<td style="{_NUMBER_CELL}">{_leg(hit.bm25_rank, hit.bm25_score, 2)}</td>'
        f'<td style="{_NUMBER_CELL}">{_leg(hit.dense_rank, hit.dense_score, 3)}</td>'
        f"{_passage_cell(hit, terms, analyzer, max_chars)}"
        "</tr>"
    )


def hits_to_html(
    hits: Iterable[Hit],
    *,
    query_terms: Iterable[str] = (),
    analyzer: WordAnalyzer | None = None,
    max_chars: int = DEFAULT_SNIPPET_CHARS,
    highlight_rows: Iterable[str] = (),
) -> str:
    """An HTML table of hits: rank, document, fused score, per-leg rank and score, passage.

    The table fills its container's width (never more), cells set their own alignment
    (prose left, numbers right), and each passage shows its best-matching window
    (:func:`~hybridsearch.display.snippets.best_window`) with the full text folded under it.

    Args:
        hits: The hits to show (anything with a :class:`~hybridsearch.search.hits.Hit`'s
            fields).
        query_terms: Analysed query terms to highlight in the passages.
        analyzer: The index's analyzer (to match passage words to query terms).
        max_chars: The longest snippet, in characters of the passage.
        highlight_rows: Document ids whose rows are shaded (e.g. found by one leg only).
    """
    terms = tuple(query_terms)
    shaded = set(highlight_rows)
    rows = [_row(hit, terms, analyzer, max_chars, hit.doc_id in shaded) for hit in hits]
    if not rows:
        rows.append(
            f'<tr><td colspan="{len(_COLUMNS)}" style="{_TEXT_CELL}"><i>no results</i></td></tr>'
        )
    return f'<table class="hs-hits" style="{_TABLE}">{_COLGROUP}{_HEADER}{"".join(rows)}</table>'


def compare_modes_html(
    results: Mapping[str, Sequence[Hit]],
    *,
    query_terms: Iterable[str] = (),
    analyzer: WordAnalyzer | None = None,
    max_chars: int = 160,
) -> str:
    """One query's results per mode (e.g. bm25, dense, hybrid), one table under another.

    Stacked rather than side by side: three tables abreast do not fit a notebook page of
    1000-1400 px with passages in them. Rows whose document only one mode returned are
    shaded, so what each leg alone finds stands out.
    """
    terms = tuple(query_terms)
    found_only_in = only_found_in(results)
    columns = []
    for mode, hits in results.items():
        only_here = found_only_in[mode]
        table = hits_to_html(
            hits,
            query_terms=terms,
            analyzer=analyzer,
            max_chars=max_chars,
            highlight_rows=only_here,
        )
        columns.append(
            f'<div style="width:100%;max-width:100%"><h4 style="margin:10px 0 4px 0">'
            f"{html.escape(mode)} ({len(only_here)} found only here)</h4>{table}</div>"
        )
    return f'<div class="hs-compare" style="width:100%;max-width:100%">{"".join(columns)}</div>'


def only_found_in(results: Mapping[str, Sequence[Hit]]) -> dict[str, list[str]]:
    """Per mode, the documents among its hits that no other mode returned (in rank order).

    What one leg finds alone is what fusion adds (or loses), so this is what a person
    comparing modes wants to see first.
    """
    found_in: dict[str, set[str]] = {}
    for mode, hits in results.items():
        for hit in hits:
            found_in.setdefault(hit.doc_id, set()).add(mode)
    return {
        mode: list(dict.fromkeys(hit.doc_id for hit in hits if found_in[hit.doc_id] == {mode}))
        for mode, hits in results.items()
    }
