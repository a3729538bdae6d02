"""Hits as plain text for terminals: a ranked list that fits the terminal's width, with
query terms in bold yellow on a terminal (:func:`format_hits`), where the time went in one
line (:func:`format_timings`) and each hit's per-leg breakdown (:func:`format_breakdown`).

Duck-typed like :mod:`hybridsearch.display.html`: hits are read through their fields, and a
list of hits through its ``plan`` (``query_terms``, ``notes``) and ``analyzer`` where it has
them, so this module never imports the search layer that calls it.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, TextIO

from hybridsearch.display.snippets import DEFAULT_SNIPPET_CHARS, best_window
from hybridsearch.display.text import highlight_spans, mark_spans, number_text
from hybridsearch.display.width import display_width, fit_width, printable, wrap

if TYPE_CHECKING:
    from hybridsearch.search.hits import Hit

__all__ = [
    "format_breakdown",
    "format_hits",
    "format_timings",
    "printable_lines",
    "terminal_width",
    "use_color",
]

_BOLD = "\033[1m"
_MATCH = "\033[1;33m"  # bold yellow
_RESET = "\033[0m"
_INDENT = "    "
_MIN_WIDTH = 20  # a narrower terminal still gets 20-column lines: wrapping in 10 helps nobody


def use_color(stream: TextIO | None = None) -> bool:
    """Whether to color output: ``stream`` (default stdout) is a terminal, and neither
    ``NO_COLOR`` (https://no-color.org) nor ``TERM=dumb`` asks for plain text."""
    stream = sys.stdout if stream is None else stream
    return (
        stream.isatty() and os.environ.get("NO_COLOR") is None and os.environ.get("TERM") != "dumb"
    )


def terminal_width(stream: TextIO | None = None) -> int:
    """The columns to fit: ``COLUMNS`` when set, else the width of the terminal ``stream``
    (default stdout) shows, else 80 (a pipe or a file)."""
    stream = sys.stdout if stream is None else stream
    columns = os.environ.get("COLUMNS", "")
    if columns.isdigit() and int(columns) > 0:
        return int(columns)
    try:
        return os.get_terminal_size(stream.fileno()).columns or 80
    except (AttributeError, ValueError, OSError):  # not a terminal, or no file descriptor
        return 80


def format_hits(
    hits: Iterable[Hit],
    *,
    color: bool,
    max_chars: int = DEFAULT_SNIPPET_CHARS,
    width: int | None = None,
) -> str:
    """A readable ranked list: rank, doc id, score, per-leg ranks, then the passage's snippet.

    Every line fits ``width`` columns (wide characters count two): a heading too long for it
    is cut with ``…``, and the snippet (the passage's best-matching window, see
    :func:`~hybridsearch.display.snippets.best_window`) is wrapped at spaces, indented. Control
    characters in ids, titles and passages are replaced (:func:`printable`), so a document
    cannot move the cursor, clear the screen or set the clipboard of whoever searches it.

    Args:
        hits: The hits; when it has a ``plan``, its notes explain an empty result and its
            ``query_terms`` (matched through ``hits.analyzer``) are highlighted.
        color: Bold headings and highlighted query terms (ANSI codes, added after wrapping).
        max_chars: The longest snippet, in characters of the passage.
        width: The terminal's columns; None asks :func:`terminal_width`.
    """
    width = max(_MIN_WIDTH, width or terminal_width())
    plan = getattr(hits, "plan", None)
    analyzer = getattr(hits, "analyzer", None)
    hit_list = list(hits)
    if not hit_list:
        notes = "; ".join(plan.notes) if plan is not None and plan.notes else ""
        return fit_width(printable("no results" + (f" ({notes})" if notes else "")), width)
    terms = tuple(plan.query_terms) if plan is not None else ()
    lines = []
    for hit in hit_list:
        legs = f"bm25 #{number_text(hit.bm25_rank)}  dense #{number_text(hit.dense_rank)}"
        heading = f"{hit.rank:>2}. {printable(hit.doc_id)}  score {hit.score:.4f}  ({legs})"
        if hit.title and hit.title != hit.doc_id:
            heading += f"  {printable(hit.title)}"
        heading = fit_width(heading, width)
        snippet = printable(best_window(hit.text, terms, analyzer, max_chars).text)
        passage = wrap(snippet, width - len(_INDENT))
        if color:
            passage = [
                mark_spans(
                    line,
                    highlight_spans(line, terms, analyzer),
                    escape=str,
                    before=_MATCH,
                    after=_RESET,
                )
                for line in passage
            ]
            heading = f"{_BOLD}{heading}{_RESET}"
        lines.extend((heading, *(_INDENT + line for line in passage), ""))
    return "\n".join(lines).rstrip()


def printable_lines(text: str, width: int | None = None) -> str:
    """Multi-line text that quotes a user's or a document's words (a plan's description),
    for a terminal: every control character but the line breaks replaced (see
    :func:`~hybridsearch.display.width.printable`), and lines wider than ``width`` (None:
    :func:`terminal_width`) wrapped, their continuation indented by two spaces."""
    width = max(_MIN_WIDTH, width or terminal_width())
    lines = []
    for line in text.split("\n"):
        line = printable(line)
        if display_width(line) <= width:
            lines.append(line)
            continue
        indent = line[: len(line) - len(line.lstrip(" "))]
        first, *rest = wrap(line, width - len(indent)) or [""]
        lines.append(indent + first)
        lines.extend(_wrap_indented(" ".join(rest), width, indent + "  "))
    return "\n".join(lines)


def _wrap_indented(text: str, width: int, indent: str) -> list[str]:
    """``text`` wrapped to ``width`` columns, each line starting with ``indent``."""
    return [indent + line for line in wrap(text, width - len(indent))]


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
