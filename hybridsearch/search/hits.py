"""What a search returns: :class:`Hit` and the list of them, :class:`Hits`.

A hit carries the breakdown users ask for: its fused score and rank, and for each leg (BM25
and dense) the rank and raw score that leg gave the passage shown, or ``None`` where that leg
did not return it. With RRF, ``score`` is ``sum(weight / (k + leg_rank))`` over those ranks.
In a notebook both render as HTML tables (see :mod:`hybridsearch.display.html`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hybridsearch.sparse.analysis import Analyzer
    from hybridsearch.search.planner import Plan


@dataclass(frozen=True)
class Hit:
    """One ranked result.

    Attributes:
        rank: 1-based position in the results.
        doc_id: The document's id.
        passage_id: The passage shown (for document results, the document's best passage).
        score: The fused score (the leg's raw score when only one leg ran).
        text: The passage's text, as it stands in the document (without the title).
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
        """Return the hit as JSON-ready data."""
        data = asdict(self)
        data["metadata"] = dict(self.metadata)
        return data

    def _repr_html_(self) -> str:
        from hybridsearch.display.html import hits_to_html

        return hits_to_html([self])


class Hits(list[Hit]):
    """A ranked list of hits, with the plan that produced it and where the time went.

    Attributes:
        plan: The :class:`~hybridsearch.search.planner.Plan` that was run.
        timings: Milliseconds per stage (``bm25``, ``encode``, ``faiss``, ``fusion``,
            ``total``); stages that did not run are absent.
        analyzer: The BM25 analyzer, used only to highlight query terms when rendered.
    """

    def __init__(
        self,
        hits: Iterable[Hit] = (),
        *,
        plan: Plan | None = None,
        timings: Mapping[str, float] | None = None,
        analyzer: Analyzer | None = None,
    ) -> None:
        super().__init__(hits)
        self.plan = plan
        self.timings: dict[str, float] = dict(timings or {})
        self.analyzer = analyzer

    def __repr__(self) -> str:
        # A short form for terminals: one line per hit, not every field of every hit.
        query = f" for {self.plan.query!r}" if self.plan is not None else ""
        lines = [f"Hits({len(self)}{query})"]
        lines += [f"  {hit.rank:>3}. {hit.doc_id}  {hit.score:.4f}" for hit in self]
        return "\n".join(lines)

    def describe_timings(self) -> str:
        """Where the time went, one line: ``time (ms): encode 5.01, bm25 0.20, ...``."""
        return "time (ms): " + ", ".join(f"{stage} {ms:.2f}" for stage, ms in self.timings.items())

    def to_dicts(self) -> list[dict[str, Any]]:
        """Return the hits as JSON-ready data."""
        return [hit.to_dict() for hit in self]

    def _repr_html_(self) -> str:
        from hybridsearch.display.html import hits_to_html

        terms = self.plan.query_terms if self.plan is not None else ()
        return hits_to_html(self, query_terms=terms, analyzer=self.analyzer)
