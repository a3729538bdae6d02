"""What a search returns: :class:`Hit`, the list of them (:class:`Hits`), and how a hit is made.

A hit carries the breakdown users ask for: its fused score and rank, and for each leg (BM25
and dense) the rank and raw score that leg gave the passage shown, or ``None`` where that leg
did not return it. With RRF, ``score`` is ``sum(weight / (k + leg_rank))`` over those ranks.
In a notebook both render as HTML tables (see :mod:`hybridsearch.display.html`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

import numpy as np

from hybridsearch.display.html import hits_to_html
from hybridsearch.display.snippets import DEFAULT_SNIPPET_CHARS, best_window
from hybridsearch.display.terminal import format_breakdown, format_timings

if TYPE_CHECKING:
    from hybridsearch.search.legs import LegRanking
    from hybridsearch.search.plan import Plan

__all__ = ["Hit", "Hits", "PassageLookup", "PassageView", "make_hit"]


class PassageView(NamedTuple):
    """What a hit shows of a passage: its document and where the passage sits in it."""

    doc_id: str
    text: str
    title: str
    start: int
    end: int
    metadata: Mapping[str, Any]
    passage_id: int | None = None  # the id a hit shows, where it differs from the leg's


class PassageLookup(Protocol):
    """What the search layer needs from the index's passage store."""

    def document_rows_of(self, passage_ids: np.ndarray) -> np.ndarray:
        """The document row of each passage id (for aggregation)."""
        ...

    def passage_view(self, passage_id: int) -> PassageView:
        """The document and span of one passage (for a hit)."""
        ...


@dataclass(frozen=True)
class Hit:
    """One ranked result.

    Attributes:
        rank: 1-based position in the results.
        doc_id: The document's id.
        passage_id: The passage shown (for document results, the document's best passage).
        score: The fused score (the leg's raw score when only one leg ran).
        text: The passage's body as it stands in the document (the title is in ``title``).
        title: The document's title.
        start: Where the passage starts in the document's text (characters).
        end: Where it ends (exclusive).
        bm25_rank: Rank the BM25 leg gave the passage shown (legs rank passages), or None
            where BM25 did not return it among its candidates.
        bm25_score: BM25's raw score of that passage, or None.
        dense_rank: Rank the dense leg gave the passage shown, or None.
        dense_score: The dense leg's cosine similarity for that passage, or None.
        metadata: The document's metadata.
    """

    rank: int
    doc_id: str
    passage_id: int
    score: float
    text: str
    title: str = ""
    start: int = 0
    end: int = 0
    bm25_rank: int | None = None
    bm25_score: float | None = None
    dense_rank: int | None = None
    dense_score: float | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Return the hit as JSON-ready data (a new dict; metadata copied into a plain dict)."""
        # Field by field, not dataclasses.asdict: asdict deep-copies every value, and a
        # server turns ten hits into data per request.
        data = {name: getattr(self, name) for name in _HIT_FIELDS}
        data["metadata"] = dict(self.metadata)
        return data

    def _repr_html_(self) -> str:
        return hits_to_html([self])


_HIT_FIELDS = tuple(hit_field.name for hit_field in fields(Hit))


def make_hit(
    rank: int,
    passage_id: int,
    score: float,
    view: PassageView,
    rankings: Mapping[str, LegRanking],
) -> Hit:
    """A hit for a passage, with the rank and raw score each leg gave that passage."""
    breakdown: dict[str, Any] = {}
    for leg in ("bm25", "dense"):
        ranking = rankings.get(leg)
        breakdown[f"{leg}_rank"] = ranking.rank_of(passage_id) if ranking else None
        breakdown[f"{leg}_score"] = ranking.score_of(passage_id) if ranking else None
    return Hit(
        rank=rank,
        doc_id=view.doc_id,
        passage_id=int(passage_id if view.passage_id is None else view.passage_id),
        score=float(score),
        text=view.text,
        title=view.title,
        start=view.start,
        end=view.end,
        metadata=view.metadata,
        **breakdown,
    )


class Hits(list[Hit]):
    """A ranked list of hits, with the plan that produced it and what the run did.

    Attributes:
        plan: The :class:`~hybridsearch.search.plan.Plan` that was run.
        timings: Milliseconds per stage (``encode``, ``bm25``, ``dense``, ``fusion``,
            ``total``); stages that did not run are absent.
        depth: How deep the legs went (passages each); more than ``plan.depth`` when
            documents crowded the candidates and the plan's deepening rule applied.
        analyzer: What maps a word to BM25 terms (the planner passes the BM25 analyzer's
            per-word memory, ``Analyzer.word_terms``, whose ``match`` snippets use for a
            passage's words at once), used only to match query terms in snippets and
            highlighting.
    """

    def __init__(
        self,
        hits: Iterable[Hit] = (),
        *,
        plan: Plan | None = None,
        timings: Mapping[str, float] | None = None,
        depth: int | None = None,
        analyzer: Any = None,
    ) -> None:
        super().__init__(hits)
        self.plan = plan
        self.timings: dict[str, float] = dict(timings or {})
        self.depth = depth
        self.analyzer = analyzer

    def __repr__(self) -> str:
        # A short form for terminals: one line per hit, not every field of every hit.
        query = f" for {self.plan.query!r}" if self.plan is not None else ""
        lines = [f"Hits({len(self)}{query})"]
        lines += [f"  {hit.rank:>3}. {hit.doc_id}  {hit.score:.4f}" for hit in self]
        return "\n".join(lines)

    def describe_timings(self) -> str:
        """Where the time went, one line: ``time (ms): encode 5.01, bm25 0.20, ...``."""
        return format_timings(self.timings)

    def describe(self) -> str:
        """The plan, how deep the legs went, the timings and each hit's per-leg breakdown."""
        lines = []
        if self.plan is not None:
            lines.append(self.plan.describe())
            if self.depth is not None and self.depth != self.plan.depth:
                lines.append(f"deepened: the legs searched {self.depth} passages each")
        lines.append(self.describe_timings())
        lines.extend(format_breakdown(self))
        return "\n".join(lines)

    def to_dicts(
        self, snippet_chars: int = DEFAULT_SNIPPET_CHARS, *, snippets: bool = True
    ) -> list[dict[str, Any]]:
        """Return the hits as JSON-ready data, each with a ``snippet`` beside its ``text``.

        The snippet is the passage's best-matching window for the plan's query terms
        (:func:`~hybridsearch.display.snippets.best_window`, at most ``snippet_chars``
        characters of the passage, whitespace collapsed, ``…`` where it cuts); ``text`` stays
        the full passage. With ``snippets=False`` the snippet is ``""`` and costs nothing
        (a client that shows whole passages saves the matching of every word).
        """
        terms = self.plan.query_terms if self.plan is not None else ()
        dicts = []
        for hit in self:
            snippet = (
                best_window(hit.text, terms, self.analyzer, snippet_chars).text if snippets else ""
            )
            # The snippet right after the text, so a reader of the JSON finds them together.
            data: dict[str, Any] = {}
            for key, value in hit.to_dict().items():
                data[key] = value
                if key == "text":
                    data["snippet"] = snippet
            dicts.append(data)
        return dicts

    def _repr_html_(self) -> str:
        terms = self.plan.query_terms if self.plan is not None else ()
        return hits_to_html(self, query_terms=terms, analyzer=self.analyzer)
