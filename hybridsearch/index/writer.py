"""Writing an index: new segments, commits, and the first write of a whole directory.

Every write goes to new files (a segment folder, a deletes bitmap, a commit file); nothing
existing is changed, so a failure at any point, a full disk included, leaves the last commit
as it was. The error says what failed and that the last commit is intact.
"""

from __future__ import annotations

import errno
import shutil
import time
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from hybridsearch.errors import IndexWriteError
from hybridsearch.index import storage
from hybridsearch.index.commit import (
    DELETES_DIR,
    SEGMENTS_DIR,
    Commit,
    SegmentEntry,
    WriteLock,
    collect_garbage,
    read_deletes,
    write_commit,
    write_deletes,
)
from hybridsearch.index.segment import Segment, SegmentContent, open_segment, write_segment
from hybridsearch.index.snapshot import Snapshot

__all__ = ["guarded", "new_segment", "publish", "write_new_index"]

T = TypeVar("T")


def guarded(what: str, directory: Path, action: Callable[[], T]) -> T:
    """Run a write, turning an OSError into an IndexWriteError that says what is intact."""
    try:
        return action()
    except OSError as error:
        why = "no space left on the device" if error.errno == errno.ENOSPC else str(error)
        raise IndexWriteError(
            f"{what} in {directory} failed: {why}; nothing was committed, the last commit "
            "is intact"
        ) from error


def new_segment(directory: Path, content: SegmentContent) -> Segment:
    """Write ``content`` as a new (not yet committed) segment of the index at ``directory``."""
    name = f"seg_{time.time_ns() // 1_000_000:013d}_{uuid.uuid4().hex[:8]}"
    folder = directory / SEGMENTS_DIR / name

    def write() -> Segment:
        try:
            write_segment(folder, content)
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        return open_segment(folder)

    return guarded("writing a segment", directory, write)


def publish(
    directory: Path,
    snapshot: Snapshot,
    previous: Commit | None,
    info: Mapping[str, Any],
    search_defaults: Mapping[str, Any] | None = None,
) -> Commit:
    """Commit ``snapshot``: write its changed deletes, then the commit file; collect garbage.

    ``search_defaults`` is the index's tuned fusion as data (None: the library defaults).
    """
    generation = (previous.generation if previous is not None else 0) + 1
    committed = {entry.name: entry for entry in previous.segments} if previous else {}

    def write() -> Commit:
        entries = []
        for segment, dead in zip(snapshot.segments, snapshot.dead_documents, strict=True):
            old = committed.get(segment.name)
            entries.append(_entry(directory, segment, dead, old, generation))
        defaults = None if search_defaults is None else dict(search_defaults)
        commit = Commit(generation, tuple(entries), dict(info), defaults)
        write_commit(directory, commit)
        return commit

    commit = guarded("committing", directory, write)
    collect_garbage(directory)
    return commit


def _entry(
    directory: Path, segment: Segment, dead: np.ndarray, old: SegmentEntry | None, generation: int
) -> SegmentEntry:
    """A segment's commit entry, reusing the last commit's deletes file when unchanged."""
    live = int((~dead).sum())
    if not dead.any():
        return SegmentEntry(segment.name, None, live)
    if (
        old is not None
        and old.deletes is not None
        and np.array_equal(read_deletes(directory, old.deletes, segment.num_documents), dead)
    ):
        return SegmentEntry(segment.name, old.deletes, live)
    name = write_deletes(directory, segment.name, generation, dead)
    return SegmentEntry(segment.name, name, live)


def write_new_index(
    path: str | Path,
    snapshot: Snapshot,
    manifest: Mapping[str, Any],
    info: Mapping[str, Any],
    search_defaults: Mapping[str, Any] | None = None,
) -> None:
    """Write a whole index directory atomically: its manifest, segments, and one commit.

    An existing index at ``path`` is replaced only when the new one is complete; any other
    non-empty directory is refused (see :func:`hybridsearch.index.storage.write_index_directory`).

    Raises:
        IndexLockedError: the index at ``path`` is open for writing (or being saved over) by
            another writer, whose next commit would name segments this save removed.
    """

    def write_files(staging: Path) -> None:
        (staging / SEGMENTS_DIR).mkdir()
        for segment in snapshot.segments:
            shutil.copytree(segment.directory, staging / SEGMENTS_DIR / segment.name)
        (staging / DELETES_DIR).mkdir()
        publish(staging, snapshot, None, info, search_defaults)

    # Replacing an index is a write to it: hold its writer lock until the swap is done.
    target = storage.resolve_index_directory(path)
    lock = WriteLock(target) if (target / storage.MANIFEST_NAME).is_file() else None
    if lock is not None:
        lock.acquire()
    try:
        storage.write_index_directory(path, write_files, manifest, list_files=False)
    finally:
        if lock is not None:
            lock.release()
