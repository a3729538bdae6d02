"""HTML for notebooks: a table of hits (:func:`hits_to_html`) and one query's hits per mode
side by side (:func:`compare_modes_html`).

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

from hybridsearch.display.text import WordAnalyzer, highlight_spans, mark_spans, number_text

if TYPE_CHECKING:
    from hybridsearch.search.hits import Hit

__all__ = ["compare_modes_html", "hits_to_html", "only_found_in"]

_TABLE_STYLE = (
    "<style>"
    ".hs-hits{border-collapse:collapse;font-size:13px}"
    ".hs-hits th,.hs-hits td{border:1px solid #ddd;padding:4px 6px;vertical-align:top;"
    "text-align:left}"
    ".hs-hits th{background:#f4f4f4}"
    ".hs-hits td.hs-num{text-align:right;white-space:nowrap}"
    # Passages keep their line breaks and indentation (code examples, lists), wrapped.
    ".hs-hits td.hs-text{white-space:pre-wrap}"
    ".hs-hits mark{background:#ffe066;padding:0}"
    ".hs-only{background:#e6f4ea}"
    "</style>"
)

_HEADER = (
    "<tr><th>rank</th><th>document</th><th>score</th><th>BM25 rank</th>"
    "<th>BM25 score</th><th>dense rank</th><th>dense score</th><th>passage</th></tr>"
)


def _number(value: float | int | None, digits: int = 4) -> str:
    return number_text(value, digits, missing="–")


def _row(
    hit: Hit, terms: Sequence[str], analyzer: WordAnalyzer | None, max_chars: int, shaded: bool
) -> str:
    passage = hit.text if len(hit.text) <= max_chars else hit.text[:max_chars] + " …"
    marked = mark_spans(passage, highlight_spans(passage, terms, analyzer))
    title = f"<b>{html.escape(hit.title)}</b><br>" if hit.title else ""
    row_class = ' class="hs-only"' if shaded else ""
    return (
        f"<tr{row_class}>"
        f'<td class="hs-num">{hit.rank}</td>'
        f"<td>{html.escape(hit.doc_id)}</td>"
        f'<td class="hs-num">{_number(hit.score)}</td>'
        f'<td class="hs-num">{_number(hit.bm25_rank)}</td>'
        f'<td class="hs-num">{_number(hit.bm25_score, 2)}</td>'
        f'<td class="hs-num">{_number(hit.dense_rank)}</td>'
        f'<td class="hs-num">{_number(hit.dense_score, 3)}</td>'
        f'<td class="hs-text">{title}{marked}</td>'
        "</tr>"
    )


def hits_to_html(
    hits: Iterable[Hit],
    *,
    query_terms: Iterable[str] = (),
    analyzer: WordAnalyzer | None = None,
    max_chars: int = 600,
    highlight_rows: Iterable[str] = (),
) -> str:
    """An HTML table of hits: rank, document, fused score, per-leg rank and score, passage.

    Args:
        hits: The hits to show (anything with a :class:`~hybridsearch.search.hits.Hit`'s
            fields).
        query_terms: Analysed query terms to highlight in the passages.
        analyzer: The index's analyzer (to match passage words to query terms).
        max_chars: Longer passages are cut to this many characters (with an ellipsis).
        highlight_rows: Document ids whose rows are shaded (e.g. found by one leg only).
    """
    terms = tuple(query_terms)
    shaded = set(highlight_rows)
    rows = [_row(hit, terms, analyzer, max_chars, hit.doc_id in shaded) for hit in hits]
    if not rows:
        rows.append('<tr><td colspan="8"><i>no results</i></td></tr>')
    return f'{_TABLE_STYLE}<table class="hs-hits">{_HEADER}{"".join(rows)}</table>'


def compare_modes_html(
    results: Mapping[str, Sequence[Hit]],
    *,
    query_terms: Iterable[str] = (),
    analyzer: WordAnalyzer | None = None,
    max_chars: int = 300,
) -> str:
    """Side-by-side tables of one query's results per mode (e.g. bm25, dense, hybrid).

    Rows whose document only one mode returned are shaded, so what each leg alone finds
    stands out.
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
            f'<div style="flex:1;min-width:0"><h4>{html.escape(mode)} '
            f"({len(only_here)} found only here)</h4>{table}</div>"
        )
    return f'<div style="display:flex;gap:12px">{"".join(columns)}</div>'


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
