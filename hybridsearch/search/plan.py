"""The plan: what a search will do, decided before anything runs.

A :class:`Plan` is made by :meth:`~hybridsearch.search.planner.QueryPlanner.plan` and never
changed afterwards. It holds the whole run, including the deepening rule, so a reader of the
plan knows every step; what actually happened (how deep the legs went) is reported beside the
hits (:attr:`~hybridsearch.search.hits.Hits.depth`), not written back into the plan.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

__all__ = ["DEEPENING_FACTOR", "Plan"]

#: How much deeper the legs go each time documents crowd the candidates.
DEEPENING_FACTOR = 4


@dataclass(frozen=True)
class Plan:
    """What a search will do.

    Attributes:
        query: The query text.
        k: Results wanted.
        mode: ``hybrid``, ``bm25`` or ``dense`` as asked.
        legs: The legs that will run, in fusion order (``bm25`` before ``dense``).
        unit: ``documents`` (each document once, its best passage shown) or ``passages``.
        depth: Passages each leg returns on the first pass: ``max(k, options.depth)``,
            capped at the passages in the index.
        target: Results the run fills before cutting to ``k``: ``max(k, options.depth)``.
            It does not depend on ``k`` while ``k <= options.depth``, which is what makes
            results stable under paging.
        max_depth: The passages in the index; no leg goes deeper.
        fusion: ``rrf`` or ``convex`` when two legs run, else ``None``.
        fusion_params: ``k`` for RRF, ``normalization`` for convex, and ``weights`` per leg.
        query_terms: The analysed query terms BM25 knows.
        unknown_terms: The analysed query terms BM25 has never seen.
        notes: Why the plan differs from what was asked, if it does, and how the dense leg
            searches (exact, or HNSW).
        filter: The metadata filter, readable, or None.
        filter_passages: How many live passages pass the filter (None without one); the
            legs search only those, and no leg goes deeper than that.
        bm25_feedback: ``none``, or ``rm3`` when the BM25 leg expands the query by RM3.
    """

    query: str
    k: int
    mode: str
    legs: tuple[str, ...]
    unit: str
    depth: int
    target: int
    max_depth: int
    fusion: str | None
    fusion_params: Mapping[str, Any]
    query_terms: tuple[str, ...]
    unknown_terms: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    filter: str | None = None
    filter_passages: int | None = None
    bm25_feedback: str = "none"
    # The filter's per-part passage masks, computed when planning; not part of the plan's data.
    allowed: Any = field(default=None, repr=False, compare=False)

    @property
    def deepens(self) -> bool:
        """Whether the legs may go deeper than :attr:`depth` (document results only)."""
        return self.unit == "documents" and self.depth < self.max_depth

    def next_depth(self, depth: int) -> int:
        """The depth of the pass after one at ``depth`` (``DEEPENING_FACTOR`` x, capped)."""
        return min(depth * DEEPENING_FACTOR, self.max_depth)

    def deepening_rule(self) -> str:
        """The deepening rule in words, as :meth:`describe` prints it."""
        if not self.deepens:
            return "none"
        return (
            f"while fewer than {self.target} documents come out and a leg returned all it was "
            f"asked for, search {DEEPENING_FACTOR}x deeper (at most {self.max_depth})"
        )

    def to_dict(self) -> dict[str, Any]:
        """The plan as JSON-ready data (the deepening rule included, in words)."""
        data = {item.name: getattr(self, item.name) for item in fields(self)}
        del data["allowed"]
        data["legs"], data["notes"] = list(self.legs), list(self.notes)
        data["fusion_params"] = {
            key: dict(value) if isinstance(value, Mapping) else value
            for key, value in self.fusion_params.items()
        }
        data["deepening"] = self.deepening_rule()
        return data

    def describe(self) -> str:
        """A few readable lines: what runs, how deep, how it is fused."""
        lines = [
            f"query: {self.query!r}",
            f"legs: {' + '.join(self.legs) or 'none'} ({self.depth} passages each)",
            f"deepening: {self.deepening_rule()}",
        ]
        if self.fusion is not None:
            params = ", ".join(f"{key}={value}" for key, value in self.fusion_params.items())
            lines.append(f"fusion: {self.fusion} ({params})")
        if self.filter is not None:
            lines.append(f"filter: {self.filter} ({self.filter_passages} passages pass)")
        lines.append(f"results: top {self.k} {self.unit} of {self.target} ranked")
        lines.append(f"BM25 terms: {' '.join(self.query_terms) or '(none)'}")
        if self.unknown_terms:
            lines.append(f"terms unknown to BM25: {' '.join(self.unknown_terms)}")
        lines.extend(f"note: {note}" for note in self.notes)
        return "\n".join(lines)
