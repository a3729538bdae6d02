"""Rendering hits for people: HTML tables for notebooks, highlighted text for terminals, the
modes side by side (:func:`compare_modes`) and a live search box (:class:`SearchBox`).

Everything a document contributes (ids, titles, passages) is escaped, so a passage holding
``<script>`` or ``&`` renders as text. Query terms are highlighted by running each word of the
passage through the index's analyzer, so "exceptions" in a passage matches the query term
"except" (the Snowball stem of "exception" and "exceptions") exactly when BM25 would match it.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from hybridsearch.errors import HybridSearchError, InvalidInputError

if TYPE_CHECKING:
    from hybridsearch.sparse.analysis import Analyzer
    from hybridsearch.search.hits import Hit, Hits

#: The modes :func:`compare_modes` and :class:`SearchBox` offer, in display order.
COMPARED_MODES = ("bm25", "dense", "hybrid")

_WORD = re.compile(r"\w+")

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
            f'<td class="hs-text">{title}{marked}</td>'
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
    found_only_in = only_found_in(results)
    columns = []
    for mode, hits in results.items():
        only_here = found_only_in[mode]
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


class _Searchable(Protocol):
    """What :func:`compare_modes` and :class:`SearchBox` need of an index."""

    def search(self, query: str, k: int = ..., **options: Any) -> Hits: ...


@dataclass(frozen=True)
class ModeComparison:
    """One query's hits per mode; renders as side-by-side tables in a notebook.

    Attributes:
        query: The query text.
        results: Mode name -> its hits, in display order.
    """

    query: str
    results: Mapping[str, Hits]

    def __repr__(self) -> str:
        counts = ", ".join(f"{mode}: {len(hits)} hits" for mode, hits in self.results.items())
        return f"ModeComparison({self.query!r}; {counts})"

    @property
    def only_in(self) -> dict[str, list[str]]:
        """Per mode, the document ids that only this mode returned (see :func:`only_found_in`)."""
        return only_found_in(self.results)

    def _repr_html_(self) -> str:
        # Every mode analyses the query with the same analyzer, so any plan's terms will do.
        plans = [hits.plan for hits in self.results.values() if hits.plan is not None]
        analyzers = [hits.analyzer for hits in self.results.values() if hits.analyzer is not None]
        heading = f"<p>query: <b>{html.escape(self.query)}</b></p>"
        return heading + compare_modes_html(
            self.results,
            query_terms=plans[0].query_terms if plans else (),
            analyzer=analyzers[0] if analyzers else None,
        )


def compare_modes(
    index: _Searchable,
    query: str,
    k: int = 5,
    *,
    modes: Sequence[str] = COMPARED_MODES,
    **options: Any,
) -> ModeComparison:
    """Search one query in several modes, for a side-by-side view.

    Args:
        index: A :class:`~hybridsearch.index.hybrid_index.HybridIndex` (anything with its ``search``).
        query: The query text.
        k: Results per mode.
        modes: The modes to run (``bm25``, ``dense``, ``hybrid``), in display order.
        **options: Passed to ``index.search`` for every mode (e.g. ``fusion="convex"``).

    Returns:
        The hits per mode; in a notebook it renders as tables whose rows found by one mode
        only are shaded.

    Raises:
        InvalidInputError: no modes, or a bad query, mode or option (from the search).
    """
    if isinstance(modes, str) or not modes:
        raise InvalidInputError(f"modes must be a non-empty sequence of mode names, got {modes!r}")
    results = {mode: index.search(query, k, mode=mode, **options) for mode in modes}
    return ModeComparison(query=query, results=results)


def _search_summary(hits: Hits) -> str:
    """One line above a table: time taken, the BM25 terms, and the plan's notes (escaped)."""
    parts = []
    if "total" in hits.timings:
        parts.append(f"{hits.timings['total']:.1f} ms")
    if hits.plan is not None:
        terms = " ".join(hits.plan.query_terms) or "(none)"
        parts.append(f"BM25 terms: {terms}")
        parts.extend(f"note: {note}" for note in hits.plan.notes)
    return f"<p><small>{html.escape(' · '.join(parts))}</small></p>" if parts else ""


class SearchBox:
    """A search box for notebooks: a query field and a mode switch over a live results table.

    The table re-renders as the query or the mode changes. It is an ``ipywidgets.HTML``
    widget whose value is the table, rather than an ``Output`` widget, so the results can be
    read back (``box.results.value``) and the box works the same in and out of a kernel.

    Needs ipywidgets (``pip install hybridsearch[notebook]``); without it, constructing one
    raises ImportError, and :meth:`HybridIndex.search` gives the same tables.

    Args:
        index: A :class:`~hybridsearch.index.hybrid_index.HybridIndex` (anything with its ``search``).
        query: The query to start with (empty: the box shows a hint).
        k: Results shown.
        mode: The mode selected at first.
        modes: The modes offered.
        as_you_type: Search on every keystroke; False searches when Enter is pressed or the
            field loses focus (kinder to a slow machine).
        **options: Passed to ``index.search`` (e.g. ``fusion="convex"``).

    Raises:
        ImportError: ipywidgets is not installed.
        InvalidInputError: ``mode`` is not one of ``modes``.

    Attributes:
        query_input: The ``ipywidgets.Text`` holding the query.
        mode_input: The ``ipywidgets.ToggleButtons`` choosing the mode.
        results: The ``ipywidgets.HTML`` showing the table.
        widget: The whole box (an ``ipywidgets.VBox``), which is what a notebook displays.
    """

    def __init__(
        self,
        index: _Searchable,
        query: str = "",
        *,
        k: int = 5,
        mode: str = "hybrid",
        modes: Sequence[str] = COMPARED_MODES,
        as_you_type: bool = True,
        **options: Any,
    ) -> None:
        import ipywidgets

        if mode not in modes:
            raise InvalidInputError(f"mode {mode!r} is not among the modes offered {tuple(modes)}")
        self._index = index
        self._k = k
        self._options = options
        self.query_input = ipywidgets.Text(
            value=query,
            placeholder="type a query",
            description="query",
            continuous_update=as_you_type,
            layout=ipywidgets.Layout(width="60%"),
        )
        self.mode_input = ipywidgets.ToggleButtons(options=list(modes), value=mode)
        self.results = ipywidgets.HTML()
        self.widget = ipywidgets.VBox([self.query_input, self.mode_input, self.results])
        self.query_input.observe(self._refresh, names="value")
        self.mode_input.observe(self._refresh, names="value")
        self._refresh()

    def _refresh(self, _change: Any = None) -> None:
        query = self.query_input.value
        if not query.strip():
            self.results.value = "<p><i>type a query</i></p>"
            return
        try:
            hits = self._index.search(query, self._k, mode=self.mode_input.value, **self._options)
        except HybridSearchError as error:
            # A half-typed query can be invalid; say why instead of raising into the widget.
            self.results.value = f"<p><i>{html.escape(str(error))}</i></p>"
            return
        terms = hits.plan.query_terms if hits.plan is not None else ()
        table = hits_to_html(hits, query_terms=terms, analyzer=hits.analyzer)
        self.results.value = _search_summary(hits) + table

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.widget._repr_mimebundle_(**kwargs)
