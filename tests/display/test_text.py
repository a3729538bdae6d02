"""Tests for hybridsearch.display.text: which words match the query, marking, numbers."""

from __future__ import annotations

from hybridsearch.display.text import highlight_spans, mark_spans, number_text
from hybridsearch.sparse.analysis import Analyzer


def test_analyzer_stems_exceptions_to_the_query_term():
    # The premise of the highlighting tests: Snowball English stems all these to "except".
    assert Analyzer()("exceptions Exception except") == ["except", "except", "except"]


def test_highlight_spans_follow_the_analyzer():
    text = "Exceptions, exception-handlers; accept EXCEPT"
    spans = highlight_spans(text, ["except"], Analyzer())
    assert [text[start:end] for start, end in spans] == ["Exceptions", "exception", "EXCEPT"]


def test_highlight_without_analyzer_matches_lowercase_words_only():
    text = "Exceptions and EXCEPT and except"
    spans = highlight_spans(text, ("except",), None)
    assert [text[start:end] for start, end in spans] == ["EXCEPT", "except"]
    assert highlight_spans(text, (), Analyzer()) == []


def test_any_callable_is_an_analyzer():
    spans = highlight_spans("Foo bar BAZ", {"baz"}, lambda word: [word.lower()])
    assert spans == [(8, 11)]


def test_marked_text_is_still_escaped():
    assert mark_spans("R&D <x>", [(0, 3)]) == "<mark>R&amp;D</mark> &lt;x&gt;"
    assert mark_spans("a <b> c", []) == "a &lt;b&gt; c"


def test_mark_spans_for_a_terminal():
    text = "catch <all> errors"
    marked = mark_spans(text, [(0, 5), (12, 18)], escape=str, before="[", after="]")
    assert marked == "[catch] <all> [errors]"


def test_number_text():
    assert number_text(None) == "-"
    assert number_text(None, missing="–") == "–"
    assert number_text(3) == "3"
    assert number_text(0.5) == "0.5000"
    assert number_text(7.256, 2) == "7.26"
