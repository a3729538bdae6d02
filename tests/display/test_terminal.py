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


def test_long_passages_are_cut():
    hits = Hits([make_hit("d", text="word " * 100)])
    text = format_hits(hits, color=False, max_chars=12).splitlines()[1]
    assert text == "    word word wo ..."


def test_no_results_says_why():
    assert format_hits(Hits(), color=False) == "no results"
    assert format_hits([], color=True) == "no results"
    hits = Hits(plan=StubPlan("zzz", (), notes=("no query term is known to BM25", "other")))
    assert format_hits(hits, color=False) == "no results (no query term is known to BM25; other)"


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
