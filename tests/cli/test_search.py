"""``hybridsearch search``: the ranked list, JSON with the plan, and bad option values."""

from __future__ import annotations

import json

from tests.cli.support import assert_one_line_error, run_cli


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
