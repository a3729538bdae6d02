"""User pairs files for finetune: passage or doc_id lines, errors naming file and line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hybridsearch.corpus.documents import Document
from hybridsearch.errors import CorpusFormatError
from hybridsearch.train.pairs import TrainingPair
from hybridsearch.train.pairs_file import read_pairs_file

DOCUMENTS = {"7": Document("7", "Bees make honey.", title="Bees")}


def _write(path: Path, *lines: object) -> Path:
    path.write_text(
        "\n".join(line if isinstance(line, str) else json.dumps(line) for line in lines) + "\n"
    )
    return path


def test_passage_and_doc_id_lines(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "pairs.jsonl",
        {"query": "who makes honey", "passage": "Bees do."},
        "",
        {"query": "bees", "doc_id": 7},
    )
    assert read_pairs_file(path, DOCUMENTS.get) == [
        TrainingPair("who makes honey", "Bees do."),
        TrainingPair("bees", "Bees\nBees make honey.", "7"),
    ]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ({"passage": "x"}, r'pairs.jsonl:2: "query" is missing'),
        ({"query": "q"}, r"pairs.jsonl:2: give exactly one of"),
        ({"query": "q", "passage": "p", "doc_id": "7"}, "pairs.jsonl:2: give exactly one"),
        ({"query": "q", "doc_id": "nope"}, r"pairs.jsonl:2: doc_id 'nope' is not a document"),
        ({"query": " ", "passage": "p"}, r'pairs.jsonl:2: "query" is empty'),
        ({"query": "q", "passage": 3}, r'pairs.jsonl:2: "passage" is a JSON number'),
        ("[1, 2]", "pairs.jsonl:2: found a JSON array"),
    ],
)
def test_malformed_lines_are_reported_with_their_line(tmp_path: Path, line, message) -> None:
    path = _write(tmp_path / "pairs.jsonl", {"query": "ok", "passage": "fine"}, line)
    with pytest.raises(CorpusFormatError, match=message):
        read_pairs_file(path, DOCUMENTS.get)


def test_missing_and_empty_files(tmp_path: Path) -> None:
    with pytest.raises(CorpusFormatError, match="no such file"):
        read_pairs_file(tmp_path / "absent.jsonl", DOCUMENTS.get)
    with pytest.raises(CorpusFormatError, match="no pairs"):
        read_pairs_file(_write(tmp_path / "empty.jsonl", ""), DOCUMENTS.get)
