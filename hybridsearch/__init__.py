"""hybridsearch: hybrid semantic + BM25 search.

The public API is what ``__all__`` lists; everything else is internal.
"""

from __future__ import annotations

from hybridsearch.errors import (
    ChecksumError,
    CorpusFormatError,
    DuplicateDocumentError,
    EmptyCorpusError,
    HybridSearchError,
    IndexFormatError,
    IndexVersionError,
    InvalidInputError,
    ModelLoadError,
    ModelMismatchError,
)

__version__ = "0.1.0"

__all__ = [
    "ChecksumError",
    "CorpusFormatError",
    "DuplicateDocumentError",
    "EmptyCorpusError",
    "HybridSearchError",
    "IndexFormatError",
    "IndexVersionError",
    "InvalidInputError",
    "ModelLoadError",
    "ModelMismatchError",
    "__version__",
]
