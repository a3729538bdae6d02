"""BEIR datasets: one split's queries and relevance judgements (qrels), read strictly.

A BEIR dataset folder holds ``corpus.jsonl`` (read by
:func:`hybridsearch.corpus.readers.read_beir_corpus`), ``queries.jsonl`` (all splits' queries)
and ``qrels/<split>.tsv``. :func:`load_beir` reads one split: the judged queries and their
judgements, with errors that name the file and line.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import NamedTuple

from hybridsearch.corpus.jsonl import iter_jsonl_records, record_id
from hybridsearch.corpus.readers import BEIR_CORPUS_FILE
from hybridsearch.errors import CorpusFormatError, InvalidInputError

__all__ = ["BeirDataset", "load_beir", "read_labelled_queries", "read_qrels", "read_queries"]

_QUERIES_FILE = "queries.jsonl"
_QRELS_HEADER = ("query-id", "corpus-id", "score")
_QUERIES_EXPECTED = 'expected one JSON object per line with "_id" and "text" strings'


class BeirDataset(NamedTuple):
    """One split of a BEIR dataset, ready to evaluate against.

    Attributes:
        corpus_path: The dataset's ``corpus.jsonl`` (stream it with
            :func:`~hybridsearch.corpus.readers.read_jsonl`, or the folder with
            :func:`~hybridsearch.corpus.readers.read_beir_corpus`).
        queries: Query id -> query text, only the queries judged in the split, in the order
            they first appear in the qrels file.
        qrels: Query id -> {document id: relevance grade}.
    """

    corpus_path: Path
    queries: dict[str, str]
    qrels: dict[str, dict[str, int]]


def load_beir(dataset_dir: str | os.PathLike[str], split: str = "test") -> BeirDataset:
    """Load the queries and relevance judgements of one split of a BEIR dataset folder.

    The folder holds ``corpus.jsonl``, ``queries.jsonl`` (all splits' queries, ``_id`` and
    ``text`` per line) and ``qrels/<split>.tsv`` (a ``query-id  corpus-id  score`` header,
    tab-separated, CRLF or LF line endings). The corpus is not read, only checked to exist:
    it can be large and the index streams it.

    Args:
        dataset_dir: The BEIR dataset folder (e.g. ``../shared/beir/scifact``).
        split: The qrels split to load (``"test"``, ``"dev"``, ``"train"``).

    Returns:
        The dataset split.

    Raises:
        CorpusFormatError: A file is missing, a line is malformed, or a judged query is not in
            ``queries.jsonl`` (the message names the file and line).
        InvalidInputError: The split has no qrels file (the message lists those present).
    """
    dataset_path = Path(dataset_dir)
    if not dataset_path.is_dir():
        raise CorpusFormatError(f"BEIR dataset not found: {dataset_path}")
    corpus_path = dataset_path / BEIR_CORPUS_FILE
    queries_path = dataset_path / _QUERIES_FILE
    qrels_dir = dataset_path / "qrels"
    for required_path in (corpus_path, queries_path):
        if not required_path.is_file():
            raise CorpusFormatError(f"{required_path}: missing; expected a BEIR dataset folder")
    if not qrels_dir.is_dir():
        raise CorpusFormatError(f"{qrels_dir}: missing; expected a folder of <split>.tsv files")
    qrels_path = qrels_dir / f"{split}.tsv"
    if not qrels_path.is_file():
        available_splits = sorted(path.stem for path in qrels_dir.glob("*.tsv"))
        raise InvalidInputError(
            f"split {split!r} not found in {qrels_dir}; available splits: "
            f"{', '.join(available_splits) or 'none'}"
        )

    qrels, first_line_by_query = _read_qrels(qrels_path)
    all_queries = _read_queries(queries_path)
    queries: dict[str, str] = {}
    for query_id in qrels:
        if query_id not in all_queries:
            raise CorpusFormatError(
                f"{qrels_path}:{first_line_by_query[query_id]}: query id {query_id!r} is not "
                f"in {queries_path}; expected every judged query to have a text"
            )
        queries[query_id] = all_queries[query_id]
    return BeirDataset(corpus_path=corpus_path, queries=queries, qrels=qrels)


def read_queries(queries_path: str | os.PathLike[str]) -> dict[str, str]:
    """Query id -> text from a queries JSONL file (``_id`` or ``id``, and ``text``, per line).

    Raises:
        CorpusFormatError: the file is missing or a line is malformed (file and line named).
    """
    path = Path(queries_path)
    if not path.is_file():
        raise CorpusFormatError(f"{path}: no such queries file; {_QUERIES_EXPECTED}")
    return _read_queries(path)


def read_qrels(qrels_path: str | os.PathLike[str]) -> dict[str, dict[str, int]]:
    """Query id -> {document id: grade} from a BEIR qrels TSV (header optional).

    Raises:
        CorpusFormatError: the file is missing or a line is malformed (file and line named).
    """
    path = Path(qrels_path)
    if not path.is_file():
        raise CorpusFormatError(
            f"{path}: no such qrels file; expected 'query-id<TAB>corpus-id<TAB>score' lines"
        )
    return _read_qrels(path)[0]


def _read_qrels(qrels_path: Path) -> tuple[dict[str, dict[str, int]], dict[str, int]]:
    """Parse a BEIR qrels TSV: judgements, and each query's first line number (for errors)."""
    qrels: dict[str, dict[str, int]] = {}
    first_line_by_query: dict[str, int] = {}
    expected = "expected 'query-id<TAB>corpus-id<TAB>integer score'"
    with qrels_path.open(encoding="utf-8", newline="") as qrels_file:
        for line_no, raw_line in enumerate(qrels_file, start=1):
            line = raw_line.rstrip("\r\n")
            if not line.strip():
                continue
            fields = line.split("\t")
            if line_no == 1 and tuple(field.strip() for field in fields) == _QRELS_HEADER:
                continue
            if len(fields) != 3:
                raise CorpusFormatError(
                    f"{qrels_path}:{line_no}: found {len(fields)} tab-separated fields; {expected}"
                )
            query_id, doc_id, raw_score = (field.strip() for field in fields)
            if not query_id or not doc_id:
                raise CorpusFormatError(f"{qrels_path}:{line_no}: empty id; {expected}")
            try:
                score = int(raw_score)
            except ValueError:
                raise CorpusFormatError(
                    f"{qrels_path}:{line_no}: score {raw_score!r} is not an integer; {expected}"
                ) from None
            judgements = qrels.setdefault(query_id, {})
            first_line_by_query.setdefault(query_id, line_no)
            if judgements.get(doc_id, score) != score:
                raise CorpusFormatError(
                    f"{qrels_path}:{line_no}: ({query_id!r}, {doc_id!r}) judged again with a "
                    f"different score ({judgements[doc_id]} then {score}); expected one "
                    "judgement per pair"
                )
            judgements[doc_id] = score
    return qrels, first_line_by_query


def _read_queries(queries_path: Path) -> dict[str, str]:
    """Parse BEIR's queries.jsonl into query id -> text."""
    queries: dict[str, str] = {}
    for line_no, record in iter_jsonl_records(queries_path, expected=_QUERIES_EXPECTED):
        where = f"{queries_path}:{line_no}"
        query_id = record_id(record, where)
        text = record.get("text")
        if not isinstance(text, str):
            raise CorpusFormatError(
                f"{where}: query {query_id!r} has no text string; {_QUERIES_EXPECTED}"
            )
        queries[query_id] = text
    return queries


def read_labelled_queries(
    queries_path: str | os.PathLike[str], qrels_path: str | os.PathLike[str]
) -> tuple[dict[str, str], dict[str, dict[str, int]]]:
    """The judged queries and their judgements from a BEIR-style queries.jsonl and qrels TSV.

    For labelled queries kept outside a BEIR folder (``adapt --dev-queries/--dev-qrels``).

    Raises:
        CorpusFormatError: A file is missing or malformed, or a judged query has no text.
    """
    queries_file, qrels_file = Path(queries_path), Path(qrels_path)
    for required_path in (queries_file, qrels_file):
        if not required_path.is_file():
            raise CorpusFormatError(f"{required_path}: no such file")
    qrels, first_line_by_query = _read_qrels(qrels_file)
    all_queries = _read_queries(queries_file)
    missing = [query_id for query_id in qrels if query_id not in all_queries]
    if missing:
        raise CorpusFormatError(
            f"{qrels_file}:{first_line_by_query[missing[0]]}: query id {missing[0]!r} is not "
            f"in {queries_file}; expected every judged query to have a text"
        )
    return {query_id: all_queries[query_id] for query_id in qrels}, qrels
