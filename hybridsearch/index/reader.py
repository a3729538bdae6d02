"""Opening an index directory: its manifest, its newest commit, and a snapshot of it.

::

    manifest.json                 format, model identity, settings per component (fixed)
    commit_<generation>.json      the live segments and their deletes (newest one wins)
    segments/<name>/              immutable segments (see :mod:`hybridsearch.index.segment`)
    deletes/<segment>_<gen>.npy   deleted-documents bitmaps
    write.lock                    held by the one writer

A reader retries when a commit appears, or garbage collection removes a file, while it opens
the previous one: it always ends with every part from one commit.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from hybridsearch.errors import IndexFormatError
from hybridsearch.index import storage
from hybridsearch.index.commit import (
    SEGMENTS_DIR,
    Commit,
    latest_generation,
    read_commit,
    read_deletes,
)
from hybridsearch.index.segment import Segment, open_segment
from hybridsearch.index.settings import IndexSettings
from hybridsearch.index.snapshot import Snapshot

__all__ = ["OpenedIndex", "read_index", "read_manifest"]

_RETRIES = 8


@dataclass(frozen=True)
class OpenedIndex:
    """What :func:`read_index` found."""

    directory: Path
    settings: IndexSettings
    model_identity: Any
    model_source: str | None
    commit: Commit
    snapshot: Snapshot


def read_manifest(
    directory: Path, commit: Commit | None = None
) -> tuple[IndexSettings, Any, str | None]:
    """The settings, model identity and model source of a commit, read strictly.

    They come from the commit (``commit``, or the newest one when None) where it records
    them, else from ``manifest.json`` (commits of earlier releases), whose format and
    version are checked in any case.
    """
    from hybridsearch.dense.identity import ModelIdentity

    manifest = storage.read_manifest(directory, verify_checksums=False)
    where = str(directory / storage.MANIFEST_NAME)
    if commit is None:
        commit = _newest_commit(directory)
    if commit is not None and commit.manifest is not None:
        manifest = commit.manifest
        where = f"{directory}: commit {commit.generation}"
    for key in ("model", "settings"):
        if key not in manifest:
            raise IndexFormatError(f"{where}: the manifest has no {key!r}")
    settings = IndexSettings.from_dict(manifest["settings"], where=f"{where}: settings")
    identity = ModelIdentity.from_dict(manifest["model"], where=f"{where}: model")
    return settings, identity, manifest.get("model_source")


def _newest_commit(directory: Path) -> Commit | None:
    """The newest commit, or None if there is none (or it went while being read)."""
    for _ in range(_RETRIES):
        generation = latest_generation(directory)
        if generation is None:
            return None
        try:
            return read_commit(directory, generation)
        except FileNotFoundError:  # collected after a newer commit: read that one
            continue
    return None


def read_index(
    path: str | Path, *, verify_checksums: bool = False, mmap: bool = True
) -> OpenedIndex:
    """Open the newest commit of the index at ``path``; change nothing on disk.

    Settings, model and segments all come from that one commit point, so a save or commit
    running meanwhile is seen whole or not at all.

    Raises:
        IndexFormatError: not an index, no commit, or a part missing or malformed.
        IndexVersionError: another format version (the message says how to rebuild).
        ChecksumError: a file's size (or, with ``verify_checksums``, sha256) is wrong.
    """
    directory = storage.index_directory(path)
    storage.read_manifest(directory, verify_checksums=False)  # an index of this format
    for attempt in range(_RETRIES):
        generation = latest_generation(directory)
        if generation is None:
            raise IndexFormatError(f"{directory}: the index has no commit (commit_*.json)")
        commit = None
        try:
            commit = read_commit(directory, generation)
            settings, identity, model_source = read_manifest(directory, commit)
            snapshot = _open_snapshot(directory, commit, settings, verify_checksums, mmap)
        except (FileNotFoundError, IndexFormatError) as error:
            # Once newer commits exist, garbage collection deletes this commit's files, and a
            # part vanishing mid-open reads as missing or malformed: open the newest commit.
            # A failing commit that is still the newest is damaged: say what is wrong.
            if _still_newest(directory, generation, commit):
                if isinstance(error, FileNotFoundError):
                    raise IndexFormatError(
                        f"{directory}: commit {generation} names {error.filename or error}, "
                        "which is missing; restore or rebuild the index"
                    ) from error
                raise
            if attempt == _RETRIES - 1:
                raise IndexFormatError(
                    f"{directory}: files of commit {generation} kept disappearing while it was "
                    "opened (a writer is committing very fast); try again"
                ) from None
            continue
        return OpenedIndex(directory, settings, identity, model_source, commit, snapshot)
    raise AssertionError("unreachable")


def _still_newest(directory: Path, generation: int, commit: Commit | None) -> bool:
    """Whether the commit being opened is still the newest one, unchanged."""
    try:
        if latest_generation(directory) != generation:
            return False
        return commit is None or read_commit(directory, generation) == commit
    except (FileNotFoundError, IndexFormatError):
        return False


def _open_snapshot(
    directory: Path, commit: Commit, settings: IndexSettings, verify: bool, mmap: bool
) -> Snapshot:
    segments: list[Segment] = []
    dead: list[np.ndarray] = []
    root = directory.resolve()
    for entry in commit.segments:
        folder = directory / SEGMENTS_DIR / entry.name
        if not folder.is_dir():
            raise FileNotFoundError(folder)
        storage.check_inside(folder, root, "index")  # a segment folder linked elsewhere
        segment = open_segment(folder, verify_checksums=verify, mmap=mmap)
        deletes = (
            read_deletes(directory, entry.deletes, segment.num_documents)
            if entry.deletes
            else np.zeros(segment.num_documents, dtype=np.bool_)
        )
        if int((~deletes).sum()) != entry.live_documents:
            raise IndexFormatError(
                f"{directory}: commit {commit.generation} says segment {entry.name} has "
                f"{entry.live_documents} live documents, its deletes leave {(~deletes).sum()}"
            )
        segments.append(segment)
        dead.append(deletes)
    return Snapshot(
        segments, dead, settings.bm25, settings.vectors.ef_search, settings.vectors.ivf_probe
    )
