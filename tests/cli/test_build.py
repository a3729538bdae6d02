"""``hybridsearch build``: the arguments it hands to HybridIndex.open_or_build, the summary,
reuse and rebuild, the corpus formats, and its errors."""

from __future__ import annotations

import io
import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from hybridsearch import HybridIndex
from hybridsearch.cli.build import print_summary
from hybridsearch.cli.main import main
from tests.cli.support import (
    ANIMALS,
    assert_failed,
    assert_one_line_error,
    needs_open_or_build_option,
    run_cli,
    run_here,
)


def _stub_index(origin: str = "built here: no usable index there") -> SimpleNamespace:
    report = SimpleNamespace(documents_split=1, tokens_over_limit=17)
    info = SimpleNamespace(
        chunking_report=report, seconds={"read": 0.04, "chunk": 0.25, "encode": 2.0}
    )
    return SimpleNamespace(origin=origin, build_info=info, num_documents=3, num_passages=5)


@pytest.fixture
def open_or_build_calls(monkeypatch) -> list[tuple[tuple[Any, ...], dict[str, Any]]]:
    """Replace HybridIndex.open_or_build by a recorder that returns a stub index."""
    calls = []

    def record(*args: Any, **kwargs: Any) -> SimpleNamespace:
        calls.append((args, kwargs))
        return _stub_index()

    monkeypatch.setattr(HybridIndex, "open_or_build", record)
    return calls


# -- arguments and summary (no model) ------------------------------------------------------


def test_defaults_go_to_open_or_build(open_or_build_calls, tmp_path, capsys):
    assert main(["build", "corpus.jsonl", "--index", str(tmp_path / "i")]) == 0
    ((args, kwargs),) = open_or_build_calls
    assert args == (tmp_path / "i", Path("corpus.jsonl"))
    assert kwargs == {
        "model": None,
        "chunking": {"passage_tokens": None, "overlap": 32},
        "bm25": {"variant": "lucene", "k1": 1.5, "b": 0.75},
        "vectors": {"kind": "flat"},
        "embedding_cache": None,
        "progress": True,
    }
    assert capsys.readouterr().err.startswith("built here: no usable index there\n")


def test_every_option_goes_to_open_or_build(open_or_build_calls, tmp_path):
    argv = [
        *("build", "docs", "--index", "out", "--model", "some/model", "--passage-tokens"),
        *("128", "--overlap", "8", "--bm25-variant", "bm25plus", "--k1", "1.2", "--b", "0.5"),
        *("--hnsw", "--embedding-cache", "cache", "--no-progress", "--batch-size", "4"),
    ]
    assert main(argv) == 0
    ((args, kwargs),) = open_or_build_calls
    assert args == (Path("out"), Path("docs"))
    assert kwargs == {
        "model": "some/model",
        "chunking": {"passage_tokens": 128, "overlap": 8},
        "bm25": {"variant": "bm25plus", "k1": 1.2, "b": 0.5},
        "vectors": {"kind": "hnsw"},
        "embedding_cache": "cache",
        "progress": False,
        "batch_size": 4,
    }


def test_a_title_weight_goes_to_the_bm25_settings(open_or_build_calls, tmp_path):
    assert main(["build", "docs", "--index", "out", "--title-weight", "3"]) == 0
    ((_, kwargs),) = open_or_build_calls
    assert kwargs["bm25"] == {"variant": "lucene", "k1": 1.5, "b": 0.75, "title_weight": 3}


def test_summary_says_origin_chunking_seconds_and_size(tmp_path):
    (tmp_path / "a.npy").write_bytes(b"x" * 2**20)
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b").write_bytes(b"y" * 2**19)
    out = io.StringIO()
    print_summary(_stub_index("reused there: unchanged"), tmp_path, file=out)
    assert out.getvalue().splitlines() == [
        "reused there: unchanged",
        "3 documents -> 5 passages (1 documents split, 17 tokens that whole-document "
        "encoding would have truncated)",
        "build seconds: read 0.0, chunk 0.2, encode 2.0 (2.5 passages/s)",
        "index size on disk: 1.5 MiB",
    ]


# -- real builds ---------------------------------------------------------------------------


def test_build_prints_progress_and_summary(built_index):
    index, result = built_index
    assert result.returncode == 0, result.stderr
    assert (index / "manifest.json").is_file()
    for stage in ("chunking", "BM25", "encoding"):
        assert stage in result.stderr
    assert f"built {index}" in result.stderr
    assert "6 documents -> 6 passages" in result.stderr
    assert "index size on disk" in result.stderr


def test_build_again_reuses_then_rebuilds_on_new_settings(
    built_index, beir_folder, tmp_path, capsys
):
    index, _ = built_index
    before = (index / "manifest.json").read_bytes()
    again = run_here(capsys, "build", str(beir_folder), "--index", str(index), "--no-progress")
    assert again.returncode == 0, again.stderr
    assert again.stderr.splitlines()[0].startswith(f"reused {index}")
    assert (index / "manifest.json").read_bytes() == before

    # Another index from the same corpus: changed settings rebuild it, and say why.
    other = tmp_path / "other"
    first = run_here(capsys, "build", str(beir_folder), "--index", str(other), "--no-progress")
    assert first.returncode == 0, first.stderr
    changed = run_here(
        capsys, "build", str(beir_folder), "--index", str(other), "--no-progress", "--k1", "1.2",
    )  # fmt: skip
    assert changed.returncode == 0, changed.stderr
    origin = changed.stderr.splitlines()[0]
    assert origin.startswith(f"built {other}") and "settings changed" in origin


def test_build_from_jsonl_and_text_folder(tmp_path, encoder, capsys):
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text(
        "\n".join(json.dumps({"id": key, "text": text}) for key, text in ANIMALS.items())
    )
    result = run_here(
        capsys,
        "build",
        str(corpus),
        "--index",
        str(tmp_path / "a"),
        "--no-progress",
        "--hnsw",
        "--bm25-variant",
        "okapi",
    )
    assert result.returncode == 0, result.stderr
    built = HybridIndex.load(tmp_path / "a", model=encoder)
    assert built.settings.vectors.kind == "hnsw"
    assert built.settings.bm25.variant == "okapi"

    folder = tmp_path / "notes"
    (folder / "sub").mkdir(parents=True)
    (folder / "bees.md").write_text(ANIMALS["bee"])
    (folder / "sub" / "sharks.txt").write_text(ANIMALS["shark"])
    result = run_here(capsys, "build", str(folder), "--index", str(tmp_path / "b"), "--no-progress")
    assert result.returncode == 0, result.stderr
    search = run_here(capsys, "search", "--index", str(tmp_path / "b"), "teeth", "--json")
    assert json.loads(search.stdout)["hits"][0]["doc_id"] == "sub/sharks.txt"


@needs_open_or_build_option("batch_size")
def test_batch_size_builds_the_same_index(built_index, beir_folder, tmp_path, capsys):
    index, _ = built_index
    result = run_here(
        capsys, "build", str(beir_folder), "--index", str(tmp_path / "i"), "--no-progress",
        "--batch-size", "2",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    query = ("search", "birds at night", "--json", "-k", "3")
    by_two = run_here(capsys, *query, "--index", str(tmp_path / "i"))
    default = run_here(capsys, *query, "--index", str(index))
    ids = [[hit["doc_id"] for hit in json.loads(run.stdout)["hits"]] for run in (by_two, default)]
    assert ids[0] == ids[1]


# -- errors --------------------------------------------------------------------------------


def test_missing_corpus(tmp_path):
    result = run_cli(
        "build", str(tmp_path / "nope.jsonl"), "--index", str(tmp_path / "i"), cwd=tmp_path
    )
    assert_one_line_error(result, "nope.jsonl")
    assert not (tmp_path / "i").exists()


def test_malformed_jsonl_line_names_the_line(tmp_path):
    corpus = tmp_path / "bad.jsonl"
    corpus.write_text('{"id": "a", "text": "fine"}\n{"id": "b", "text": "fine"}\n{"id": "c", \n')
    result = run_cli("build", str(corpus), "--index", str(tmp_path / "i"), cwd=tmp_path)
    assert_one_line_error(result, "bad.jsonl:3")
    assert not (tmp_path / "i").exists()


def test_bad_setting_is_one_line(tmp_path):
    corpus = tmp_path / "c.jsonl"
    corpus.write_text('{"id": "a", "text": "fine"}\n')
    result = run_cli("build", str(corpus), "--index", str(tmp_path / "i"), "--b", "3", cwd=tmp_path)
    assert_one_line_error(result, "b")
    assert not (tmp_path / "i").exists()


# -- issue 14: refused early, in one line --------------------------------------------------


@pytest.fixture
def no_slow_stage(monkeypatch):
    """Loading a model or building fails the test: the refusal must come before them."""
    import hybridsearch.index.reuse as reuse

    def slow(*args, **kwargs):
        raise AssertionError("a slow stage started before the destination was checked")

    monkeypatch.setattr(reuse, "make_encoder", slow)
    monkeypatch.setattr(HybridIndex, "build", slow)


def test_a_lone_surrogate_in_the_corpus_names_file_line_and_id(tmp_path, capsys, no_slow_stage):
    corpus = tmp_path / "c.jsonl"
    corpus.write_text('{"id": "a", "text": "fine"}\n{"id": "b-2", "text": "bad \\ud800"}\n')
    status = main(["build", str(corpus), "--index", str(tmp_path / "i"), "--no-progress"])
    assert_failed(status, capsys.readouterr().err, "c.jsonl:2", "'b-2'", "lone surrogate")
    assert not (tmp_path / "i").exists()


def test_build_into_a_folder_that_is_not_an_index_is_refused_first(
    tmp_path, capsys, no_slow_stage
):
    corpus = tmp_path / "c.jsonl"
    corpus.write_text('{"id": "a", "text": "fine"}\n')
    folder = tmp_path / "photos"
    folder.mkdir()
    (folder / "holiday.jpg").write_bytes(b"\xff\xd8")
    status = main(["build", str(corpus), "--index", str(folder), "--no-progress"])
    assert_failed(status, capsys.readouterr().err, str(folder), "not empty", "not an index")
    assert [p.name for p in folder.iterdir()] == ["holiday.jpg"]
    status = main(["build", str(corpus), "--index", str(folder / "holiday.jpg")])
    assert_failed(status, capsys.readouterr().err, "holiday.jpg", "is a file")
