"""Pieces shared by the HTML and the terminal renderers: which words of a passage match the
query, wrapping those words in markers, and how a number (or a leg's missing rank) is shown.

Query terms are matched by running each word of the passage through the index's analyzer, so
"exceptions" in a passage matches the query term "except" (the Snowball stem of "exception"
and "exceptions") exactly when BM25 would match it.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Iterable, Sequence

__all__ = ["WordAnalyzer", "highlight_spans", "mark_spans", "number_text"]

#: What highlighting needs of an analyzer: text in, analysed terms out. The BM25
#: :class:`~hybridsearch.sparse.analysis.Analyzer` is one (it is callable).
WordAnalyzer = Callable[[str], Iterable[str]]

_WORD = re.compile(r"\w+")


def highlight_spans(
    text: str, query_terms: Iterable[str], analyzer: WordAnalyzer | None
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
    """``text`` with each span wrapped in ``before``/``after``, the rest passed to ``escape``.

    The defaults make HTML; a terminal passes ``escape=str`` and ANSI codes.
    """
    pieces = []
    position = 0
    for start, end in spans:
        pieces.append(escape(text[position:start]))
        pieces.append(before + escape(text[start:end]) + after)
        position = end
    pieces.append(escape(text[position:]))
    return "".join(pieces)


def number_text(value: float | int | None, digits: int = 4, *, missing: str = "-") -> str:
    """A score with ``digits`` decimals, a rank as it is, ``missing`` for a leg that missed."""
    if value is None:
        return missing
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)
