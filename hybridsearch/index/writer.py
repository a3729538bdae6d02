"""Writing an index: new segments, commits, and the first write of a whole directory.

Every write goes to new files (a segment folder, a deletes bitmap, a commit file); nothing
existing is changed, so a failure at any point, a full disk included, leaves the last commit
as it was. The error says what failed and that the last commit is intact.
"""

from __future__ import annotations

import errno
import json
import shutil
import time
import uuid
from collections.abc import Callable, Mapping
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from hybridsearch.errors import IndexFormatError, IndexWriteError
from hybridsearch.index import storage
from hybridsearch.index.commit import (
    DELETES_DIR,
    SEGMENTS_DIR,
    Commit,
    SegmentEntry,
    WriteLock,
    collect_garbage,
    latest_generation,
    read_commit,
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
    manifest: Mapping[str, Any] | None = None,
    search_defaults: Mapping[str, Any] | None = None,
) -> Commit:
    """Commit ``snapshot``: write its changed deletes, then the commit file; collect garbage.

    ``manifest`` (model, model source, settings) is recorded in the commit; None keeps the
    previous commit's. ``search_defaults`` is the index's tuned fusion as data (None: the
    library defaults).
    """
    generation = (previous.generation if previous is not None else 0) + 1
    committed = {entry.name: entry for entry in previous.segments} if previous else {}
    if manifest is None and previous is not None:
        manifest = previous.manifest

    def write() -> Commit:
        entries = []
        for segment, dead in zip(snapshot.segments, snapshot.dead_documents, strict=True):
            old = committed.get(segment.name)
            entries.append(_entry(directory, segment, dead, old, generation))
        fields = dict(manifest) if manifest is not None else None
        defaults = None if search_defaults is None else dict(search_defaults)
        commit = Commit(generation, tuple(entries), dict(info), defaults, fields)
        storage.upgrade_format_version(directory)  # before a commit an older release misreads
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
    """Write ``snapshot`` as the index at ``path``: a new directory, or a commit over an index.

    Where there is no index, the whole directory is written beside ``path`` and renamed into
    place. Over an existing index, the save is a commit, as :meth:`HybridIndex.commit` makes
    one: under the index's write lock, the snapshot's segments are copied in (those already
    there are kept), then one commit file naming them (and the manifest fields) is
    published. Readers see the previous commit or this one, never a mix, and never a missing
    directory; a crash leaves the previous commit. Any other non-empty directory, or a file,
    is refused.

    Raises:
        IndexLockedError: another writer holds the index (an open index, or another save);
            the message names the lock and its holder.
        IndexFormatError: ``path`` is a file or a directory that is not an index.
        IndexVersionError: ``path`` holds an index of a newer format version (left as it is).
        IndexWriteError: writing failed (a full disk...); the last commit is intact.
    """
    target = storage.resolve_index_directory(path)
    storage.check_index_destination(target)
    if not (target / storage.MANIFEST_NAME).is_file():
        write_files = _whole_index(snapshot, manifest, info, search_defaults)
        if storage.create_index_directory(target, write_files, manifest):
            return
        # Another process created an index there meanwhile: save over it, as a commit.
    _commit_over(target, snapshot, manifest, info, search_defaults)


def _commit_over(
    target: Path,
    snapshot: Snapshot,
    manifest: Mapping[str, Any],
    info: Mapping[str, Any],
    search_defaults: Mapping[str, Any] | None,
) -> None:
    """Save ``snapshot`` over the index at ``target`` as one commit, under its write lock."""
    lock = WriteLock(target)
    lock.acquire()
    try:
        try:
            written = storage.read_manifest(target, verify_checksums=False)
        except IndexFormatError:
            # An older format version (or a damaged manifest): no reader of this version can
            # be reading it, so it is replaced whole, still under its lock. A newer version is
            # another release's work, which this one cannot even read: refused, not destroyed.
            storage.refuse_newer_format(target)
            write_files = _whole_index(snapshot, manifest, info, search_defaults)
            storage.write_index_directory(target, write_files, manifest, list_files=False)
            return
        collect_garbage(target)  # what a crashed writer left uncommitted
        generation = latest_generation(target)
        previous = read_commit(target, generation) if generation is not None else None
        guarded("copying segments", target, lambda: _copy_missing_segments(target, snapshot))
        publish(target, snapshot, previous, info, manifest, search_defaults)
        # manifest.json follows the newest commit (readers take the fields from the commit).
        wanted = json.loads(json.dumps(storage.full_manifest_of(manifest, {})))
        if written != wanted:
            replace = partial(storage.replace_manifest, target, manifest)
            guarded("writing the manifest", target, replace)
    finally:
        lock.release()


def _copy_missing_segments(target: Path, snapshot: Snapshot) -> None:
    """Copy into ``target`` each segment of ``snapshot`` it does not hold yet (segments are
    immutable and uniquely named, so one of the same name is the same segment)."""
    folder = target / SEGMENTS_DIR
    folder.mkdir(exist_ok=True)
    (target / DELETES_DIR).mkdir(exist_ok=True)
    for segment in snapshot.segments:
        destination = folder / segment.name
        if destination.is_dir():
            continue
        # Copied under a temporary name, then renamed: a crash leaves only a folder no
        # commit names, which the next writer removes.
        temporary = folder / f"{segment.name}.copying-{uuid.uuid4().hex[:8]}"
        try:
            _copy_segment(segment, temporary)
            temporary.rename(destination)
        except BaseException:
            shutil.rmtree(temporary, ignore_errors=True)
            raise
    storage.fsync_directory(folder)


def _copy_segment(segment: Segment, destination: Path) -> None:
    """Copy a segment's folder, every file fsynced (a commit will name it)."""
    shutil.copytree(segment.directory, destination)
    for path in sorted(p for p in destination.rglob("*") if p.is_file()):
        storage.fsync_file(path)
    for directory in [destination, *(p for p in destination.rglob("*") if p.is_dir())]:
        storage.fsync_directory(directory)


def _whole_index(
    snapshot: Snapshot,
    manifest: Mapping[str, Any],
    info: Mapping[str, Any],
    search_defaults: Mapping[str, Any] | None,
) -> Callable[[Path], None]:
    """What writes a whole new index directory of ``snapshot`` (segments and one commit)."""

    def write_files(staging: Path) -> None:
        (staging / SEGMENTS_DIR).mkdir()
        for segment in snapshot.segments:
            _copy_segment(segment, staging / SEGMENTS_DIR / segment.name)
        (staging / DELETES_DIR).mkdir()
        publish(staging, snapshot, None, info, manifest, search_defaults)

    return write_files
