"""User pairs for ``hybridsearch finetune --pairs FILE``: JSONL of (query, relevant passage).

Each line is ``{"query": ..., "passage": ...}`` (the relevant text itself) or
``{"query": ..., "doc_id": ...}`` (a document of the index, looked up there). Errors name the
file and line.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from hybridsearch.corpus.documents import Document
from hybridsearch.corpus.jsonl import iter_jsonl_records, json_type_name
from hybridsearch.errors import CorpusFormatError
from hybridsearch.train.pairs import TrainingPair, document_text

__all__ = ["read_pairs_file"]

_EXPECTED = 'expected one JSON object per line with a "query" and a "passage" or "doc_id" string'


def read_pairs_file(
    path: str | os.PathLike[str], find_document: Callable[[str], Document | None]
) -> list[TrainingPair]:
    """Read a pairs file; ``doc_id`` lines take the document's text (title line included).

    Args:
        path: The JSONL file.
        find_document: Document id -> the document, or None when there is none.

    Raises:
        CorpusFormatError: The file is missing or malformed, a field is missing or not a
            non-empty string, both or neither of ``passage``/``doc_id`` are given, or a
            ``doc_id`` names no document; the message names the file and line.
    """
    pairs_path = Path(path)
    if not pairs_path.is_file():
        raise CorpusFormatError(f"{pairs_path}: no such file; {_EXPECTED}")
    pairs: list[TrainingPair] = []
    for line_no, record in iter_jsonl_records(pairs_path, expected=_EXPECTED):
        where = f"{pairs_path}:{line_no}"
        query = _text_field(record, "query", where)
        has_passage, has_doc = "passage" in record, "doc_id" in record
        if has_passage == has_doc:
            raise CorpusFormatError(
                f'{where}: give exactly one of "passage" and "doc_id"; {_EXPECTED}'
            )
        if has_passage:
            pairs.append(TrainingPair(query, _text_field(record, "passage", where)))
            continue
        doc_id = record["doc_id"]
        doc_id = str(doc_id) if isinstance(doc_id, int) and not isinstance(doc_id, bool) else doc_id
        doc_id = _text_field({"doc_id": doc_id}, "doc_id", where)
        document = find_document(doc_id)
        if document is None:
            raise CorpusFormatError(f"{where}: doc_id {doc_id!r} is not a document of the index")
        pairs.append(TrainingPair(query, document_text(document), document.id))
    if not pairs:
        raise CorpusFormatError(f"{pairs_path}: no pairs; {_EXPECTED}")
    return pairs


def _text_field(record: dict, name: str, where: str) -> str:
    value = record.get(name)
    if not isinstance(value, str) or not value.strip():
        found = "missing" if name not in record else f"a JSON {json_type_name(value)}"
        if isinstance(value, str):
            found = "empty"
        raise CorpusFormatError(f'{where}: "{name}" is {found}; {_EXPECTED}')
    return value
