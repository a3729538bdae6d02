"""The one JSONL reader: (line number, JSON object) for each non-blank line of a file.

Every JSONL file the package reads (a corpus, BEIR's ``queries.jsonl``, an index's
``documents.jsonl``) goes through :func:`iter_jsonl_records`, so all of them skip blank lines,
accept a byte-order mark and report a bad line the same way: ``"{path}:{line}: {what is
wrong}; {what was expected}"``. What a record must hold is the caller's business; it raises
with the same ``"{path}:{line}: "`` prefix.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from hybridsearch.errors import CorpusFormatError, HybridSearchError

__all__ = ["iter_jsonl_records", "json_type_name", "record_id"]

_EXPECTED_OBJECT = "expected one JSON object per line"


def iter_jsonl_records(
    path: str | os.PathLike[str],
    *,
    expected: str = _EXPECTED_OBJECT,
    error: type[HybridSearchError] = CorpusFormatError,
) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield (line number, JSON object) for each non-blank line of a JSONL file.

    Line numbers count from 1 and include blank lines, so they match an editor's. Lines are
    read as bytes and decoded one by one, so a bad byte is reported with its line number
    (decoding the whole stream would only give a byte offset). A byte-order mark at the start
    of the file is skipped.

    Args:
        path: The JSONL file. It is opened on the first ``next()``; callers that want a
            missing path reported where it was given check it before iterating.
        expected: What a line should hold, ending the message of a line that is not a JSON
            object (e.g. ``'expected one JSON object per line with "_id" and "text"'``).
        error: The exception class raised: :class:`~hybridsearch.errors.CorpusFormatError`
            for user files, :class:`~hybridsearch.errors.IndexFormatError` for an index's own.

    Yields:
        ``(line_number, record)`` in file order.

    Raises:
        error: The file cannot be opened, or a line is not UTF-8, not JSON or not a JSON
            object; the message names the file and the line.
    """
    jsonl_path = Path(path)
    try:
        jsonl_file = jsonl_path.open("rb")
    except OSError as exc:
        raise error(f"{jsonl_path}: cannot be read ({exc.strerror}); {expected}") from None
    with jsonl_file:
        for line_no, raw_line in enumerate(jsonl_file, start=1):
            where = f"{jsonl_path}:{line_no}"
            try:
                line = raw_line.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise error(
                    f"{where}: not valid UTF-8 (byte {exc.start} of the line); expected UTF-8 text"
                ) from None
            if line_no == 1:
                line = line.removeprefix("\ufeff")  # a byte-order mark some editors write
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise error(
                    f"{where}: invalid JSON ({exc.msg} at column {exc.colno}); {expected}"
                ) from None
            if not isinstance(record, dict):
                raise error(f"{where}: found a JSON {json_type_name(record)}; {expected}")
            yield line_no, record


def record_id(
    record: Mapping[str, Any], where: str, *, error: type[HybridSearchError] = CorpusFormatError
) -> str:
    """The id of a record: ``_id`` (BEIR's name) or ``id``, a string or an integer, as a str.

    Both fields may be present if they agree; integer ids are converted so that ``7`` and
    ``"7"`` name the same record.

    Args:
        record: A record from :func:`iter_jsonl_records`.
        where: ``"{path}:{line}"``, the start of any message.
        error: The exception class raised.

    Raises:
        error: No id, two ids that disagree, an id of another JSON type, or an empty one.
    """
    present_keys = [key for key in ("_id", "id") if key in record]
    if not present_keys:
        raise error(f'{where}: missing id; expected an "id" or "_id" field')
    raw_ids = [record[key] for key in present_keys]
    if len(raw_ids) == 2 and str(raw_ids[0]) != str(raw_ids[1]):
        raise error(
            f'{where}: "_id" {raw_ids[0]!r} and "id" {raw_ids[1]!r} disagree; '
            "expected one id field, or both equal"
        )
    raw_id = raw_ids[0]
    if isinstance(raw_id, bool) or not isinstance(raw_id, str | int):
        raise error(
            f'{where}: "{present_keys[0]}" is a JSON {json_type_name(raw_id)}; '
            "expected a string or an integer"
        )
    if raw_id == "":
        raise error(f'{where}: "{present_keys[0]}" is empty; expected a non-empty id')
    return str(raw_id)


def json_type_name(value: object) -> str:
    """The JSON name of a decoded value's type (``"null"``, ``"array"``, ...), for messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"
