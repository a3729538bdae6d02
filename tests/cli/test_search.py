"""``hybridsearch search``: the ranked list, JSON with the plan, bad option values, and
``--filter`` (hits, the plan's filter line, and one-line errors)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from hybridsearch.cli.main import main
from tests.cli.support import (
    TAGGED,
    assert_failed,
    assert_one_line_error,
    hit_ids,
    run_cli,
    run_here,
    search_json,
)


def test_search_text_output(built_index, tmp_path):
    index, _ = built_index
    result = run_cli(
        "search", "--index", str(index), "which animal makes honey", "-k", "3", cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    first = result.stdout.splitlines()[0]
    assert first.startswith(" 1. bee")
    assert "bm25 #" in first and "dense #" in first
    assert "honey" in result.stdout
    assert "\033[" not in result.stdout  # NO_COLOR, and not a terminal anyway


def test_search_explain_prints_plan_and_timings(built_index, capsys):
    index, _ = built_index
    result = run_here(capsys, "search", "--index", str(index), "honey", "--explain")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "query: 'honey'"
    assert any(line.startswith("time (ms): ") for line in lines)
    assert any(line.startswith(" 1. bee") for line in lines)


def test_search_json_and_explain(built_index, capsys):
    index, _ = built_index
    result = run_here(
        capsys,
        "search",
        "--index",
        str(index),
        "nocturnal birds",
        "--json",
        "--explain",
        "--mode",
        "dense",
        "--unit",
        "passages",
        "-k",
        "2",
    )
    assert result.returncode == 0, result.stderr
    payload = json.loads(result.stdout)
    assert payload["hits"][0]["doc_id"] == "owl"
    assert len(payload["hits"]) == 2
    assert payload["plan"]["legs"] == ["dense"]
    assert payload["plan"]["unit"] == "passages"
    assert payload["hits"][0]["bm25_rank"] is None
    assert "total" in payload["timings_ms"]


def test_search_json_without_explain_has_only_hits(built_index, capsys):
    index, _ = built_index
    result = run_here(capsys, "search", "--index", str(index), "sharks", "--json", "-k", "1")
    assert result.returncode == 0, result.stderr
    payload = json.loads(result.stdout)
    assert set(payload) == {"query", "hits"}
    assert payload["hits"][0]["doc_id"] == "shark"


def test_bad_option_values(built_index, capsys):
    index, _ = built_index
    result = run_here(capsys, "search", "--index", str(index), "   ")
    assert_one_line_error(result, "query is empty")
    result = run_here(capsys, "search", "--index", str(index), "cats", "-k", "0")
    assert_one_line_error(result, "k must be a positive integer")


def test_model_moved_or_wrong(built_index, tmp_path):
    index, _ = built_index
    result = run_cli(
        "search", "--index", str(index), "cats", "--model", str(tmp_path / "nope"), cwd=tmp_path
    )
    assert_one_line_error(result)


# -- --filter ------------------------------------------------------------------------------


def _search(capsys, index, *arguments: str) -> tuple[int, str, str]:
    capsys.readouterr()
    status = main(["search", "--index", str(index), *arguments])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def test_filter_keeps_the_unfiltered_order_of_the_passing_documents(tagged_index, capsys):
    metadata = {doc_id: fields for doc_id, _, fields in TAGGED}
    cases = {
        '{"year": {"gte": 2020}}': lambda m: m.get("year", 0) >= 2020,
        '{"lang": "en", "reviewed": true}': lambda m: m["lang"] == "en" and m["reviewed"],
        '{"tags": "birds"}': lambda m: "birds" in m.get("tags", []),
        '{"or": [{"lang": {"in": ["de", "fr"]}}, {"not": {"year": {"exists": true}}}]}': (
            lambda m: m["lang"] in ("de", "fr") or "year" not in m
        ),
    }
    for mode in ("bm25", "dense", "hybrid"):
        unfiltered = search_json(capsys, tagged_index, "hunt fish", "--mode", mode)["hits"]
        for spec, passes in cases.items():
            payload = search_json(
                capsys, tagged_index, "hunt fish", "--mode", mode, "--filter", spec
            )
            expected = [hit for hit in unfiltered if passes(metadata[hit["doc_id"]])]
            assert expected, spec
            # Scores are not changed by a filter (BM25 keeps the whole corpus's statistics).
            if mode != "hybrid":  # fused scores depend on the ranks, which a filter moves up
                assert [(h["doc_id"], h["score"]) for h in payload["hits"]] == [
                    (h["doc_id"], h["score"]) for h in expected
                ], (mode, spec)
            assert hit_ids(payload) == [hit["doc_id"] for hit in expected], (mode, spec)


def test_explain_shows_the_filter_and_how_many_passages_pass(tagged_index, capsys):
    spec = '{"year": {"gte": 2020}, "lang": "en"}'
    status, out, err = _search(capsys, tagged_index, "fish", "--filter", spec, "--explain")
    assert status == 0, err
    assert 'filter: year >= 2020 AND lang = "en" (2 passages pass)' in out.splitlines()
    payload = search_json(capsys, tagged_index, "fish", "--filter", spec, "--explain")
    assert payload["plan"]["filter_passages"] == 2
    assert sorted(hit_ids(payload)) == ["otter", "trout"]


def test_filter_nothing_passes(tagged_index, capsys):
    status, out, err = _search(capsys, tagged_index, "fish", "--filter", '{"lang": "es"}')
    assert status == 0, err
    assert out.startswith("no results")


def test_bad_filters_are_one_line(tagged_index, capsys):
    for spec, fragments in {
        '{"year": {"gte": 2020}': ("--filter is not valid JSON", "character 23"),
        "year >= 2020": ("--filter is not valid JSON",),
        '["year"]': ("filter: expected an object",),
        '{"year": {"after": 2020}}': ("filter.year", "unknown operator 'after'"),
        '{"year": {"gte": "2020"}}': ("filter.year.gte", "expected a number"),
        '{"lang": {"gte": 3}}': ("'lang' is a string field",),
        '{"reviewed": "yes"}': ("'reviewed' is a bool field",),
    }.items():
        status, _, err = _search(capsys, tagged_index, "fish", "--filter", spec)
        assert_failed(status, err, *fragments)


# -- the terminal: width, control characters, colour (issue 14 item 10, issue 15) -----------

ESCAPES = "\x1b]0;pwned\x07\x1b[2J\x1b]52;c;ZXZpbA==\x07\x9b31m\u202e"
HOSTILE_DOCS = [
    (
        f"evil{ESCAPES}id",
        f"Bees {ESCAPES} make honey from nectar. " + "Hives hold many thousands of bees. " * 12,
        {},
    ),
    ("plain", "Wasps make paper nests; some of them eat honey too.", {}),
]


@pytest.fixture(scope="module")
def hostile_index(tmp_path_factory) -> Path:
    """An index whose documents hold terminal escape sequences in ids, titles and texts."""
    folder = tmp_path_factory.mktemp("hostile")
    corpus = folder / "hostile.jsonl"
    with open(corpus, "w", encoding="utf-8") as lines:
        for doc_id, text, _ in HOSTILE_DOCS:
            record = {"id": doc_id, "title": f"Title {ESCAPES} " + "long " * 30, "text": text}
            lines.write(json.dumps(record) + "\n")
    assert main(["build", str(corpus), "--index", str(folder / "index"), "--no-progress"]) == 0
    return folder / "index"


def _no_control_characters(output: str) -> None:
    for character in output:
        code = ord(character)
        assert code >= 0x20 or character == "\n", repr(output)
        assert not 0x7F <= code <= 0x9F and character != "\u202e", repr(output)


def test_search_output_fits_80_columns_and_shows_escapes_harmlessly(
    hostile_index, capsys, monkeypatch
):
    monkeypatch.setenv("COLUMNS", "80")
    capsys.readouterr()
    assert main(["search", "--index", str(hostile_index), "honey bees", "--explain"]) == 0
    output = capsys.readouterr().out
    _no_control_characters(output)  # not a terminal: no colour either
    assert all(len(line) <= 80 for line in output.splitlines()), output
    hit_lines = output[output.index(" 1. ") :].splitlines()
    assert "evil␛]0;pwned␇" in output  # the id, with its escapes made visible
    assert any(line.startswith("    … ") or line.startswith("    Bees") for line in hit_lines)


def test_search_json_keeps_texts_unchanged(hostile_index, capsys):
    payload = search_json(capsys, hostile_index, "honey bees")
    by_id = {hit["doc_id"]: hit for hit in payload["hits"]}
    doc_id, text, _ = HOSTILE_DOCS[0]
    assert by_id[doc_id]["text"] == text
    assert ESCAPES in by_id[doc_id]["title"]
    assert by_id[doc_id]["snippet"].startswith(f"Bees {ESCAPES} make honey")


def test_colour_only_on_a_terminal_and_lines_fit_it(hostile_index, monkeypatch):
    # stdout is a real pseudo-terminal 60 columns wide: colour on, every line (codes aside)
    # fits the width the terminal reports.
    import fcntl
    import os
    import re
    import struct
    import sys
    import termios

    leader, follower = os.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 60, 0, 0))
    for name in ("NO_COLOR", "COLUMNS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TERM", "xterm-256color")
    chunks = []
    with open(follower, "w", encoding="utf-8", closefd=True) as terminal:
        monkeypatch.setattr(sys, "stdout", terminal)
        assert main(["search", "--index", str(hostile_index), "honey bees"]) == 0
        terminal.flush()
        os.set_blocking(leader, False)
        while True:
            try:
                chunk = os.read(leader, 65536)
            except BlockingIOError:
                break
            if not chunk:
                break
            chunks.append(chunk)
    os.close(leader)
    output = b"".join(chunks).decode("utf-8").replace("\r\n", "\n")
    assert "\x1b[1m" in output and "\x1b[1;33m" in output  # bold headings, marked terms
    plain = re.sub(r"\x1b\[(?:1|1;33|0)m", "", output)
    _no_control_characters(plain)
    lines = plain.splitlines()
    assert all(len(line) <= 60 for line in lines) and max(map(len, lines)) > 50, lines
def test_an_undecodable_byte_in_the_query_is_one_line(tagged_index, capsys):
    """Issue 14 item 1: Python reads the byte as a lone surrogate (surrogateescape)."""
    query = os.fsdecode(b"exceptions \xff")
    for mode in ("hybrid", "bm25", "dense"):
        status, _, err = _search(capsys, tagged_index, query, "--mode", mode)
        assert_failed(status, err, "query holds a lone surrogate (U+DCFF)")
