"""Snippets: the best-matching window of a passage, as search engines' highlighters show it.

:func:`best_window` cuts a passage into sentences (:func:`sentence_spans`), scores each by the
query's BM25 terms it holds (matched through the index's analyzer, as highlighting is), and
returns the best sentence with as many neighbours as fit in ``max_chars``; a sentence longer
than that is cut, at word boundaries, around its densest run of matches.

A hit the dense leg found alone is windowed the same way, by term overlap, not by encoding
its sentences: the ten hits of a demo query hold about 100 sentences, and encoding them took
about 14 times as long as the search itself (``benchmarks/snippet_cost.py``). Where no query
term occurs in the passage, the window is its beginning.

Pure functions over strings: the HTML, terminal and JSON renderers all call
:func:`best_window`, so they show the same window.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable
from typing import NamedTuple

from hybridsearch.display.text import WordAnalyzer

__all__ = ["DEFAULT_SNIPPET_CHARS", "Snippet", "best_window", "sentence_spans"]

#: How long a snippet is at most (characters of the passage, before whitespace is collapsed).
DEFAULT_SNIPPET_CHARS = 240

_WORD = re.compile(r"\w+")
_SPACE = re.compile(r"\s+")
# A sentence ends after ., ! or ? (and closing quotes or brackets) followed by whitespace.
_SENTENCE_END = re.compile(r"[.!?]+[\"'”’)\]]*(?=\s)")
# A paragraph break, and a line of only punctuation ("=====", "-[ Footnotes ]-" rules).
_PARAGRAPH = re.compile(r"\n[ \t]*\n")
_RULE_LINE = re.compile(r"^[ \t]*[^\w\s]+(?:[ \t]*\w+[ \t]*[^\w\s]+)?[ \t]*$", re.MULTILINE)
# Abbreviations whose full stop does not end a sentence.
_ABBREVIATIONS = frozenset({"e.g", "i.e", "etc", "vs", "cf", "al", "fig", "dr", "mr", "mrs", "no"})


class Snippet(NamedTuple):
    """A window of a passage.

    Attributes:
        start: Where the window starts in the passage (characters).
        end: Where it ends (exclusive).
        text: The sentences of ``passage[start:end]`` (rule lines such as "=====" left
            out) with runs of whitespace collapsed to one space, and ``…`` where the window
            leaves words of the passage out (before, after or both).
    """

    start: int
    end: int
    text: str


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """The character spans of the sentences in ``text`` (surrounding whitespace left out).

    A sentence ends at ``.``, ``!`` or ``?`` followed by whitespace (not after "e.g." and a
    few other abbreviations), at a blank line, and around a line of only punctuation (the
    "=====" underlines and "-[ Footnotes ]-" markers of reference text), which is left out
    with every span that holds no word character.
    """
    cuts = {0, len(text)}
    for match in _SENTENCE_END.finditer(text):
        before = text[: match.start()].rsplit(None, 1)
        if before and before[-1].lower().lstrip("(\"'") in _ABBREVIATIONS:
            continue
        cuts.add(match.end())
    cuts.update(match.start() for match in _PARAGRAPH.finditer(text))
    rules = set()
    for match in _RULE_LINE.finditer(text):
        cuts.update((match.start(), match.end()))
        rules.add(text[match.start() : match.end()].strip())
    ordered = sorted(cuts)
    spans = []
    for start, end in itertools.pairwise(ordered):
        piece = text[start:end]
        stripped_start = start + len(piece) - len(piece.lstrip())
        stripped_end = end - (len(piece) - len(piece.rstrip()))
        if text[stripped_start:stripped_end] in rules:
            continue
        if stripped_end > stripped_start and _WORD.search(text, stripped_start, stripped_end):
            spans.append((stripped_start, stripped_end))
    return spans


def _matches(
    text: str, query_terms: frozenset[str], analyzer: WordAnalyzer | None
) -> list[tuple[int, str]]:
    """(position, term) of every word of ``text`` that the analyzer maps to a query term."""
    if not query_terms:  # a dense-only search: nothing to match
        return []
    words = set(_WORD.findall(text))
    match = getattr(analyzer, "match", None)  # an analyzer's WordTerms: all words at once
    if match is not None:
        term_of = match(words, query_terms)
    else:  # each distinct word analysed once (a passage repeats its words)
        term_of = {}
        for word in words:
            for term in analyzer(word) if analyzer is not None else (word.lower(),):
                if term in query_terms:
                    term_of[word] = term
                    break
    found = [
        (position, term)
        for word, term in term_of.items()
        for position in _whole_word_positions(text, word)
    ]
    found.sort()
    return found


def _whole_word_positions(text: str, word: str) -> list[int]:
    r"""Where ``word`` occurs in ``text`` as a whole ``\w+`` run (no word character either
    side): ``str.find`` from one occurrence to the next, which for the few matching words of
    a passage costs less than a Python step per word of it."""
    positions = []
    end = len(word)
    start = text.find(word)
    while start != -1:
        after = start + end
        # \w in a str pattern is exactly: alphanumeric (str.isalnum) or the underscore.
        if (start == 0 or not _is_word_char(text[start - 1])) and (
            after == len(text) or not _is_word_char(text[after])
        ):
            positions.append(start)
        start = text.find(word, after)
    return positions


def _is_word_char(char: str) -> bool:
    return char.isalnum() or char == "_"


def _score(matches: list[tuple[int, str]], start: int, end: int) -> tuple[int, int]:
    """Distinct query terms in ``[start, end)``, then how many matches: more is better."""
    inside = [term for position, term in matches if start <= position < end]
    return len(set(inside)), len(inside)


def _grow(
    spans: list[tuple[int, int]], best: int, matches: list[tuple[int, str]], max_chars: int
) -> tuple[int, int]:
    """The best sentence plus neighbours, richer in matches first, while they fit."""
    first = last = best
    while True:
        options = []
        if last + 1 < len(spans) and spans[last + 1][1] - spans[first][0] <= max_chars:
            options.append((_score(matches, *spans[last + 1]), 1, "after"))
        if first > 0 and spans[last][1] - spans[first - 1][0] <= max_chars:
            options.append((_score(matches, *spans[first - 1]), 0, "before"))
        if not options:
            return spans[first][0], spans[last][1]
        if max(options)[2] == "after":
            last += 1
        else:
            first -= 1


def _cut_long(
    text: str, start: int, end: int, matches: list[tuple[int, str]], max_chars: int
) -> tuple[int, int]:
    """A ``max_chars`` window of ``[start, end)``, around its densest run of matches, cut at
    word boundaries."""
    positions = [position for position, _ in matches if start <= position < end]
    lead = max_chars // 5  # some context before the first match of the window
    anchors = [max(start, position - lead) for position in positions] or [start]
    window_start = max(anchors, key=lambda anchor: _score(matches, anchor, anchor + max_chars))
    window_end = min(end, window_start + max_chars)
    if window_start > start and not text[window_start - 1].isspace():  # mid-word: skip it
        space = _SPACE.search(text, window_start, window_end)
        window_start = space.end() if space else window_start
    if window_end < end and not text[window_end].isspace():  # mid-word: end before it
        spaces = [match.start() for match in _SPACE.finditer(text, window_start, window_end)]
        window_end = spaces[-1] if spaces else window_end
    return window_start, window_end


def best_window(
    text: str,
    query_terms: Iterable[str],
    analyzer: WordAnalyzer | None = None,
    max_chars: int = DEFAULT_SNIPPET_CHARS,
) -> Snippet:
    """The window of ``text`` a person should read first for this query.

    Args:
        text: The passage.
        query_terms: The query's analysed BM25 terms (``hits.plan.query_terms``).
        analyzer: The index's analyzer, to match the passage's words to the terms (stemmed);
            None matches lowercase words.
        max_chars: The longest window, in characters of the passage.

    Returns:
        The sentences holding the most distinct query terms (then the most matches, then the
        earliest), with neighbouring sentences while they fit; the beginning of the passage
        where no term occurs. The whole passage when it fits.
    """
    if max_chars < 1:
        raise ValueError(f"max_chars must be at least 1, got {max_chars}")
    spans = sentence_spans(text)
    if not spans:
        return Snippet(0, len(text), " ".join(text.split()))
    if spans[-1][1] - spans[0][0] <= max_chars:
        start, end = spans[0][0], spans[-1][1]
    else:
        matches = _matches(text, frozenset(query_terms), analyzer)
        scores = [_score(matches, *span) for span in spans]
        best = max(range(len(spans)), key=lambda number: (scores[number], -number))
        sentence_start, sentence_end = spans[best]
        if sentence_end - sentence_start > max_chars:
            start, end = _cut_long(text, sentence_start, sentence_end, matches, max_chars)
        else:
            start, end = _grow(spans, best, matches, max_chars)
    # The window's sentences (rule lines between them left out), or the cut inside one.
    inside = [text[first:last] for first, last in spans if start <= first and last <= end]
    body = " ".join(" ".join(inside or [text[start:end]]).split())
    before = "… " if _WORD.search(text, 0, start) else ""
    after = " …" if _WORD.search(text, end) else ""
    return Snippet(start, end, before + body + after)
