"""``hybridsearch search``: the ranked list, JSON with the plan, bad option values, and
``--filter`` (hits, the plan's filter line, and one-line errors)."""

from __future__ import annotations

import json
import os

from hybridsearch.cli.main import main
from tests.cli.support import (
    TAGGED,
    assert_failed,
    assert_one_line_error,
    hit_ids,
    run_cli,
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


def test_search_explain_prints_plan_and_timings(built_index, tmp_path):
    index, _ = built_index
    result = run_cli("search", "--index", str(index), "honey", "--explain", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "query: 'honey'"
    assert any(line.startswith("time (ms): ") for line in lines)
    assert any(line.startswith(" 1. bee") for line in lines)


def test_search_json_and_explain(built_index, tmp_path):
    index, _ = built_index
    result = run_cli(
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
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    payload = json.loads(result.stdout)
    assert payload["hits"][0]["doc_id"] == "owl"
    assert len(payload["hits"]) == 2
    assert payload["plan"]["legs"] == ["dense"]
    assert payload["plan"]["unit"] == "passages"
    assert payload["hits"][0]["bm25_rank"] is None
    assert "total" in payload["timings_ms"]


def test_search_json_without_explain_has_only_hits(built_index, tmp_path):
    index, _ = built_index
    result = run_cli("search", "--index", str(index), "sharks", "--json", "-k", "1", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    payload = json.loads(result.stdout)
    assert set(payload) == {"query", "hits"}
    assert payload["hits"][0]["doc_id"] == "shark"


def test_bad_option_values(built_index, tmp_path):
    index, _ = built_index
    result = run_cli("search", "--index", str(index), "   ", cwd=tmp_path)
    assert_one_line_error(result, "query is empty")
    result = run_cli("search", "--index", str(index), "cats", "-k", "0", cwd=tmp_path)
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


def test_an_undecodable_byte_in_the_query_is_one_line(tagged_index, capsys):
    """Issue 14 item 1: Python reads the byte as a lone surrogate (surrogateescape)."""
    query = os.fsdecode(b"exceptions \xff")
    for mode in ("hybrid", "bm25", "dense"):
        status, _, err = _search(capsys, tagged_index, query, "--mode", mode)
        assert_failed(status, err, "query holds a lone surrogate (U+DCFF)")
