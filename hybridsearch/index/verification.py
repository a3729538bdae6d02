"""Checksum verification of an opened index in a background thread.

Hashing every file of a 1M-passage index (4.5 GB with an HNSW graph) takes 3-5 s on 2 cores,
longer than everything else a load does. ``HybridIndex.load(verify_checksums="background")``
opens the index with the structural checks only (every file present, its size as recorded,
counts consistent), starts a :class:`BackgroundVerification` over the segments' files, and
returns at once. ``hashlib`` releases the GIL while it hashes, so searches run meanwhile; the
first search after a mismatch is found raises the :class:`ChecksumError` (as does every later
one), and :meth:`BackgroundVerification.wait` lets a caller block until the verdict.

A file removed while it waits its turn (a newer commit's garbage collection) is skipped: the
opened snapshot keeps it through its memory map, and the newest commit no longer names it.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from pathlib import Path

from hybridsearch.errors import ChecksumError, IndexFormatError
from hybridsearch.validation import sha256_file

__all__ = ["BackgroundVerification", "segment_checksums"]

_SEGMENT_FILE = "segment.json"  # as hybridsearch.index.segment writes it


def segment_checksums(directories: Sequence[Path]) -> list[tuple[Path, str]]:
    """Every file each segment's ``segment.json`` lists, with its recorded sha256.

    Raises:
        IndexFormatError: a ``segment.json`` is missing or malformed.
    """
    checks = []
    for directory in directories:
        path = directory / _SEGMENT_FILE
        try:
            files = json.loads(path.read_text(encoding="utf-8"))["files"]
            checks += [(directory / name, str(entry["sha256"])) for name, entry in files.items()]
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
            raise IndexFormatError(f"{path}: missing or malformed ({error})") from error
    return checks


class BackgroundVerification:
    """sha256 of files against their recorded digests, in a daemon thread started at once.

    Args:
        checks: (file, expected hex sha256) pairs, hashed in this order.
    """

    def __init__(self, checks: Sequence[tuple[Path, str]]) -> None:
        self._checks = list(checks)
        self._error: ChecksumError | None = None
        self.skipped: list[Path] = []
        self._done = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name="hybridsearch-checksums", daemon=True
        )
        self._thread.start()

    def _run(self) -> None:
        try:
            for path, expected in self._checks:
                try:
                    found = sha256_file(path)
                except FileNotFoundError:
                    self.skipped.append(path)
                    continue
                except OSError as error:
                    self._error = ChecksumError(f"{path}: unreadable while verifying ({error})")
                    return
                if found != expected:
                    self._error = ChecksumError(
                        f"{path}: sha256 differs from {path.parent / _SEGMENT_FILE} (altered; "
                        "found by the background verification); restore or rebuild the index"
                    )
                    return
        finally:
            self._done.set()

    @property
    def done(self) -> bool:
        """Whether every file has been hashed (or a mismatch stopped the thread)."""
        return self._done.is_set()

    def check(self) -> None:
        """Raise the mismatch found so far, if any (cheap: searches call it each time).

        Raises:
            ChecksumError: a file's sha256 differs from the recorded one.
        """
        if self._error is not None:
            raise self._error

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the verdict (or ``timeout`` seconds); True when every file matched.

        Returns:
            True: all verified; False: still running after ``timeout``.

        Raises:
            ChecksumError: a file's sha256 differs from the recorded one.
        """
        finished = self._done.wait(timeout)
        self.check()
        return finished
