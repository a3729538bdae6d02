"""What the display tests share: an HTML reader (the oracle) and hits made by hand.

Hits are real :class:`~hybridsearch.search.hits.Hit` objects, built without a model. Their
plan is a stand-in holding only what display reads (``query``, ``query_terms``, ``notes``):
display is duck-typed over plans and below the search layer, so its tests do not depend on
how a real plan is made.
"""

from __future__ import annotations

from dataclasses import dataclass
from html.parser import HTMLParser
from typing import Any

from hybridsearch.search.hits import Hit, Hits
from hybridsearch.sparse.analysis import Analyzer

HOSTILE = '<script>alert(1)</script> R&D "quoted"'

MODE_RESULTS = {
    "bm25": ["a", "b", "c", "g"],
    "dense": ["a", "d", "e"],
    "hybrid": ["a", "b", "d"],
}


class TableReader(HTMLParser):
    """Collects the tables of a page: per row its class and its cells' text; h4 headings too.

    ``convert_charrefs`` is on, so cell text is what a reader sees (entities decoded).
    """

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tables: list[list[tuple[str | None, list[str]]]] = []
        self.headings: list[str] = []
        self.tags: list[str] = []
        self.styles: dict[str, list[str]] = {}  # tag -> the style attributes, in order
        self.marked: list[str] = []
        self._cell: list[str] | None = None
        self._heading: list[str] | None = None
        self._mark: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        style = dict(attrs).get("style")
        if style is not None:
            self.styles.setdefault(tag, []).append(style)
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


def read_page(page: str) -> TableReader:
    """Parse ``page`` with the standard library's HTML parser."""
    reader = TableReader()
    reader.feed(page)
    reader.close()
    return reader


def make_hit(doc_id: str, rank: int = 1, text: str = "some passage", **fields: Any) -> Hit:
    """A hit with score ``1 / rank``; other fields as given."""
    return Hit(rank=rank, doc_id=doc_id, passage_id=rank - 1, score=1.0 / rank, text=text, **fields)


@dataclass(frozen=True)
class StubPlan:
    """The part of a :class:`~hybridsearch.search.plan.Plan` that display reads."""

    query: str
    query_terms: tuple[str, ...]
    mode: str = "hybrid"
    notes: tuple[str, ...] = ()


def mode_hits(mode: str, query_terms: tuple[str, ...] = ()) -> Hits:
    """The hits of :data:`MODE_RESULTS` for ``mode``, with a plan and an analyzer."""
    hits = [make_hit(doc_id, rank) for rank, doc_id in enumerate(MODE_RESULTS[mode], start=1)]
    return Hits(hits, plan=StubPlan("query", query_terms, mode), analyzer=Analyzer())


def expected_only_in() -> dict[str, set[str]]:
    """Per mode, the documents of :data:`MODE_RESULTS` no other mode has (by set algebra)."""
    expected = {}
    for mode, doc_ids in MODE_RESULTS.items():
        elsewhere = set().union(*(set(ids) for other, ids in MODE_RESULTS.items() if other != mode))
        expected[mode] = set(doc_ids) - elsewhere
    return expected
