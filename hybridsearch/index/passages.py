"""The passage table: documents and, per passage, its document row and span, as columns.

Passages are not held as one object each: four numpy columns (document row, start, end,
whether the title was carried) say everything a hit needs, and a passage's text is rebuilt
from its document on demand, so the table cannot disagree with the documents. On disk::

    documents.jsonl          one document per line (id, title, text, metadata)
    passages/<column>.npy    one array per column, row = passage id
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hybridsearch.corpus.documents import Document, Passage
from hybridsearch.corpus.jsonl import iter_jsonl_records
from hybridsearch.corpus.readers import document_from_record
from hybridsearch.errors import IndexFormatError
from hybridsearch.search.hits import PassageView

__all__ = ["DOCUMENTS_FILE", "PASSAGES_DIR", "PassageTable"]

DOCUMENTS_FILE = "documents.jsonl"
PASSAGES_DIR = "passages"
_COLUMNS = {"document_rows": np.int64, "starts": np.int64, "ends": np.int64, "title_carried": bool}


@dataclass(frozen=True)
class PassageTable:
    """Documents, and per passage (row = passage id) its document row and span.

    Attributes:
        documents: The documents, in index order (a document's row is its position).
        document_rows: Per passage, its document's row.
        starts: Per passage, where its body starts in the document's text.
        ends: Per passage, where its body ends (exclusive).
        title_carried: Per passage, whether the document's title was indexed with it.
    """

    documents: Sequence[Document]
    document_rows: np.ndarray
    starts: np.ndarray
    ends: np.ndarray
    title_carried: np.ndarray

    @classmethod
    def from_passages(
        cls, documents: Sequence[Document], passages: Sequence[Passage]
    ) -> PassageTable:
        """The table of the chunker's passages (whose ids must be 0..n-1 in order)."""
        row_of = {document.id: row for row, document in enumerate(documents)}
        count = len(passages)
        return cls(
            documents=list(documents),
            document_rows=np.fromiter((row_of[p.doc_id] for p in passages), np.int64, count),
            starts=np.fromiter((p.start for p in passages), np.int64, count),
            ends=np.fromiter((p.end for p in passages), np.int64, count),
            title_carried=np.fromiter((bool(p.title) for p in passages), bool, count),
        )

    def __len__(self) -> int:
        return len(self.document_rows)

    # -- what the search layer reads (the PassageLookup protocol) ---------------------------

    def document_rows_of(self, passage_ids: np.ndarray) -> np.ndarray:
        """The document row of each passage id."""
        return self.document_rows[passage_ids]

    def passage_view(self, passage_id: int) -> PassageView:
        """The document and span of one passage, as a hit shows it."""
        document = self.documents[int(self.document_rows[passage_id])]
        start, end = int(self.starts[passage_id]), int(self.ends[passage_id])
        return PassageView(
            doc_id=document.id,
            text=document.text[start:end],
            title=document.title,
            start=start,
            end=end,
            metadata=document.metadata,
        )

    def indexed_text(self, passage_id: int) -> str:
        """The text both legs indexed for a passage: the title line when carried, the body."""
        document = self.documents[int(self.document_rows[passage_id])]
        return Passage.from_span(
            document,
            passage_id,
            int(self.starts[passage_id]),
            int(self.ends[passage_id]),
            carry_title=bool(self.title_carried[passage_id]),
        ).indexed_text

    # -- on disk ----------------------------------------------------------------------------

    def save(self, directory: Path) -> None:
        """Write ``documents.jsonl`` and the passage columns into ``directory``."""
        with open(directory / DOCUMENTS_FILE, "w", encoding="utf-8") as handle:
            for document in self.documents:
                record = {
                    "id": document.id,
                    "title": document.title,
                    "text": document.text,
                    "metadata": dict(document.metadata),
                }
                handle.write(json.dumps(record, ensure_ascii=False) + "\n")
        columns_dir = directory / PASSAGES_DIR
        columns_dir.mkdir()
        for name, dtype in _COLUMNS.items():
            np.save(columns_dir / f"{name}.npy", np.asarray(getattr(self, name), dtype=dtype))

    @classmethod
    def load(cls, directory: Path) -> PassageTable:
        """Read a table written by :meth:`save`, checking the columns agree.

        Raises:
            IndexFormatError: a file is unreadable, a record malformed, or the columns
                disagree with each other or with the documents.
        """
        documents = _read_documents(directory / DOCUMENTS_FILE)
        columns = {name: _load_column(directory / PASSAGES_DIR, name) for name in _COLUMNS}
        lengths = {len(column) for column in columns.values()}
        rows = columns["document_rows"]
        if len(lengths) != 1 or (len(rows) and (rows.min() < 0 or rows.max() >= len(documents))):
            raise IndexFormatError(
                f"{directory / PASSAGES_DIR}: the passage columns disagree in length, or name "
                f"a document row outside 0..{len(documents) - 1}"
            )
        return cls(documents=documents, **columns)


def _read_documents(path: Path) -> list[Document]:
    return [
        document_from_record(record, f"{path}:{line_number}", error=IndexFormatError)
        for line_number, record in iter_jsonl_records(path, error=IndexFormatError)
    ]


def _load_column(directory: Path, name: str) -> np.ndarray:
    path = directory / f"{name}.npy"
    try:
        column = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as error:
        raise IndexFormatError(f"{path}: unreadable ({error})") from error
    if column.ndim != 1 or column.dtype != _COLUMNS[name]:
        raise IndexFormatError(
            f"{path}: expected a 1-D {np.dtype(_COLUMNS[name]).name} array, got "
            f"{column.dtype.name} of shape {column.shape}"
        )
    return column
