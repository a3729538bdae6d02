"""Fixtures of the CLI tests: a tiny BEIR dataset and one index built from it by the CLI, a
copy of that index to change, and an index of documents with metadata to filter."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.cli.support import ANIMALS, QUERIES, TAGGED, run_cli, write_jsonl


@pytest.fixture(scope="session")
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


@pytest.fixture(scope="session")
def built_index(beir_folder, tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess]:
    """``hybridsearch build`` of :func:`beir_folder` (with progress bars), and its result."""
    index = tmp_path_factory.mktemp("indexes") / "animals"
    result = run_cli("build", str(beir_folder), "--index", str(index), cwd=beir_folder)
    return index, result


@pytest.fixture
def animals_copy(built_index, tmp_path) -> Path:
    """A copy of :func:`built_index` that a test may change (one segment, six documents)."""
    index, result = built_index
    assert result.returncode == 0, result.stderr
    return Path(shutil.copytree(index, tmp_path / "animals"))


@pytest.fixture(scope="session")
def tagged_index(tmp_path_factory) -> Path:
    """An index of :data:`TAGGED` (metadata of every type), built in this process."""
    from hybridsearch.cli.main import main

    folder = tmp_path_factory.mktemp("tagged")
    corpus = write_jsonl(folder / "tagged.jsonl", TAGGED)
    assert main(["build", str(corpus), "--index", str(folder / "index"), "--no-progress"]) == 0
    return folder / "index"
