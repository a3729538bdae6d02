"""Readers that stream documents from disk: JSONL files, BEIR dataset folders, text folders.

The readers are generators, so a large corpus streams through the chunker without being held
in memory. Each reader checks its path when called (not on the first ``next()``), so a typo in
a path fails where the path was given. Within one JSONL file the readers also reject duplicate
ids, naming both line numbers; :func:`~hybridsearch.corpus.documents.check_unique_ids` does the
same for any iterable of documents. Detecting an empty corpus is left to the caller (the
index), which knows whether empty is acceptable.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from hybridsearch.corpus.documents import Document
from hybridsearch.corpus.jsonl import iter_jsonl_records, json_type_name, record_id
from hybridsearch.errors import (
    CorpusFormatError,
    DuplicateDocumentError,
    HybridSearchError,
    InvalidInputError,
)
from hybridsearch.validation import printable

__all__ = [
    "BEIR_CORPUS_FILE",
    "TEXT_FILE_SUFFIXES",
    "document_from_record",
    "read_beir_corpus",
    "read_corpus",
    "read_jsonl",
    "read_text_folder",
]

#: File name endings read by :func:`read_text_folder` (compared case-insensitively).
TEXT_FILE_SUFFIXES: frozenset[str] = frozenset({".txt", ".md"})

#: The name of the corpus file inside a BEIR dataset folder.
BEIR_CORPUS_FILE = "corpus.jsonl"

_JSONL_EXPECTED = (
    'expected one JSON object per line with "id" (or "_id") and "text", '
    'optional "title" and "metadata"'
)


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
    for line_no, record in iter_jsonl_records(jsonl_path, expected=_JSONL_EXPECTED):
        document = document_from_record(record, f"{jsonl_path}:{line_no}")
        first_line = first_line_by_id.setdefault(document.id, line_no)
        if first_line != line_no:
            raise DuplicateDocumentError(
                f"{jsonl_path}:{line_no}: document id {document.id!r} already used on line "
                f"{first_line}; expected unique ids"
            )
        yield document


def document_from_record(
    record: Mapping[str, Any], where: str, *, error: type[HybridSearchError] = CorpusFormatError
) -> Document:
    """The :class:`Document` a JSONL record describes (the format :func:`read_jsonl` reads).

    Args:
        record: A record from :func:`~hybridsearch.corpus.jsonl.iter_jsonl_records`.
        where: ``"{path}:{line}"``, the start of any message.
        error: The exception class raised (an index reading its own documents file passes
            :class:`~hybridsearch.errors.IndexFormatError`).

    Raises:
        error: A field is missing or of the wrong JSON type, or holds what a Document
            refuses (a lone surrogate, metadata of another type); the message names it.
    """
    document_id = record_id(record, where, error=error)
    if "text" not in record:
        raise error(f'{where}: document {document_id!r} has no "text"; expected a "text" string')
    text = record["text"]
    if not isinstance(text, str):
        raise error(
            f'{where}: document {document_id!r} "text" is a JSON {json_type_name(text)}; '
            "expected a string"
        )
    # BEIR writes "title": "" for untitled documents; null is read the same way.
    title = record.get("title")
    if title is None:
        title = ""
    elif not isinstance(title, str):
        raise error(
            f'{where}: document {document_id!r} "title" is a JSON {json_type_name(title)}; '
            "expected a string"
        )
    metadata = record.get("metadata")
    if metadata is None:
        metadata = {}
    elif not isinstance(metadata, dict):
        raise error(
            f'{where}: document {document_id!r} "metadata" is a JSON '
            f"{json_type_name(metadata)}; expected an object"
        )
    try:
        return Document(id=document_id, text=text, title=title, metadata=metadata)
    except InvalidInputError as refused:  # the file and line, then what Document said
        raise error(f"{where}: {refused}") from None


def read_text_folder(
    path: str | os.PathLike[str], *, follow_symlinks: bool = False
) -> Iterator[Document]:
    """Stream one document per ``.txt`` / ``.md`` file below a folder (recursively).

    The id is the file's path relative to the folder with ``/`` separators (unique by
    construction, stable across machines), the title its stem, the text its UTF-8 content.
    Files and folders whose names start with ``.`` are skipped (``.git``, editor and notebook
    checkpoints), other extensions are ignored, symbolic links to folders are not followed,
    and the order is sorted by path so ids and passage ids are reproducible.

    A symbolic link to a file is read only if it resolves to a file inside the folder: a link
    that leads out of it (``notes.txt -> /etc/...``) is skipped, so indexing a folder never
    indexes text from elsewhere unless asked (``follow_symlinks=True``). Broken links are
    skipped.

    Args:
        path: The folder.
        follow_symlinks: Also read file links that resolve outside the folder.

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
    return _iter_text_folder_documents(folder, follow_symlinks)


def _iter_text_folder_documents(folder: Path, follow_symlinks: bool) -> Iterator[Document]:
    for file_path in _text_files_below(folder, follow_symlinks):
        relative_id = file_path.relative_to(folder).as_posix()
        try:
            text = file_path.read_bytes().decode("utf-8")
        except UnicodeDecodeError as exc:
            raise CorpusFormatError(
                f"{file_path}: not valid UTF-8 (byte {exc.start}); expected UTF-8 text"
            ) from None
        except OSError as exc:
            raise CorpusFormatError(f"{file_path}: cannot be read ({exc.strerror})") from None
        try:
            document = Document(
                id=relative_id, text=text.removeprefix("\ufeff"), title=file_path.stem
            )
        except InvalidInputError as refused:  # a file name that is not UTF-8
            raise CorpusFormatError(f"{printable(str(file_path))}: {refused}") from None
        yield document


def _text_files_below(folder: Path, follow_symlinks: bool) -> Iterator[Path]:
    """Text files below a folder, depth-first in sorted order, hidden names skipped, and
    file links leading out of the folder skipped unless ``follow_symlinks``."""
    root = folder.resolve()
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
                and (follow_symlinks or not file_path.is_symlink() or _inside(file_path, root))
            ):
                yield file_path


def _inside(link: Path, root: Path) -> bool:
    """Whether a link resolves to a path inside ``root`` (itself resolved)."""
    return link.resolve().is_relative_to(root)


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
    corpus_path = dataset_path / BEIR_CORPUS_FILE
    if not corpus_path.is_file():
        raise CorpusFormatError(
            f"{dataset_path}: no {BEIR_CORPUS_FILE}; expected a BEIR dataset folder"
        )
    return read_jsonl(corpus_path)


def read_corpus(
    path: str | os.PathLike[str], *, follow_symlinks: bool = False
) -> Iterator[Document]:
    """Stream documents from a path, choosing the reader by what the path is.

    - a ``.jsonl`` file: :func:`read_jsonl`;
    - a folder containing ``corpus.jsonl``: a BEIR dataset, :func:`read_beir_corpus`;
    - a folder with BEIR's ``queries.jsonl`` or ``qrels/`` but no ``corpus.jsonl``: refused,
      saying that ``corpus.jsonl`` is missing (not read as an empty text folder);
    - any other folder: :func:`read_text_folder`.

    Args:
        path: A JSONL file or a folder.
        follow_symlinks: For a text folder, also read file links that lead out of it.

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
        if (corpus_path / BEIR_CORPUS_FILE).is_file():
            return read_beir_corpus(corpus_path)
        _refuse_beir_without_corpus(corpus_path)
        return read_text_folder(corpus_path, follow_symlinks=follow_symlinks)
    if corpus_path.suffix.lower() == ".jsonl":
        return read_jsonl(corpus_path)
    raise CorpusFormatError(
        f"{corpus_path}: unsupported corpus file; expected a .jsonl file, a BEIR dataset "
        "folder or a folder of .txt/.md files"
    )


def _refuse_beir_without_corpus(folder: Path) -> None:
    """A folder holding BEIR's other parts but not its corpus is an incomplete dataset."""
    found = [name for name in ("queries.jsonl", "qrels") if (folder / name).exists()]
    if found:
        raise CorpusFormatError(
            f"{folder}: no {BEIR_CORPUS_FILE}, but it has {' and '.join(found)}: a BEIR "
            f"dataset folder needs its {BEIR_CORPUS_FILE} (an incomplete download or copy?)"
        )
