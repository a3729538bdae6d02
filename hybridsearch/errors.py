"""Errors raised by hybridsearch.

Every error the library raises on purpose derives from :class:`HybridSearchError`, so callers
can catch one type. The subclasses say what went wrong: the input, an index on disk, or the
model. Each also derives from the builtin a caller would expect (``ValueError`` for bad
input), so ``except ValueError`` keeps working.
"""

from __future__ import annotations


class HybridSearchError(Exception):
    """Base class of every error hybridsearch raises on purpose."""


class InvalidInputError(HybridSearchError, ValueError):
    """An argument or a record is not what was expected (the message says which and why)."""


class EmptyCorpusError(InvalidInputError):
    """A corpus with no documents, or no passages, was given where one is needed."""


class DuplicateDocumentError(InvalidInputError):
    """Two documents share one id."""


class CorpusFormatError(InvalidInputError):
    """A corpus file could not be read: the message names the file and the line."""


class IndexFormatError(HybridSearchError):
    """A path is not a hybridsearch index, or a file in it is missing or unreadable."""


class IndexVersionError(IndexFormatError):
    """An index was written by a format version this release cannot read."""


class ChecksumError(IndexFormatError):
    """A file in an index does not match the checksum in its manifest (truncated or altered)."""


class ModelLoadError(HybridSearchError):
    """A model folder or name could not be loaded (the message names the path)."""


class ModelMismatchError(HybridSearchError):
    """Vectors of one model were about to be compared with vectors of another."""


class UnknownDocumentError(InvalidInputError):
    """A document id given to delete or look up is not (or no longer) in the index."""


class ReadOnlyIndexError(HybridSearchError):
    """A write was asked of an index opened for reading (use ``HybridIndex.open``)."""


class IndexLockedError(HybridSearchError):
    """Another writer holds the index open; one writer at a time."""


class IndexWriteError(HybridSearchError):
    """Writing to the index failed (a full disk, permissions); the last commit is intact."""
