"""Tests for hybridsearch.display.terminal: the ranked list the CLI prints, colors, timings
and the per-hit breakdown."""

from __future__ import annotations

import io

import pytest

from hybridsearch.display.terminal import format_breakdown, format_hits, format_timings, use_color
from hybridsearch.search.hits import Hits
from hybridsearch.sparse.analysis import Analyzer
from tests.display.support import StubPlan, make_hit

YELLOW, BOLD, RESET = "\033[1;33m", "\033[1m", "\033[0m"


def _hits(**plan_fields) -> Hits:
    hits = [
        make_hit(
            "bee",
            text="Bees  make\nhoney; they\tcollect nectar for honey.",
            title="Bee",
            bm25_rank=1,
            dense_rank=2,
        ),
        make_hit("owl", rank=2, text="Owls hunt at night.", title="owl", dense_rank=1),
    ]
    plan = StubPlan("honey makers", ("honey",), **plan_fields)
    return Hits(hits, plan=plan, analyzer=Analyzer())


def test_plain_list_shows_rank_score_legs_title_and_passage():
    assert format_hits(_hits(), color=False).splitlines() == [
        " 1. bee  score 1.0000  (bm25 #1  dense #2)  Bee",
        "    Bees make honey; they collect nectar for honey.",
        "",
        # A title equal to the document id is not repeated; a leg that missed shows "-".
        " 2. owl  score 0.5000  (bm25 #-  dense #1)",
        "    Owls hunt at night.",
    ]


def test_color_marks_query_terms_and_bolds_headings():
    lines = format_hits(_hits(), color=True).splitlines()
    assert lines[0] == f"{BOLD} 1. bee  score 1.0000  (bm25 #1  dense #2)  Bee{RESET}"
    assert lines[1] == (
        f"    Bees make {YELLOW}honey{RESET}; they collect nectar for {YELLOW}honey{RESET}."
    )
    assert YELLOW not in lines[4]


def test_long_passages_show_a_snippet_cut_at_a_word_boundary():
    hits = Hits([make_hit("d", text="word " * 100)])
    text = format_hits(hits, color=False, max_chars=12).splitlines()[1]
    assert text == "    word word …"


def test_the_snippet_is_the_window_around_the_query_terms():
    text = "Bees live in hives. " * 8 + "Honey is made from nectar. " + "Wax is made too. " * 8
    hits = Hits(
        [make_hit("bee", text=text)], plan=StubPlan("honey", ("honey",)), analyzer=Analyzer()
    )
    lines = format_hits(hits, color=False, max_chars=60, width=80).splitlines()
    # The matching sentence, then the neighbours that fit (those after it first).
    assert lines[1:] == ["    … Honey is made from nectar. Wax is made too. Wax is made too. …"]


LONG_TITLE = "A title far too long for one line of an eighty-column terminal, " * 2


def _wide_hits() -> Hits:
    text = (
        "Sequences: " + "=" * 120 + " lists and tuples 東京都の人口は約千四百万人です "
        "https://example.org/" + "x" * 100 + " end of passage."
    )
    hit = make_hit("docs/" + "long-identifier-" * 6, text=text, title=LONG_TITLE, bm25_rank=1)
    return Hits([hit], plan=StubPlan("tuple", ("tupl",)), analyzer=Analyzer())


@pytest.mark.parametrize("width", [80, 40])
def test_no_line_is_wider_than_the_terminal(width):
    from hybridsearch.display.width import display_width

    for color in (False, True):
        output = format_hits(_wide_hits(), color=color, width=width, max_chars=1000)
        plain = output.replace(YELLOW, "").replace(BOLD, "").replace(RESET, "")
        lines = plain.splitlines()
        assert all(display_width(line) <= width for line in lines), lines
        # The heading is cut with an ellipsis; the passage wrapped, not lost.
        assert lines[0].endswith("…") and display_width(lines[0]) >= width - 1
        assert "".join(line.strip() for line in lines[1:]).count("=") == 120


def test_the_width_defaults_to_the_terminal_size(monkeypatch):
    monkeypatch.setenv("COLUMNS", "50")
    lines = format_hits(_wide_hits(), color=False).splitlines()
    assert max(len(line) for line in lines) == 50


HOSTILE_TERMINAL = {
    "window title": "\x1b]0;pwned\x07",
    "clear screen": "\x1b[2J\x1b[H",
    "clipboard (OSC 52)": "\x1b]52;c;ZXZpbA==\x07",
    "one-byte CSI (C1)": "\x9b31m",
    "right-to-left override": "\u202egnp.exe",
    "carriage return": "safe\rEVIL",
    "backspace and DEL": "ab\x08\x7f",
}


@pytest.mark.parametrize("sequence", HOSTILE_TERMINAL.values(), ids=HOSTILE_TERMINAL.keys())
def test_control_characters_in_ids_titles_and_text_are_replaced(sequence):
    hit = make_hit(f"id{sequence}", text=f"text {sequence} end", title=f"title{sequence}")
    for color in (False, True):
        output = format_hits(Hits([hit]), color=color)
        shown = output.replace(BOLD, "").replace(RESET, "")
        assert not any(
            (ord(character) < 0x20 and character != "\n") or 0x7F <= ord(character) <= 0x9F
            for character in shown
        ), repr(shown)
        assert "\u202e" not in shown
        assert len(shown.splitlines()) == 2  # nothing in the hit started a new line


def test_printable_shows_what_was_replaced():
    from hybridsearch.display.width import printable

    assert printable("a\x1b[2Jb\tc\x07") == "a␛[2Jb␉c␇"
    assert printable("\x9b31m \u202eabc \x7f") == "\ufffd31m \ufffdabc ␡"
    assert printable("plain, ünïcode 東京 …") == "plain, ünïcode 東京 …"


def test_wrap_and_fit_count_columns_not_characters():
    from hybridsearch.display.width import display_width, fit_width, wrap

    assert display_width("東京") == 4 and display_width("e\u0301") == 1
    assert fit_width("東京東京", 5) == "東京…"
    assert fit_width("short", 5) == "short"
    assert wrap("aa bb  cc\ndd", 5) == ["aa bb", "cc dd"]
    assert wrap("x" * 12, 5) == ["xxxxx", "xxxxx", "xx"]
    assert wrap("東京東京東", 4) == ["東京", "東京", "東"]


def test_no_results_says_why():
    assert format_hits(Hits(), color=False) == "no results"
    assert format_hits([], color=True) == "no results"
    hits = Hits(plan=StubPlan("zzz", (), notes=("no query term is known to BM25", "other")))
    assert format_hits(hits, color=False, width=80) == (
        "no results (no query term is known to BM25; other)"
    )


def test_a_plain_list_of_hits_is_enough():
    (heading, text) = format_hits([make_hit("d", text="some text")], color=True).splitlines()
    assert heading.startswith(f"{BOLD} 1. d") and text == "    some text"


class _Stream(io.StringIO):
    def __init__(self, tty: bool) -> None:
        super().__init__()
        self._tty = tty

    def isatty(self) -> bool:
        return self._tty


@pytest.mark.parametrize(
    ("tty", "environ", "expected"),
    [
        (True, {}, True),
        (False, {}, False),
        (True, {"NO_COLOR": ""}, False),  # no-color.org: present at all means no color
        (True, {"TERM": "dumb"}, False),
        (True, {"TERM": "xterm-256color"}, True),
    ],
)
def test_use_color(monkeypatch, tty, environ, expected):
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.delenv("TERM", raising=False)
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    assert use_color(_Stream(tty)) is expected


def test_format_timings_is_one_line_in_order():
    timings = {"encode": 5.0123, "bm25": 0.2, "dense": 1.0, "total": 6.25}
    assert format_timings(timings) == "time (ms): encode 5.01, bm25 0.20, dense 1.00, total 6.25"
    assert format_timings({}) == "time (ms): "


def test_format_breakdown_one_line_per_hit():
    hits = [
        make_hit("bee", bm25_rank=1, bm25_score=7.5, dense_rank=12, dense_score=0.61234),
        make_hit("owl", rank=2, dense_rank=1, dense_score=0.7),
    ]
    assert format_breakdown(hits) == [
        "  1. bee  score 1.0000  bm25 rank 1 score 7.5000  dense rank 12 score 0.6123",
        "  2. owl  score 0.5000  bm25 rank - score -  dense rank 1 score 0.7000",
    ]
    assert format_breakdown([]) == []


def test_printable_lines_keeps_line_breaks_and_wraps_long_lines():
    from hybridsearch.display.terminal import printable_lines

    text = "query: 'bees\x1b[2J'\n  BM25 terms: " + "term " * 30 + "\nshort"
    lines = printable_lines(text, width=40).splitlines()
    assert lines[0] == "query: 'bees␛[2J'"
    assert lines[1].startswith("  BM25 terms: term") and lines[-1] == "short"
    assert all(line.startswith("    term") for line in lines[2:-1])
    assert all(len(line) <= 40 for line in lines)
    assert " ".join(lines[1:-1]).split().count("term") == 30
