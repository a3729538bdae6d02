"""Documents, passages and the readers that stream documents from disk.

A :class:`Document` is what a user adds to an index; a :class:`Passage` is what both legs
(BM25 and dense) index, a piece of one document small enough for the encoder. Hits point back
from passages to documents through ``Passage.doc_id``.

The readers are generators, so a large corpus streams through the chunker without being held
in memory. Each reader checks its path when called (not on the first ``next()``), so a typo in
a path fails where the path was given. Within one JSONL file the readers also reject duplicate
ids, naming both line numbers; :func:`check_unique_ids` does the same for any iterable of
documents. Detecting an empty corpus is left to the caller (the index), which knows whether
empty is acceptable.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hybridsearch.errors import CorpusFormatError, DuplicateDocumentError, InvalidInputError

__all__ = [
    "TEXT_FILE_SUFFIXES",
    "Document",
    "Passage",
    "check_unique_ids",
    "read_beir_corpus",
    "read_corpus",
    "read_jsonl",
    "read_text_folder",
]

#: File name endings read by :func:`read_text_folder` (compared case-insensitively).
TEXT_FILE_SUFFIXES: frozenset[str] = frozenset({".txt", ".md"})

# The name of the corpus file inside a BEIR dataset folder.
_BEIR_CORPUS_FILE = "corpus.jsonl"

_JSONL_EXPECTED = (
    'expected one JSON object per line with "id" (or "_id") and "text", '
    'optional "title" and "metadata"'
)


@dataclass(frozen=True, slots=True)
class Document:
    """A document as the user gives it: an id, its text, an optional title and metadata.

    Attributes:
        id: Unique, non-empty identifier; hits refer to documents by it. Readers convert
            integer ids found in JSON to ``str``; this class does not, so ids stay one type.
        text: The body text.
        title: Optional title; the chunker may prepend it to each passage's indexed text.
        metadata: Free-form data carried along to results (not indexed). It takes no part in
            hashing, so documents stay hashable although the mapping is mutable.
    """

    id: str
    text: str
    title: str = ""
    metadata: Mapping[str, Any] = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        if not isinstance(self.id, str) or not self.id:
            raise InvalidInputError(
                f"Document id must be a non-empty str, got {type(self.id).__name__} {self.id!r}"
            )
        if not isinstance(self.text, str):
            raise InvalidInputError(
                f"Document {self.id!r}: text must be a str, got {type(self.text).__name__}"
            )
        if not isinstance(self.title, str):
            raise InvalidInputError(
                f"Document {self.id!r}: title must be a str, got {type(self.title).__name__}"
            )
        if not isinstance(self.metadata, Mapping):
            raise InvalidInputError(
                f"Document {self.id!r}: metadata must be a mapping, got "
                f"{type(self.metadata).__name__}"
            )


@dataclass(frozen=True, slots=True)
class Passage:
    """A piece of one document: the unit both the BM25 and the dense leg index.

    Attributes:
        passage_id: Integer id, the row of this passage in the index's arrays.
        doc_id: Id of the document this passage comes from.
        text: The text both legs index (the title included when the chunker carries it).
        start: Start of the passage's body in the document's text (character offset).
        end: End (exclusive), so ``document.text[start:end]`` is the body of this passage.
        title: The document's title when the chunker carries it, else ``""``.
    """

    passage_id: int
    doc_id: str
    text: str
    start: int
    end: int
    title: str = ""

    def __post_init__(self) -> None:
        # bool is an int subclass; True as an id or offset is always a bug upstream.
        if not _is_int(self.passage_id) or self.passage_id < 0:
            raise InvalidInputError(
                f"Passage passage_id must be a non-negative int, got {self.passage_id!r}"
            )
        if not isinstance(self.doc_id, str) or not self.doc_id:
            raise InvalidInputError(
                f"Passage {self.passage_id}: doc_id must be a non-empty str, got {self.doc_id!r}"
            )
        if not isinstance(self.text, str):
            raise InvalidInputError(
                f"Passage {self.passage_id}: text must be a str, got {type(self.text).__name__}"
            )
        if not isinstance(self.title, str):
            raise InvalidInputError(
                f"Passage {self.passage_id}: title must be a str, got {type(self.title).__name__}"
            )
        if not (_is_int(self.start) and _is_int(self.end) and 0 <= self.start <= self.end):
            raise InvalidInputError(
                f"Passage {self.passage_id}: span must satisfy 0 <= start <= end (ints), got "
                f"start={self.start!r}, end={self.end!r}"
            )


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def check_unique_ids(documents: Iterable[Document]) -> list[Document]:
    """Materialise documents, checking that each is a Document and no id repeats.

    Use it on documents that did not come from a reader (a user's list); the JSONL readers
    already reject duplicates within their file, with line numbers.

    Args:
        documents: Any iterable of documents.

    Returns:
        The documents as a list, in the given order.

    Raises:
        InvalidInputError: An item is not a :class:`Document`.
        DuplicateDocumentError: Two documents share an id (the message gives both positions).
    """
    checked: list[Document] = []
    position_by_id: dict[str, int] = {}
    for position, document in enumerate(documents):
        if not isinstance(document, Document):
            raise InvalidInputError(
                f"documents[{position}] is a {type(document).__name__}; expected a Document"
            )
        first_position = position_by_id.setdefault(document.id, position)
        if first_position != position:
            raise DuplicateDocumentError(
                f"duplicate document id {document.id!r} at positions {first_position} and "
                f"{position}; expected unique ids"
            )
        checked.append(document)
    return checked


def read_jsonl(path: str | os.PathLike[str]) -> Iterator[Document]:
    """Stream documents from a JSONL file, one JSON object per line.

    Each object has ``id`` or ``_id`` (a string or an integer, converted to ``str``), ``text``
    (a string) and optionally ``title`` (a string; ``null`` reads as ``""``) and ``metadata``
    (an object). Other fields are ignored. Blank lines are skipped. BEIR's ``corpus.jsonl`` is
    one such file.

    Args:
        path: The JSONL file.

    Returns:
        An iterator of documents in file order. The path is checked now; lines are parsed as
        the iterator is consumed.

    Raises:
        CorpusFormatError: The file is missing, or a line is malformed; the message reads
            ``"{path}:{line_no}: {what is wrong}; expected ..."``.
        DuplicateDocumentError: An id repeats (the message gives both line numbers).
    """
    jsonl_path = Path(path)
    if not jsonl_path.exists():
        raise CorpusFormatError(f"corpus not found: {jsonl_path}")
    if not jsonl_path.is_file():
        raise CorpusFormatError(f"{jsonl_path}: is not a file; expected a JSONL file")
    return _iter_jsonl_documents(jsonl_path)


def _iter_jsonl_documents(jsonl_path: Path) -> Iterator[Document]:
    first_line_by_id: dict[str, int] = {}
    for line_no, record in _iter_jsonl_records(jsonl_path):
        document = _document_from_record(record, jsonl_path, line_no)
        first_line = first_line_by_id.setdefault(document.id, line_no)
        if first_line != line_no:
            raise DuplicateDocumentError(
                f"{jsonl_path}:{line_no}: document id {document.id!r} already used on line "
                f"{first_line}; expected unique ids"
            )
        yield document


def _iter_jsonl_records(jsonl_path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield (line number, JSON object) for each non-blank line of a JSONL file.

    Lines are read as bytes and decoded one by one, so a bad byte is reported with its line
    number (decoding the whole stream would only give a byte offset).
    """
    with jsonl_path.open("rb") as jsonl_file:
        for line_no, raw_line in enumerate(jsonl_file, start=1):
            try:
                line = raw_line.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise CorpusFormatError(
                    f"{jsonl_path}:{line_no}: not valid UTF-8 (byte {exc.start} of the line); "
                    "expected UTF-8 text"
                ) from None
            if line_no == 1:
                line = line.removeprefix("\ufeff")  # a byte-order mark some editors write
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise CorpusFormatError(
                    f"{jsonl_path}:{line_no}: invalid JSON ({exc.msg} at column {exc.colno}); "
                    f"{_JSONL_EXPECTED}"
                ) from None
            if not isinstance(record, dict):
                raise CorpusFormatError(
                    f"{jsonl_path}:{line_no}: found a JSON {_json_type_name(record)}; "
                    f"{_JSONL_EXPECTED}"
                )
            yield line_no, record


def _record_id(record: Mapping[str, Any], jsonl_path: Path, line_no: int) -> str:
    """The id of a JSONL record: ``_id`` or ``id``, a string or an integer, as a str."""
    where = f"{jsonl_path}:{line_no}"
    present_keys = [key for key in ("_id", "id") if key in record]
    if not present_keys:
        raise CorpusFormatError(f'{where}: missing id; expected an "id" or "_id" field')
    raw_ids = [record[key] for key in present_keys]
    if len(raw_ids) == 2 and str(raw_ids[0]) != str(raw_ids[1]):
        raise CorpusFormatError(
            f'{where}: "_id" {raw_ids[0]!r} and "id" {raw_ids[1]!r} disagree; '
            "expected one id field, or both equal"
        )
    raw_id = raw_ids[0]
    if isinstance(raw_id, bool) or not isinstance(raw_id, str | int):
        raise CorpusFormatError(
            f'{where}: "{present_keys[0]}" is a JSON {_json_type_name(raw_id)}; '
            "expected a string or an integer"
        )
    document_id = str(raw_id)
    if not document_id:
        raise CorpusFormatError(f'{where}: "{present_keys[0]}" is empty; expected a non-empty id')
    return document_id


def _document_from_record(record: Mapping[str, Any], jsonl_path: Path, line_no: int) -> Document:
    where = f"{jsonl_path}:{line_no}"
    document_id = _record_id(record, jsonl_path, line_no)
    if "text" not in record:
        raise CorpusFormatError(
            f'{where}: document {document_id!r} has no "text"; expected a "text" string'
        )
    text = record["text"]
    if not isinstance(text, str):
        raise CorpusFormatError(
            f'{where}: document {document_id!r} "text" is a JSON {_json_type_name(text)}; '
            "expected a string"
        )
    # BEIR writes "title": "" for untitled documents; null is read the same way.
    title = record.get("title")
    if title is None:
        title = ""
    elif not isinstance(title, str):
        raise CorpusFormatError(
            f'{where}: document {document_id!r} "title" is a JSON {_json_type_name(title)}; '
            "expected a string"
        )
    metadata = record.get("metadata")
    if metadata is None:
        metadata = {}
    elif not isinstance(metadata, dict):
        raise CorpusFormatError(
            f'{where}: document {document_id!r} "metadata" is a JSON '
            f"{_json_type_name(metadata)}; expected an object"
        )
    return Document(id=document_id, text=text, title=title, metadata=metadata)


def _json_type_name(value: object) -> str:
    """The JSON name of a decoded value's type, for error messages."""
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


def read_text_folder(path: str | os.PathLike[str]) -> Iterator[Document]:
    """Stream one document per ``.txt`` / ``.md`` file below a folder (recursively).

    The id is the file's path relative to the folder with ``/`` separators (unique by
    construction, stable across machines), the title its stem, the text its UTF-8 content.
    Files and folders whose names start with ``.`` are skipped (``.git``, editor and notebook
    checkpoints), other extensions are ignored, symbolic links to folders are not followed,
    and the order is sorted by path so ids and passage ids are reproducible.

    Args:
        path: The folder.

    Returns:
        An iterator of documents. The folder is checked now; files are read as the iterator
        is consumed.

    Raises:
        CorpusFormatError: The folder is missing or not a folder, or a file is not valid
            UTF-8 (the message names the file).
    """
    folder = Path(path)
    if not folder.exists():
        raise CorpusFormatError(f"corpus not found: {folder}")
    if not folder.is_dir():
        raise CorpusFormatError(f"{folder}: is not a folder; expected a folder of .txt/.md files")
    return _iter_text_folder_documents(folder)


def _iter_text_folder_documents(folder: Path) -> Iterator[Document]:
    for file_path in _text_files_below(folder):
        relative_id = file_path.relative_to(folder).as_posix()
        try:
            text = file_path.read_bytes().decode("utf-8")
        except UnicodeDecodeError as exc:
            raise CorpusFormatError(
                f"{file_path}: not valid UTF-8 (byte {exc.start}); expected UTF-8 text"
            ) from None
        except OSError as exc:
            raise CorpusFormatError(f"{file_path}: cannot be read ({exc.strerror})") from None
        yield Document(id=relative_id, text=text.removeprefix("\ufeff"), title=file_path.stem)


def _text_files_below(folder: Path) -> Iterator[Path]:
    """Text files below a folder, depth-first in sorted order, hidden names skipped."""
    for directory, subdirectory_names, file_names in os.walk(folder):
        # Pruning and sorting in place steers os.walk: hidden folders are never entered and
        # subfolders are visited in name order.
        subdirectory_names[:] = sorted(name for name in subdirectory_names if name[0] != ".")
        for file_name in sorted(file_names):
            file_path = Path(directory, file_name)
            if (
                file_name[0] != "."
                and file_path.suffix.lower() in TEXT_FILE_SUFFIXES
                and file_path.is_file()
            ):
                yield file_path


def read_beir_corpus(dataset_dir: str | os.PathLike[str]) -> Iterator[Document]:
    """Stream the documents of a BEIR dataset folder (its ``corpus.jsonl``).

    Args:
        dataset_dir: A BEIR dataset folder (``corpus.jsonl``, ``queries.jsonl``, ``qrels/``).

    Returns:
        An iterator of documents, as :func:`read_jsonl` gives them.

    Raises:
        CorpusFormatError: The folder or its ``corpus.jsonl`` is missing, or a line is
            malformed.
        DuplicateDocumentError: An id repeats.
    """
    dataset_path = Path(dataset_dir)
    if not dataset_path.is_dir():
        raise CorpusFormatError(f"corpus not found: {dataset_path}")
    corpus_path = dataset_path / _BEIR_CORPUS_FILE
    if not corpus_path.is_file():
        raise CorpusFormatError(
            f"{dataset_path}: no {_BEIR_CORPUS_FILE}; expected a BEIR dataset folder"
        )
    return read_jsonl(corpus_path)


def read_corpus(path: str | os.PathLike[str]) -> Iterator[Document]:
    """Stream documents from a path, choosing the reader by what the path is.

    - a ``.jsonl`` file: :func:`read_jsonl`;
    - a folder containing ``corpus.jsonl``: a BEIR dataset, :func:`read_beir_corpus`;
    - any other folder: :func:`read_text_folder`.

    Args:
        path: A JSONL file or a folder.

    Returns:
        An iterator of documents.

    Raises:
        CorpusFormatError: The path is missing ("corpus not found: ..."), is a file that is
            not ``.jsonl``, or its content is malformed.
        DuplicateDocumentError: An id repeats within a JSONL file.
    """
    corpus_path = Path(path)
    if not corpus_path.exists():
        raise CorpusFormatError(f"corpus not found: {corpus_path}")
    if corpus_path.is_dir():
        if (corpus_path / _BEIR_CORPUS_FILE).is_file():
            return read_beir_corpus(corpus_path)
        return read_text_folder(corpus_path)
    if corpus_path.suffix.lower() == ".jsonl":
        return read_jsonl(corpus_path)
    raise CorpusFormatError(
        f"{corpus_path}: unsupported corpus file; expected a .jsonl file, a BEIR dataset "
        "folder or a folder of .txt/.md files"
    )
