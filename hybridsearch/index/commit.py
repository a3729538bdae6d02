"""Commits: which segments (and which of their documents) make up the index, swapped atomically.

As Lucene's ``segments_N``: each commit is a small file ``commit_<generation>.json`` naming the
live segments and, for each, the bitmap of its deleted documents (``deletes/<segment>_<gen>.npy``,
written once, never changed). A commit is published by renaming its fully written, fsynced
temporary file into place, so a reader sees the previous commit or this one, never a mix; a
crash before the rename leaves only files no commit names, which the next writer removes.
Readers take the highest generation; if garbage collection removes a file they were about to
open, they retry with the newer commit.

One writer at a time: :class:`WriteLock` holds ``write.lock`` with ``flock``, which the
operating system releases when the process ends, so a crashed writer never leaves it stuck.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from hybridsearch.errors import IndexFormatError, IndexLockedError
from hybridsearch.index.storage import fsync_directory

__all__ = [
    "Commit",
    "SegmentEntry",
    "WriteLock",
    "collect_garbage",
    "latest_generation",
    "read_commit",
    "read_deletes",
    "write_commit",
    "write_deletes",
]

SEGMENTS_DIR = "segments"
DELETES_DIR = "deletes"
LOCK_FILE = "write.lock"
_COMMIT = re.compile(r"^commit_(\d{10})\.json$")
# What a commit may name under segments/ and deletes/: one plain file name, never a path.
_PLAIN_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")


@dataclass(frozen=True)
class SegmentEntry:
    """One segment as a commit names it.

    Attributes:
        name: The segment's folder under ``segments/``.
        deletes: The deleted-documents bitmap under ``deletes/``, or None if none.
        live_documents: Documents of the segment still live in this commit.
    """

    name: str
    deletes: str | None
    live_documents: int


@dataclass(frozen=True)
class Commit:
    """A commit point: the segments in index order, what the build recorded, and the
    index's search defaults (its tuned fusion, if ``tune`` fitted one; None otherwise), and the
    manifest fields (model, model source, settings) the segments were made with.

    The manifest fields live in the commit so a reader takes settings and segments from one
    commit point, even when a save over the index changed the settings; commits written
    before they were kept here have ``manifest`` None, and ``manifest.json`` holds them.
    """

    generation: int
    segments: tuple[SegmentEntry, ...]
    info: dict[str, Any] = field(default_factory=dict)
    search_defaults: dict[str, Any] | None = None
    manifest: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form, as written to ``commit_<generation>.json``."""
        data = {
            "generation": self.generation,
            "segments": [entry.__dict__ for entry in self.segments],
            "info": self.info,
        }
        if self.search_defaults is not None:
            data["search_defaults"] = self.search_defaults
        if self.manifest is not None:
            data["manifest"] = self.manifest
        return data


def commit_file(directory: Path, generation: int) -> Path:
    """The path of a generation's commit file."""
    return directory / f"commit_{generation:010d}.json"


def generations(directory: Path) -> list[int]:
    """Every commit generation present, ascending."""
    if not directory.is_dir():
        return []
    found = (_COMMIT.match(name) for name in os.listdir(directory))
    return sorted(int(match.group(1)) for match in found if match)


def latest_generation(directory: Path) -> int | None:
    """The newest commit's generation, or None when the index has no commit."""
    found = generations(directory)
    return found[-1] if found else None


def read_commit(directory: Path, generation: int) -> Commit:
    """Read one commit file, strictly (IndexFormatError naming the file and field)."""
    path = commit_file(directory, generation)
    try:
        data = json.loads(path.read_text())
        segments = tuple(
            SegmentEntry(str(e["name"]), e["deletes"], int(e["live_documents"]))
            for e in data["segments"]
        )
        defaults = data.get("search_defaults")
        if defaults is not None and not isinstance(defaults, dict):
            raise TypeError(f"search_defaults is {type(defaults).__name__}, expected an object")
        manifest = data.get("manifest")
        commit = Commit(
            int(data["generation"]),
            segments,
            dict(data.get("info") or {}),
            defaults,
            dict(manifest) if manifest is not None else None,
        )
    except FileNotFoundError:
        raise
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise IndexFormatError(f"{path}: malformed commit ({error})") from error
    for entry in commit.segments:
        _check_plain_name(path, "name", entry.name)
        if entry.deletes is not None:
            _check_plain_name(path, "deletes", entry.deletes)
    return commit


def _check_plain_name(path: Path, field_name: str, value: Any) -> None:
    """A segment or deletes name must be one plain file name: a forged ``../x`` or absolute
    path would make a reader open files outside the index."""
    if not isinstance(value, str) or not _PLAIN_NAME.match(value):
        raise IndexFormatError(
            f"{path}: segment {field_name} {value!r} is not a plain file name (letters, digits, "
            "_ . -); refusing to open it (a damaged or forged commit)"
        )


def write_commit(directory: Path, commit: Commit) -> Path:
    """Publish a commit: write a temporary file, fsync it, rename it into place, fsync."""
    final = commit_file(directory, commit.generation)
    if final.exists():
        raise IndexFormatError(f"{final}: a commit of generation {commit.generation} exists")
    temporary = final.with_suffix(".json.tmp")
    with open(temporary, "w", encoding="utf-8") as handle:
        json.dump(commit.to_dict(), handle, indent=1)
        handle.write("\n")
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, final)
    fsync_directory(directory)
    return final


def write_deletes(directory: Path, segment: str, generation: int, dead: np.ndarray) -> str:
    """Write a segment's deleted-documents bitmap for a generation; returns its file name."""
    folder = directory / DELETES_DIR
    folder.mkdir(exist_ok=True)
    name = f"{segment}_{generation:010d}.npy"
    with open(folder / name, "wb") as handle:
        np.save(handle, np.asarray(dead, dtype=np.bool_))
        handle.flush()
        os.fsync(handle.fileno())
    return name


def read_deletes(directory: Path, name: str, num_documents: int) -> np.ndarray:
    """A deleted-documents bitmap (True = deleted), checked against the segment's size."""
    path = directory / DELETES_DIR / name
    try:
        dead = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as error:
        if isinstance(error, FileNotFoundError):
            raise
        raise IndexFormatError(f"{path}: unreadable deletes ({error})") from error
    if dead.dtype != np.bool_ or dead.shape != (num_documents,):
        raise IndexFormatError(f"{path}: expected {num_documents} booleans, got {dead.shape}")
    return dead


def collect_garbage(directory: Path, keep_commits: int = 2) -> None:
    """Remove commits older than the newest ``keep_commits``, and files none of them names.

    Keeping the previous commit's files gives a reader that just read it time to open them;
    a reader that still loses the race retries with the newest commit.
    """
    found = generations(directory)
    kept = found[-keep_commits:]
    named_segments: set[str] = set()
    named_deletes: set[str] = set()
    for generation in kept:
        for entry in read_commit(directory, generation).segments:
            named_segments.add(entry.name)
            if entry.deletes:
                named_deletes.add(entry.deletes)
    for generation in found[:-keep_commits]:
        with contextlib.suppress(FileNotFoundError):
            commit_file(directory, generation).unlink()
    for leftover in directory.glob("commit_*.json.tmp"):
        leftover.unlink(missing_ok=True)
    for folder, named in ((SEGMENTS_DIR, named_segments), (DELETES_DIR, named_deletes)):
        if not (directory / folder).is_dir():
            continue
        for path in (directory / folder).iterdir():
            if path.name not in named:
                if path.is_dir():
                    shutil.rmtree(path, ignore_errors=True)
                else:
                    path.unlink(missing_ok=True)


class WriteLock:
    """The index's single-writer lock (``flock`` on ``write.lock``; released on exit)."""

    def __init__(self, directory: Path) -> None:
        self.path = directory / LOCK_FILE
        self._handle: Any = None

    def acquire(self) -> None:
        """Take the lock, or raise IndexLockedError if another writer holds it."""
        handle = open(self.path, "a+")  # noqa: SIM115 - held open for the lock's lifetime
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another writer"
            handle.close()
            raise IndexLockedError(
                f"{self.path.parent} is open for writing by {holder}, which holds its lock "
                f"{self.path}; one writer at a time (a save over an index is a write; "
                "readers need no lock: use HybridIndex.load)"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"process {os.getpid()}\n")
        handle.flush()
        self._handle = handle

    def release(self) -> None:
        """Release the lock (idempotent)."""
        if self._handle is not None:
            fcntl.flock(self._handle.fileno(), fcntl.LOCK_UN)
            self._handle.close()
            self._handle = None

    @property
    def held(self) -> bool:
        """Whether this object holds the lock."""
        return self._handle is not None
