"""``hybridsearch demo``, run in-process over a few stand-in topics (the real ~500 passages
take a minute to encode): built on the first run, reused after, rebuilt when asked."""

from __future__ import annotations

import pytest

import hybridsearch.corpus.demo
from hybridsearch import Document
from hybridsearch.cli.demo import DEMO_QUERIES
from hybridsearch.cli.main import main
from tests.cli.support import needs_open_or_build_option

TOPICS = [
    Document("try", "The try statement catches exceptions; except (A, B) catches several.", "try"),
    Document("tuples", "Tuples are immutable sequences; lists are mutable.", "Sequence types"),
    Document("yield", "The yield keyword makes a function a generator.", "yield"),
    Document("with", "The with statement calls __enter__ and __exit__.", "with"),
]


@pytest.fixture
def few_topics(monkeypatch) -> list[Document]:
    # demo.run imports python_docs_documents when it runs, so patching the module is enough.
    monkeypatch.setattr(hybridsearch.corpus.demo, "python_docs_documents", lambda: list(TOPICS))
    return TOPICS


def test_demo_builds_once_then_reuses(few_topics, tmp_path, capsys):
    index = tmp_path / "python-docs"
    assert main(["demo", "--index", str(index), "-k", "1"]) == 0
    first = capsys.readouterr()
    assert "building the demo index" in first.err
    assert f"built {index}" in first.err
    assert (index / "manifest.json").is_file()
    # One ranked list per example query, each under its heading.
    for query in DEMO_QUERIES:
        assert f"=== {query}" in first.out
    assert " 1. try" in first.out.split(DEMO_QUERIES[0])[1]

    assert main(["demo", "what makes a generator", "--index", str(index), "--mode", "bm25"]) == 0
    second = capsys.readouterr()
    assert "building the demo index" not in second.err
    assert f"reused {index}" in second.err
    assert second.out.count("=== ") == 1
    assert " 1. yield" in second.out


@needs_open_or_build_option("rebuild")
def test_demo_rebuild(few_topics, tmp_path, capsys):
    index = tmp_path / "python-docs"
    assert main(["demo", "--index", str(index), "-k", "1"]) == 0
    capsys.readouterr()
    assert main(["demo", "--index", str(index), "-k", "1", "--rebuild"]) == 0
    err = capsys.readouterr().err
    assert "building the demo index" in err
    assert f"reused {index}" not in err


def test_demo_index_on_a_regular_file_is_refused_before_building(tmp_path, capsys, monkeypatch):
    """Issue 14 item 12: the destination is checked before the demo corpus is read."""

    def slow():
        raise AssertionError("the demo corpus was read before the destination was checked")

    monkeypatch.setattr(hybridsearch.corpus.demo, "python_docs_documents", slow)
    target = tmp_path / "notes.txt"
    target.write_text("mine")
    assert main(["demo", "--index", str(target)]) == 1
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines[-1].startswith("error: ") and "is a file" in lines[-1], lines
    assert "Traceback" not in "\n".join(lines)
    assert target.read_text() == "mine"
