"""Tests for hybridsearch.display.snippets: sentences and the best-matching window, on
passages written by hand so the right window is known in advance."""

from __future__ import annotations

import re

import pytest

from hybridsearch.display.snippets import best_window, sentence_spans
from hybridsearch.sparse.analysis import Analyzer

ANALYZER = Analyzer()

PASSAGE = (
    "Sequences come in several kinds. Lists are mutable, e.g. you can append to them. "
    "Tuples are immutable sequences, typically used to store collections of heterogeneous "
    "data. Ranges represent immutable sequences of numbers. Strings hold text."
)


def _sentences(text: str) -> list[str]:
    return [text[start:end] for start, end in sentence_spans(text)]


def test_sentences_end_at_stops_not_at_abbreviations():
    assert _sentences(PASSAGE) == [
        "Sequences come in several kinds.",
        "Lists are mutable, e.g. you can append to them.",
        "Tuples are immutable sequences, typically used to store collections of "
        "heterogeneous data.",
        "Ranges represent immutable sequences of numbers.",
        "Strings hold text.",
    ]


def test_sentences_break_at_blank_lines_and_rule_lines_not_at_wrapped_lines():
    text = (
        "Exceptions are a means of breaking out\nof the normal flow\n\n"
        "Note:\n\n  Handlers\n  =========\n\nThe try statement\n-[ Footnotes ]-\n[1] see above"
    )
    assert _sentences(text) == [
        "Exceptions are a means of breaking out\nof the normal flow",
        "Note:",
        "Handlers",
        "The try statement",
        "[1] see above",
    ]


def test_a_passage_that_fits_is_the_whole_passage_with_whitespace_collapsed():
    snippet = best_window("Short  passage.\n  Second line.", ("zebra",), ANALYZER)
    assert snippet == (0, 30, "Short passage. Second line.")


def test_the_window_is_the_sentence_with_most_distinct_query_terms_and_its_neighbours():
    terms = ANALYZER("tuple heterogeneous")
    snippet = best_window(PASSAGE, terms, ANALYZER, max_chars=150)
    # The tuple sentence holds both terms; the next sentence fits after it, the one before
    # does not fit as well, so the window is cut on both sides.
    assert snippet.text == (
        "… Tuples are immutable sequences, typically used to store collections of "
        "heterogeneous data. Ranges represent immutable sequences of numbers. …"
    )
    assert PASSAGE[snippet.start : snippet.end].startswith("Tuples are")


def test_stemmed_matches_count_and_more_distinct_terms_beat_more_repeats():
    text = (
        "Lists lists lists lists everywhere here. "
        "A tuple is not a list, though it looks like one. "
        "Unrelated closing words of the passage."
    )
    snippet = best_window(text, ANALYZER("lists and tuples"), ANALYZER, max_chars=60)
    assert snippet.text == "… A tuple is not a list, though it looks like one. …"


def test_without_a_match_the_window_is_the_beginning():
    # A hit the dense leg found alone may share no word with the query.
    snippet = best_window(PASSAGE, ("zebra",), ANALYZER, max_chars=90)
    assert snippet.start == 0
    assert snippet.text == (
        "Sequences come in several kinds. Lists are mutable, e.g. you can append to them. …"
    )


def test_a_long_sentence_is_cut_at_word_boundaries_around_its_matches():
    words = [f"word{number}" for number in range(60)]
    words[40] = "exceptions"
    text = " ".join(words) + "."
    snippet = best_window(text, ("except",), ANALYZER, max_chars=60)
    body = snippet.text.removeprefix("… ").removesuffix(" …")
    assert snippet.text.startswith("… ") and snippet.text.endswith(" …")
    assert "exceptions" in body and len(body) <= 60
    # Whole words only: every word of the window is a word of the passage.
    assert set(body.split()) <= set(words)
    assert text[snippet.start - 1] == " " and text[snippet.end] == " "


def test_without_an_analyzer_words_match_in_lowercase():
    snippet = best_window(PASSAGE, ("ranges",), None, max_chars=60)
    assert snippet.text == "… Ranges represent immutable sequences of numbers. …"


def test_text_without_words_is_returned_as_it_is():
    assert best_window("=====  ---", ("x",), ANALYZER).text == "===== ---"
    assert best_window("", ("x",), ANALYZER) == (0, 0, "")
    with pytest.raises(ValueError, match="max_chars"):
        best_window("text", (), ANALYZER, max_chars=0)


def test_rule_lines_between_the_window_sentences_are_left_out():
    text = (
        "Intro words that do not match anything at all here.\n\n"
        "The else clause\n----------------\n\nThe else clause runs last.\n"
        "=====\n\nUnrelated closing words that do not match anything at all."
    )
    snippet = best_window(text, ANALYZER("else"), ANALYZER, max_chars=70)
    assert snippet.text == "… The else clause The else clause runs last. …"


def test_matches_through_word_terms_equal_the_word_by_word_ones():
    # The fast path (an analyzer's WordTerms: all words at once, then str.find of the few
    # matching ones) against the plain one (a Python step per word), on texts where words
    # hide inside other words ("cell" in "cells", "_cell", "cell2") and at the edges.
    import random

    from hybridsearch.display.snippets import _matches
    from hybridsearch.sparse.analysis import Analyzer

    rng = random.Random(5)
    pieces = ["cell", "cells", "Cell", "_cell", "cell2", "tea", "teas", "über", "Über", "x"]
    glue = [" ", ", ", ".", "-", "\n", "", "'", "é"]
    analyzer = Analyzer()
    for _ in range(300):
        text = "".join(rng.choice(pieces) + rng.choice(glue) for _ in range(rng.randint(1, 30)))
        terms = frozenset(rng.sample(["cell", "tea", "über", "cell2", "absent"], 3))
        by_word = _matches(text, terms, analyzer.analyze_word)
        assert _matches(text, terms, analyzer.word_terms) == by_word
        expected = sorted(
            (match.start(), term)
            for match in re.finditer(r"\w+", text)
            for term in [next((t for t in Analyzer()(match.group()) if t in terms), None)]
            if term is not None
        )
        assert by_word == expected
