"""Notebook views over an index: one query in several modes side by side
(:func:`compare_modes`, :class:`ModeComparison`) and a live search box (:class:`SearchBox`).

They need only something that searches (:class:`Searchable`); the index layer above provides
it, and this module never imports it.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from hybridsearch.display.html import compare_modes_html, hits_to_html, only_found_in
from hybridsearch.errors import HybridSearchError, InvalidInputError
from hybridsearch.validation import string_list

if TYPE_CHECKING:
    from hybridsearch.search.hits import Hits

__all__ = ["COMPARED_MODES", "ModeComparison", "SearchBox", "Searchable", "compare_modes"]

#: The modes :func:`compare_modes` and :class:`SearchBox` offer, in display order.
COMPARED_MODES = ("bm25", "dense", "hybrid")


class Searchable(Protocol):
    """What :func:`compare_modes` and :class:`SearchBox` need of an index: its ``search``.

    :class:`~hybridsearch.index.hybrid_index.HybridIndex` is one.
    """

    def search(self, query: str, k: int = ..., **options: Any) -> Hits: ...


def _query_terms(hits: Hits) -> tuple[str, ...]:
    return tuple(hits.plan.query_terms) if hits.plan is not None else ()


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
        """Per mode, the document ids that only this mode returned (see
        :func:`~hybridsearch.display.html.only_found_in`)."""
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


def _check_modes(modes: Sequence[str]) -> tuple[str, ...]:
    checked = tuple(string_list("modes", modes, what="mode names"))
    if not checked:
        raise InvalidInputError(f"modes must be a non-empty sequence of mode names, got {modes!r}")
    return checked


def compare_modes(
    index: Searchable,
    query: str,
    k: int = 5,
    *,
    modes: Sequence[str] = COMPARED_MODES,
    **options: Any,
) -> ModeComparison:
    """Search one query in several modes, for a side-by-side view.

    Args:
        index: A :class:`~hybridsearch.index.hybrid_index.HybridIndex` (anything with its
            ``search``).
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
    results = {mode: index.search(query, k, mode=mode, **options) for mode in _check_modes(modes)}
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
        index: A :class:`~hybridsearch.index.hybrid_index.HybridIndex` (anything with its
            ``search``).
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
        index: Searchable,
        query: str = "",
        *,
        k: int = 5,
        mode: str = "hybrid",
        modes: Sequence[str] = COMPARED_MODES,
        as_you_type: bool = True,
        **options: Any,
    ) -> None:
        import ipywidgets

        modes = _check_modes(modes)
        if mode not in modes:
            raise InvalidInputError(f"mode {mode!r} is not among the modes offered {modes}")
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
        table = hits_to_html(hits, query_terms=_query_terms(hits), analyzer=hits.analyzer)
        self.results.value = _search_summary(hits) + table

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.widget._repr_mimebundle_(**kwargs)
