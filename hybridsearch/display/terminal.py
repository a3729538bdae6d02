"""Hits as plain text for terminals: a ranked list with query terms in bold yellow
(:func:`format_hits`), where the time went in one line (:func:`format_timings`) and each
hit's per-leg breakdown (:func:`format_breakdown`).

Duck-typed like :mod:`hybridsearch.display.html`: hits are read through their fields, and a
list of hits through its ``plan`` (``query_terms``, ``notes``) and ``analyzer`` where it has
them, so this module never imports the search layer that calls it.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, TextIO

from hybridsearch.display.text import highlight_spans, mark_spans, number_text

if TYPE_CHECKING:
    from hybridsearch.search.hits import Hit

__all__ = ["format_breakdown", "format_hits", "format_timings", "use_color"]

_BOLD = "\033[1m"
_MATCH = "\033[1;33m"  # bold yellow
_RESET = "\033[0m"


def use_color(stream: TextIO | None = None) -> bool:
    """Whether to color output: ``stream`` (default stdout) is a terminal, and neither
    ``NO_COLOR`` (https://no-color.org) nor ``TERM=dumb`` asks for plain text."""
    stream = sys.stdout if stream is None else stream
    return (
        stream.isatty() and os.environ.get("NO_COLOR") is None and os.environ.get("TERM") != "dumb"
    )


def format_hits(hits: Iterable[Hit], *, color: bool, max_chars: int = 400) -> str:
    """A readable ranked list: rank, doc id, score, per-leg ranks, then the passage.

    Args:
        hits: The hits; when it has a ``plan``, its notes explain an empty result and its
            ``query_terms`` (matched through ``hits.analyzer``) are highlighted.
        color: Bold headings and highlighted query terms (ANSI codes).
        max_chars: Longer passages are cut to this many characters (whitespace collapsed).
    """
    plan = getattr(hits, "plan", None)
    analyzer = getattr(hits, "analyzer", None)
    hit_list = list(hits)
    if not hit_list:
        notes = "; ".join(plan.notes) if plan is not None and plan.notes else ""
        return "no results" + (f" ({notes})" if notes else "")
    terms = plan.query_terms if plan is not None else ()
    lines = []
    for hit in hit_list:
        legs = f"bm25 #{number_text(hit.bm25_rank)}  dense #{number_text(hit.dense_rank)}"
        heading = f"{hit.rank:>2}. {hit.doc_id}  score {hit.score:.4f}  ({legs})"
        if hit.title and hit.title != hit.doc_id:
            heading += f"  {hit.title}"
        text = " ".join(hit.text.split())
        if len(text) > max_chars:
            text = text[:max_chars] + " ..."
        if color:
            spans = highlight_spans(text, terms, analyzer)
            text = mark_spans(text, spans, escape=str, before=_MATCH, after=_RESET)
            heading = f"{_BOLD}{heading}{_RESET}"
        lines.extend((heading, "    " + text, ""))
    return "\n".join(lines).rstrip()


def format_timings(timings: Mapping[str, float]) -> str:
    """Where the time went, one line: ``time (ms): encode 5.01, bm25 0.20, ...``."""
    return "time (ms): " + ", ".join(f"{stage} {ms:.2f}" for stage, ms in timings.items())


def format_breakdown(hits: Iterable[Hit]) -> list[str]:
    """One line per hit: rank, document, fused score, and each leg's rank and raw score."""
    return [
        f"{hit.rank:>3}. {hit.doc_id}  score {hit.score:.4f}  "
        f"bm25 rank {number_text(hit.bm25_rank)} score {number_text(hit.bm25_score)}  "
        f"dense rank {number_text(hit.dense_rank)} score {number_text(hit.dense_score)}"
        for hit in hits
    ]
