"""Rendering hits for people: HTML tables for notebooks, highlighted text for terminals.

Everything a document contributes (ids, titles, passages) is escaped, so a passage holding
``<script>`` or ``&`` renders as text. Query terms are highlighted by running each word of the
passage through the index's analyzer, so "exceptions" in a passage matches the query term
"exception" exactly when BM25 would match it.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hybridsearch.analysis import Analyzer
    from hybridsearch.results import Hit

_WORD = re.compile(r"\w+")

_TABLE_STYLE = (
    "<style>"
    ".hs-hits{border-collapse:collapse;font-size:13px}"
    ".hs-hits th,.hs-hits td{border:1px solid #ddd;padding:4px 6px;vertical-align:top;"
    "text-align:left}"
    ".hs-hits th{background:#f4f4f4}"
    ".hs-hits td.hs-num{text-align:right;white-space:nowrap}"
    ".hs-hits mark{background:#ffe066;padding:0}"
    ".hs-only{background:#e6f4ea}"
    "</style>"
)


def highlight_spans(
    text: str, query_terms: Iterable[str], analyzer: Analyzer | None
) -> list[tuple[int, int]]:
    """Character spans of the words in ``text`` that match a query term.

    A word matches when the analyzer turns it into one of ``query_terms`` (stemmed, as BM25
    sees it); without an analyzer, when its lowercase form is a query term.
    """
    terms = set(query_terms)
    if not terms:
        return []
    spans = []
    for match in _WORD.finditer(text):
        word = match.group()
        analysed = analyzer(word) if analyzer is not None else [word.lower()]
        if any(term in terms for term in analysed):
            spans.append(match.span())
    return spans


def mark_spans(
    text: str,
    spans: Sequence[tuple[int, int]],
    *,
    escape: Callable[[str], str] = html.escape,
    before: str = "<mark>",
    after: str = "</mark>",
) -> str:
    """``text`` with each span wrapped in ``before``/``after``, the rest passed to ``escape``."""
    pieces = []
    position = 0
    for start, end in spans:
        pieces.append(escape(text[position:start]))
        pieces.append(before + escape(text[start:end]) + after)
        position = end
    pieces.append(escape(text[position:]))
    return "".join(pieces)


def _number(value: float | int | None, digits: int = 4) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def hits_to_html(
    hits: Sequence[Hit],
    *,
    query_terms: Iterable[str] = (),
    analyzer: Analyzer | None = None,
    max_chars: int = 600,
    highlight_rows: Iterable[str] = (),
) -> str:
    """An HTML table of hits: rank, document, fused score, per-leg rank and score, passage.

    Args:
        hits: The hits to show.
        query_terms: Analysed query terms to highlight in the passages.
        analyzer: The index's analyzer (to match passage words to query terms).
        max_chars: Longer passages are cut to this many characters (with an ellipsis).
        highlight_rows: Document ids whose rows are shaded (e.g. found by one leg only).
    """
    terms = tuple(query_terms)
    shaded = set(highlight_rows)
    rows = []
    for hit in hits:
        passage = hit.text if len(hit.text) <= max_chars else hit.text[:max_chars] + " …"
        marked = mark_spans(passage, highlight_spans(passage, terms, analyzer))
        title = f"<b>{html.escape(hit.title)}</b><br>" if hit.title else ""
        row_class = ' class="hs-only"' if hit.doc_id in shaded else ""
        rows.append(
            f"<tr{row_class}>"
            f'<td class="hs-num">{hit.rank}</td>'
            f"<td>{html.escape(hit.doc_id)}</td>"
            f'<td class="hs-num">{_number(hit.score)}</td>'
            f'<td class="hs-num">{_number(hit.bm25_rank)}</td>'
            f'<td class="hs-num">{_number(hit.bm25_score, 2)}</td>'
            f'<td class="hs-num">{_number(hit.dense_rank)}</td>'
            f'<td class="hs-num">{_number(hit.dense_score, 3)}</td>'
            f"<td>{title}{marked}</td>"
            "</tr>"
        )
    if not rows:
        rows.append('<tr><td colspan="8"><i>no results</i></td></tr>')
    header = (
        "<tr><th>rank</th><th>document</th><th>score</th><th>BM25 rank</th>"
        "<th>BM25 score</th><th>dense rank</th><th>dense score</th><th>passage</th></tr>"
    )
    return f'{_TABLE_STYLE}<table class="hs-hits">{header}{"".join(rows)}</table>'


def compare_modes_html(
    results: Mapping[str, Sequence[Hit]],
    *,
    query_terms: Iterable[str] = (),
    analyzer: Analyzer | None = None,
    max_chars: int = 300,
) -> str:
    """Side-by-side tables of one query's results per mode (e.g. bm25, dense, hybrid).

    Rows whose document only one mode returned are shaded, so what each leg alone finds
    stands out.
    """
    found_in: dict[str, set[str]] = {}
    for mode, hits in results.items():
        for hit in hits:
            found_in.setdefault(hit.doc_id, set()).add(mode)
    columns = []
    for mode, hits in results.items():
        only_here = [hit.doc_id for hit in hits if found_in[hit.doc_id] == {mode}]
        table = hits_to_html(
            hits,
            query_terms=query_terms,
            analyzer=analyzer,
            max_chars=max_chars,
            highlight_rows=only_here,
        )
        columns.append(
            f'<div style="flex:1;min-width:0"><h4>{html.escape(mode)} '
            f"({len(only_here)} found only here)</h4>{table}</div>"
        )
    return f'<div style="display:flex;gap:12px">{"".join(columns)}</div>'
