"""The hybridsearch command, run as a subprocess: build, search, evaluate, and its errors."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

ANIMALS = {
    "cat": "Cats are small domestic felines that purr, hunt mice and sleep most of the day.",
    "dog": "Dogs are loyal domestic canines that bark, fetch sticks and guard the house.",
    "owl": "Owls are nocturnal birds of prey with silent flight and excellent night vision.",
    "shark": "Sharks are cartilaginous fish with rows of sharp teeth that hunt in the ocean.",
    "bee": "Bees are flying insects that collect nectar and pollen and make honey in hives.",
    "frog": "Frogs are amphibians that lay eggs in ponds; tadpoles grow legs and lose tails.",
}
QUERIES = {
    "q1": ("which animal makes honey", "bee"),
    "q2": ("birds that hunt at night", "owl"),
    "q3": ("tadpoles turning into adults", "frog"),
}


def _run(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "hybridsearch", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "HF_HUB_OFFLINE": "1", "NO_COLOR": "1"},
    )


@pytest.fixture(scope="module")
def beir_folder(tmp_path_factory) -> Path:
    """A tiny dataset in BEIR's layout, qrels with CRLF endings as BEIR ships them."""
    folder = tmp_path_factory.mktemp("tiny-beir")
    with open(folder / "corpus.jsonl", "w") as corpus:
        for doc_id, text in ANIMALS.items():
            corpus.write(json.dumps({"_id": doc_id, "title": doc_id.title(), "text": text}) + "\n")
    with open(folder / "queries.jsonl", "w") as queries:
        for query_id, (text, _) in QUERIES.items():
            queries.write(json.dumps({"_id": query_id, "text": text}) + "\n")
    (folder / "qrels").mkdir()
    lines = ["query-id\tcorpus-id\tscore"] + [
        f"{query_id}\t{doc_id}\t1" for query_id, (_, doc_id) in QUERIES.items()
    ]
    (folder / "qrels" / "test.tsv").write_bytes(("\r\n".join(lines) + "\r\n").encode())
    return folder


@pytest.fixture(scope="module")
def built_index(beir_folder, tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess]:
    index = tmp_path_factory.mktemp("indexes") / "animals"
    result = _run("build", str(beir_folder), "--index", str(index), cwd=beir_folder)
    return index, result


def test_build_prints_progress_and_summary(built_index):
    index, result = built_index
    assert result.returncode == 0, result.stderr
    assert (index / "manifest.json").is_file()
    for stage in ("reading", "chunking", "BM25", "encoding"):
        assert stage in result.stderr
    assert "6 documents -> 6 passages" in result.stderr
    assert "index size on disk" in result.stderr


def test_search_text_output(built_index, tmp_path):
    index, _ = built_index
    result = _run(
        "search", "--index", str(index), "which animal makes honey", "-k", "3", cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    first = result.stdout.splitlines()[0]
    assert first.startswith(" 1. bee")
    assert "bm25 #" in first and "dense #" in first
    assert "honey" in result.stdout


def test_search_json_and_explain(built_index, tmp_path):
    index, _ = built_index
    result = _run(
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


def test_evaluate_matches_ranks_by_hand(built_index, beir_folder, tmp_path, encoder):
    from hybridsearch.index.hybrid_index import HybridIndex

    index, _ = built_index
    result = _run(
        "evaluate", "--index", str(index), "--beir", str(beir_folder), "--json", cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    metrics = json.loads(result.stdout)["metrics"]
    assert set(metrics) == {"bm25", "dense", "hybrid"}
    loaded = HybridIndex.load(index, model=encoder)
    for mode, values in metrics.items():
        # One relevant document per query: nDCG@10 = 1/log2(rank + 1), MRR@10 = 1/rank,
        # with the rank read from a plain search.
        ndcg, mrr, found = [], [], []
        for query, relevant in QUERIES.values():
            ranked = [hit.doc_id for hit in loaded.search(query, 10, mode=mode)]
            rank = ranked.index(relevant) + 1 if relevant in ranked else None
            ndcg.append(1 / math.log2(rank + 1) if rank else 0.0)
            mrr.append(1 / rank if rank else 0.0)
            found.append(1.0 if rank else 0.0)
        assert values["ndcg@10"] == pytest.approx(sum(ndcg) / 3)
        assert values["mrr@10"] == pytest.approx(sum(mrr) / 3)
        assert values["recall@100"] == pytest.approx(sum(found) / 3)
    text = _run(
        "evaluate",
        "--index",
        str(index),
        "--beir",
        str(beir_folder),
        "--modes",
        "hybrid",
        cwd=tmp_path,
    )
    assert text.returncode == 0, text.stderr
    assert "ndcg@10" in text.stdout and "hybrid" in text.stdout


def test_build_from_jsonl_and_text_folder(tmp_path):
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text(
        "\n".join(json.dumps({"id": key, "text": text}) for key, text in ANIMALS.items())
    )
    result = _run(
        "build",
        str(corpus),
        "--index",
        str(tmp_path / "a"),
        "--no-progress",
        "--hnsw",
        "--bm25-variant",
        "okapi",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    manifest = json.loads((tmp_path / "a" / "manifest.json").read_text())
    assert manifest["vectors"]["kind"] == "hnsw"
    assert manifest["bm25"]["variant"] == "okapi"

    folder = tmp_path / "notes"
    (folder / "sub").mkdir(parents=True)
    (folder / "bees.md").write_text(ANIMALS["bee"])
    (folder / "sub" / "sharks.txt").write_text(ANIMALS["shark"])
    result = _run(
        "build", str(folder), "--index", str(tmp_path / "b"), "--no-progress", cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    search = _run("search", "--index", str(tmp_path / "b"), "teeth", "--json", cwd=tmp_path)
    assert json.loads(search.stdout)["hits"][0]["doc_id"] == "sub/sharks.txt"


def _assert_one_line_error(result: subprocess.CompletedProcess, *fragments: str) -> None:
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines[-1].startswith("error: ")
    for fragment in fragments:
        assert fragment in lines[-1]


def test_missing_corpus(tmp_path):
    result = _run(
        "build", str(tmp_path / "nope.jsonl"), "--index", str(tmp_path / "i"), cwd=tmp_path
    )
    _assert_one_line_error(result, "nope.jsonl")
    assert not (tmp_path / "i").exists()


def test_malformed_jsonl_line_names_the_line(tmp_path):
    corpus = tmp_path / "bad.jsonl"
    corpus.write_text('{"id": "a", "text": "fine"}\n{"id": "b", "text": "fine"}\n{"id": "c", \n')
    result = _run("build", str(corpus), "--index", str(tmp_path / "i"), cwd=tmp_path)
    _assert_one_line_error(result, "bad.jsonl:3")
    assert not (tmp_path / "i").exists()


def test_not_an_index(tmp_path):
    result = _run("search", "--index", str(tmp_path), "anything", cwd=tmp_path)
    _assert_one_line_error(result, "not a hybridsearch index")


def test_verbose_shows_the_traceback(tmp_path):
    result = _run("--verbose", "search", "--index", str(tmp_path), "anything", cwd=tmp_path)
    assert result.returncode == 1
    assert "Traceback" in result.stderr


def test_bad_option_values(built_index, tmp_path):
    index, _ = built_index
    result = _run("search", "--index", str(index), "   ", cwd=tmp_path)
    _assert_one_line_error(result, "query is empty")
    result = _run("search", "--index", str(index), "cats", "-k", "0", cwd=tmp_path)
    _assert_one_line_error(result, "k must be a positive integer")
    result = _run("evaluate", "--index", str(index), "--beir", str(tmp_path), cwd=tmp_path)
    _assert_one_line_error(result, "corpus.jsonl")


def test_help_is_fast_and_lists_commands(tmp_path):
    result = _run("--help", cwd=tmp_path)
    assert result.returncode == 0
    for command in ("build", "search", "evaluate", "demo"):
        assert command in result.stdout
