"""Tests for hybridsearch.corpus.jsonl: the one JSONL record reader and its messages."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from hybridsearch.corpus.jsonl import iter_jsonl_records, json_type_name, record_id
from hybridsearch.errors import CorpusFormatError, IndexFormatError


def write_bytes(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def test_records_with_line_numbers_blank_lines_counted(tmp_path: Path) -> None:
    path = write_bytes(
        tmp_path / "r.jsonl",
        b'\xef\xbb\xbf{"a": 1}\n\n   \n{"b": [2]}\r\n{"c": null}',  # BOM, CRLF, no final newline
    )
    assert list(iter_jsonl_records(path)) == [(1, {"a": 1}), (4, {"b": [2]}), (5, {"c": None})]


def test_empty_file_yields_nothing(tmp_path: Path) -> None:
    assert list(iter_jsonl_records(write_bytes(tmp_path / "e.jsonl", b""))) == []


@pytest.mark.parametrize(
    ("bad_line", "message"),
    [
        (b"{not json", r"invalid JSON \(Expecting property name .* at column 2\); expected X"),
        (b'{"a": 1', r"invalid JSON \(.* at column \d+\); expected X"),
        (b"[1, 2]", r"found a JSON array; expected X"),
        (b'"text"', r"found a JSON string; expected X"),
        (b"3", r"found a JSON number; expected X"),
        (b"null", r"found a JSON null; expected X"),
        (b"true", r"found a JSON boolean; expected X"),
        (b'{"a": "\xff"}', r"not valid UTF-8 \(byte 7 of the line\); expected UTF-8 text"),
    ],
)
def test_bad_line_names_file_and_line(tmp_path: Path, bad_line: bytes, message: str) -> None:
    # The bad line is line 3; line 2 is blank and still counted.
    path = write_bytes(tmp_path / "r.jsonl", b'{"ok": 1}\n\n' + bad_line + b'\n{"ok": 2}\n')
    records = iter_jsonl_records(path, expected="expected X")
    assert next(records) == (1, {"ok": 1})  # lines before the bad one are yielded first
    with pytest.raises(CorpusFormatError, match=message) as excinfo:
        next(records)
    assert str(excinfo.value).startswith(f"{path}:3: ")


def test_error_class_is_the_callers(tmp_path: Path) -> None:
    # An index reading its own documents file raises IndexFormatError, not CorpusFormatError.
    path = write_bytes(tmp_path / "documents.jsonl", b'{"id": "a"}\n[]\n')
    with pytest.raises(
        IndexFormatError, match=r"documents\.jsonl:2: found a JSON array"
    ) as excinfo:
        list(iter_jsonl_records(path, error=IndexFormatError))
    assert not isinstance(excinfo.value, CorpusFormatError)


def test_missing_file_is_the_callers_error(tmp_path: Path) -> None:
    missing = tmp_path / "absent.jsonl"
    with pytest.raises(IndexFormatError, match=re.escape(f"{missing}: cannot be read (")):
        list(iter_jsonl_records(missing, error=IndexFormatError))
    with pytest.raises(CorpusFormatError, match="cannot be read"):
        list(iter_jsonl_records(missing))


@pytest.mark.parametrize(
    ("record", "expected_id"),
    [({"_id": "a"}, "a"), ({"id": 7}, "7"), ({"_id": 7, "id": "7"}, "7")],
)
def test_record_id_forms(record: dict, expected_id: str) -> None:
    assert record_id(record, "f:1") == expected_id


@pytest.mark.parametrize(
    ("record", "message"),
    [
        ({"text": "x"}, r'^f:1: missing id; expected an "id" or "_id" field$'),
        ({"_id": "a", "id": "b"}, r"^f:1: \"_id\" 'a' and \"id\" 'b' disagree"),
        ({"_id": 1.5}, r'^f:1: "_id" is a JSON number; expected a string or an integer$'),
        ({"id": True}, r'^f:1: "id" is a JSON boolean'),
        ({"id": ""}, r'^f:1: "id" is empty; expected a non-empty id$'),
    ],
)
def test_record_id_errors(record: dict, message: str) -> None:
    with pytest.raises(CorpusFormatError, match=message):
        record_id(record, "f:1")
    with pytest.raises(IndexFormatError, match=message):
        record_id(record, "f:1", error=IndexFormatError)


def test_json_type_names() -> None:
    values = [None, True, 1, 1.5, "s", [1], {"a": 1}]
    assert [json_type_name(json.loads(json.dumps(v))) for v in values] == [
        "null",
        "boolean",
        "number",
        "number",
        "string",
        "array",
        "object",
    ]
