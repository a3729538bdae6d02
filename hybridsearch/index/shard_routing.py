"""Which shard owns a document, and the sharded index's top manifest.

Routing is a stable hash of the document id (the first 8 bytes of its UTF-8 sha256, modulo the
number of shards), never Python's ``hash()``, which is salted per process: every process and
machine routes an id to the same shard, so adds, updates and deletes find their document.

A sharded index is a directory with a top ``manifest.json`` whose ``format`` is
:data:`SHARDED_FORMAT`, and one ordinary index directory per shard under ``shards/``. A shard
that received no document has no directory until a document is added to it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from hybridsearch.corpus.documents import Document
from hybridsearch.errors import IndexFormatError, InvalidInputError
from hybridsearch.index import storage
from hybridsearch.index.shard_searcher import POSITION_FIELD

__all__ = [
    "SHARDED_FORMAT",
    "SHARDED_FORMAT_VERSION",
    "ShardedManifest",
    "is_sharded_index",
    "read_sharded_manifest",
    "shard_name",
    "shard_of",
    "split_by_shard",
    "with_positions",
]

SHARDED_FORMAT = "hybridsearch-sharded-index"
SHARDED_FORMAT_VERSION = 1
SHARDS_DIR = "shards"


def shard_of(doc_id: str, num_shards: int) -> int:
    """The shard that owns ``doc_id``: sha256 of its UTF-8, first 8 bytes big-endian, mod N."""
    digest = hashlib.sha256(doc_id.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % num_shards


def shard_name(number: int) -> str:
    """The folder of shard ``number`` under ``shards/``."""
    return f"shard_{number:04d}"


def with_positions(documents: Iterable[Document], start: int) -> list[Document]:
    """The documents with their corpus position (``start``, ``start + 1``, ...) recorded.

    Raises:
        InvalidInputError: a document already uses the reserved metadata field.
    """
    placed = []
    for offset, document in enumerate(documents):
        if POSITION_FIELD in document.metadata:
            raise InvalidInputError(
                f"Document {document.id!r}: the metadata field {POSITION_FIELD!r} is reserved "
                "by sharded indexes"
            )
        metadata = {**document.metadata, POSITION_FIELD: start + offset}
        placed.append(replace(document, metadata=metadata))
    return placed


def split_by_shard(documents: Sequence[Document], num_shards: int) -> list[list[Document]]:
    """The documents of each shard, corpus order kept within each."""
    shards: list[list[Document]] = [[] for _ in range(num_shards)]
    for document in documents:
        shards[shard_of(document.id, num_shards)].append(document)
    return shards


@dataclass(frozen=True)
class ShardedManifest:
    """The top manifest of a sharded index.

    Attributes:
        directory: The sharded index directory.
        num_shards: How many shards ids are routed over (fixed at build).
        present: Per shard, whether its directory exists (it holds or held documents).
        data: The manifest as read (settings, model, counts, build info).
    """

    directory: Path
    num_shards: int
    present: tuple[bool, ...]
    data: Mapping[str, Any]

    def shard_directory(self, number: int) -> Path:
        """Where shard ``number`` lives."""
        return self.directory / SHARDS_DIR / shard_name(number)


def is_sharded_index(path: str | Path) -> bool:
    """Whether ``path`` holds a sharded index (its top manifest says so)."""
    manifest = Path(path) / storage.MANIFEST_NAME
    if not manifest.is_file():
        return False
    try:
        return json.loads(manifest.read_text()).get("format") == SHARDED_FORMAT
    except (OSError, ValueError, AttributeError):
        return False


def read_sharded_manifest(path: str | Path) -> ShardedManifest:
    """Read and check a sharded index's top manifest.

    Raises:
        IndexFormatError: not a sharded index, another format version, or a bad field.
    """
    directory = storage.resolve_index_directory(path)
    where = directory / storage.MANIFEST_NAME
    try:
        data = json.loads(where.read_text())
    except FileNotFoundError:
        raise IndexFormatError(f"{where}: missing; {directory} is not an index") from None
    except (OSError, ValueError) as error:
        raise IndexFormatError(f"{where}: unreadable JSON ({error})") from None
    if not isinstance(data, dict) or data.get("format") != SHARDED_FORMAT:
        raise IndexFormatError(f"{where}: 'format' is not {SHARDED_FORMAT!r}")
    if data.get("format_version") != SHARDED_FORMAT_VERSION:
        raise IndexFormatError(
            f"{where}: format_version {data.get('format_version')!r}, expected "
            f"{SHARDED_FORMAT_VERSION}; rebuild with hybridsearch build --shards"
        )
    num_shards = data.get("num_shards")
    if not isinstance(num_shards, int) or isinstance(num_shards, bool) or num_shards < 1:
        raise IndexFormatError(f"{where}: 'num_shards' must be an int >= 1, got {num_shards!r}")
    manifest = ShardedManifest(directory, num_shards, (), data)
    present = tuple(
        (manifest.shard_directory(number) / storage.MANIFEST_NAME).is_file()
        for number in range(num_shards)
    )
    if not any(present):
        raise IndexFormatError(f"{directory / SHARDS_DIR}: no shard directory holds an index")
    return replace(manifest, present=present)
