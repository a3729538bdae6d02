"""The index directory on disk: manifest, checksums and atomic saves.

An index is a directory holding ``manifest.json`` and the files it lists. The manifest records
the format version, the model identity, every setting needed to query the index again, counts,
and a sha256 per file, so a load can say exactly what is wrong with a damaged index.

A new index is written as a sibling temporary directory, then renamed into place
(:func:`create_index_directory`); a save over an existing index is a commit into it (see
:mod:`hybridsearch.index.writer`). Readers never write: :func:`index_directory` finds the
index without changing anything. :func:`write_index_directory` swaps whole directories and is
kept for replacing what this version cannot read; a crash between its two renames leaves the
old index under a ``.previous`` sibling, which readers read and the next writer restores.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from hybridsearch.errors import ChecksumError, IndexFormatError, IndexVersionError
from hybridsearch.validation import sha256_file

FORMAT_NAME = "hybridsearch-index"
# 2: settings per component under "settings"; BM25 parameters only there.
# 3: fields a version-2 reader would ignore or refuse: ``query_model`` (and its source) and
#    the analyzer's ``query_stopwords`` in the manifest; ``manifest`` and ``search_defaults``
#    in commit files.
FORMAT_VERSION = 3
#: The versions this release reads. Version 2 reads as it always did (its optional fields
#: absent); a writer committing into it first records version 3 (:func:`upgrade_format_version`).
READABLE_FORMAT_VERSIONS = (2, 3)
MANIFEST_NAME = "manifest.json"

def _previous_path(target: Path) -> Path:
    return target.with_name(f".{target.name}.previous")


def resolve_index_directory(path: str | Path) -> Path:
    """Return the index directory, restoring it if a save was cut between its two renames.

    Writers only (it renames): readers use :func:`index_directory`, which never writes.
    """
    target = Path(path)
    previous = _previous_path(target)
    if not target.exists() and (previous / MANIFEST_NAME).is_file():
        previous.rename(target)
    return target


def index_directory(path: str | Path) -> Path:
    """The directory to read the index at ``path`` from, changing nothing on disk.

    If a save (of an older release, or a replacement of another format version) was cut
    between its two renames, the index is read where it was left (``.<name>.previous``);
    the next writer puts it back.
    """
    target = Path(path)
    previous = _previous_path(target)
    if not target.exists() and (previous / MANIFEST_NAME).is_file():
        return previous
    return target


def listed_path(directory: Path, relative: Any, listed_in: Path, inside: str) -> Path:
    """The file an entry of ``listed_in`` names: ``directory / relative``, confined to it.

    An entry must be a relative POSIX path with no ``..``, ``.`` or empty part: an absolute
    path or ``../x`` in a forged manifest would make a load stat and hash a file elsewhere
    (a huge one read in full). Links are checked apart, by :func:`check_inside`.

    Raises:
        IndexFormatError: the entry is not such a path (naming ``listed_in`` and the entry).
    """
    if (
        not isinstance(relative, str)
        or not relative
        or relative.startswith("/")
        or "\\" in relative
        or any(part in ("", ".", "..") for part in relative.split("/"))
    ):
        raise IndexFormatError(
            f"{listed_in}: the file entry {relative!r} is not a relative path inside the "
            f"{inside}; refusing to read it (a damaged or forged index)"
        )
    return directory / relative


def check_inside(path: Path, root: Path, inside: str) -> None:
    """Refuse a file that resolves outside ``root`` (itself resolved): a link that leads out.

    Raises:
        IndexFormatError: naming the file and where it leads.
    """
    resolved = path.resolve()
    if not resolved.is_relative_to(root):
        raise IndexFormatError(
            f"{path}: a link that leads outside the {inside} (to {resolved}); refusing to "
            "read it (a damaged or forged index)"
        )


def fsync_directory(directory: Path) -> None:
    """Make renames in ``directory`` durable (ignored where the filesystem refuses)."""
    with contextlib.suppress(OSError):
        descriptor = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)


def fsync_file(path: Path) -> None:
    """Flush a written file's data to disk (an error, a full disk say, is raised)."""
    with open(path, "rb") as handle:
        os.fsync(handle.fileno())


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _remove_abandoned_staging(target: Path) -> None:
    """Delete staging directories of saves whose process died (a crash or a kill)."""
    prefix = f".{target.name}.saving-"
    if not target.parent.is_dir():
        return
    for candidate in target.parent.iterdir():
        if not candidate.name.startswith(prefix):
            continue
        pid_text = candidate.name[len(prefix) :].split("-", 1)[0]
        if pid_text.isdigit() and not _process_alive(int(pid_text)):
            shutil.rmtree(candidate, ignore_errors=True)


def check_index_destination(path: str | Path) -> Path:
    """``path`` as a Path if an index may be written there, else IndexFormatError.

    An index may go where nothing is, into an empty directory, or over an index (a directory
    holding ``manifest.json``); a file, or a directory holding anything else, is refused
    rather than replaced. Cheap, so callers run it before the slow stages of a build.
    """
    target = Path(path)
    if target.exists() or target.is_symlink():
        if not target.is_dir():
            raise IndexFormatError(
                f"cannot write an index to {target}: it is a file, not a directory"
            )
        if not (target / MANIFEST_NAME).is_file() and any(target.iterdir()):
            raise IndexFormatError(
                f"cannot write an index to {target}: the directory is not empty and holds no "
                f"{MANIFEST_NAME} (it is not an index); refusing to replace it"
            )
    return target


def write_index_directory(
    path: str | Path,
    write_files: Callable[[Path], None],
    manifest: Mapping[str, Any],
    *,
    list_files: bool = True,
) -> dict[str, Any]:
    """Write an index directory atomically, replacing the one at ``path``.

    The replacement swaps whole directories (two renames), so the caller must be the only
    writer (hold the index's lock), and nothing of this version may be reading it: an index
    of the current format is saved over by a commit instead (see
    :func:`hybridsearch.index.writer.write_new_index`); this is for a new directory and for
    replacing what this version cannot read (another format version).

    Args:
        path: Where the index lives. If it exists it must be an index (it is replaced) or an
            empty directory; any other directory is refused rather than deleted.
        write_files: Called with a fresh temporary directory; writes every data file into it.
        manifest: Settings, identity and counts; ``format``, ``format_version`` and ``files``
            (a sha256 and size per file written) are added here.
        list_files: Whether the manifest lists every file; an index whose parts carry their
            own checksums (segments) lists none.

    Returns:
        The manifest as written.
    """
    target = resolve_index_directory(path)
    check_index_destination(target)
    staging, full_manifest = _write_staging(target, write_files, manifest, list_files)
    previous = _previous_path(target)
    if previous.exists():
        shutil.rmtree(previous)
    if target.exists():
        target.rename(previous)
    staging.rename(target)
    fsync_directory(target.parent)
    shutil.rmtree(previous, ignore_errors=True)
    return full_manifest


def create_index_directory(
    path: str | Path, write_files: Callable[[Path], None], manifest: Mapping[str, Any]
) -> bool:
    """Write a new index directory where there is none (or an empty one), atomically.

    The directory is written as a staging sibling, then renamed into place; the rename
    never replaces a non-empty directory, so when another process created an index at
    ``path`` meanwhile, the staging directory is removed and False returned (the caller
    then writes to that index as any writer would). Files are not listed in the manifest:
    segments carry their own checksums.

    Returns:
        True if this call created the index, False if one appeared at ``path`` first.
    """
    target = resolve_index_directory(path)
    check_index_destination(target)
    staging, _ = _write_staging(target, write_files, manifest, list_files=False)
    try:
        os.rename(staging, target)
    except OSError as error:
        shutil.rmtree(staging, ignore_errors=True)
        if error.errno in (errno.ENOTEMPTY, errno.EEXIST) and (target / MANIFEST_NAME).is_file():
            return False
        raise
    fsync_directory(target.parent)
    return True


def _write_staging(
    target: Path, write_files: Callable[[Path], None], manifest: Mapping[str, Any], list_files: bool
) -> tuple[Path, dict[str, Any]]:
    """A complete, fsynced sibling staging directory of ``target``, and its manifest."""
    target.parent.mkdir(parents=True, exist_ok=True)
    _remove_abandoned_staging(target)
    staging = target.with_name(f".{target.name}.saving-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    staging.mkdir()
    try:
        write_files(staging)
        files = {}
        written = sorted(p for p in staging.rglob("*") if p.is_file()) if list_files else []
        for file_path in written:
            fsync_file(file_path)
            relative = file_path.relative_to(staging).as_posix()
            files[relative] = {"sha256": sha256_file(file_path), "bytes": file_path.stat().st_size}
        full_manifest = full_manifest_of(manifest, files)
        manifest_path = staging / MANIFEST_NAME
        manifest_path.write_text(json.dumps(full_manifest, indent=2, sort_keys=False) + "\n")
        fsync_file(manifest_path)
        fsync_directory(staging)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return staging, full_manifest


def full_manifest_of(manifest: Mapping[str, Any], files: Mapping[str, Any]) -> dict[str, Any]:
    """``manifest.json``'s content: the format and its version, the fields, the files."""
    return {"format": FORMAT_NAME, "format_version": FORMAT_VERSION, **manifest, "files": files}


def replace_manifest(directory: Path, manifest: Mapping[str, Any]) -> None:
    """Rewrite ``manifest.json`` atomically (temporary file, fsync, rename), listing no
    files; a writer does this, under the index's lock, after a commit changed its fields."""
    _replace_manifest_file(directory, full_manifest_of(manifest, {}))


def _replace_manifest_file(directory: Path, content: Mapping[str, Any]) -> None:
    path = directory / MANIFEST_NAME
    temporary = path.with_name(f"{MANIFEST_NAME}.tmp")
    with open(temporary, "w", encoding="utf-8") as handle:
        handle.write(json.dumps(content, indent=2) + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)
    fsync_directory(directory)


def check_format_version(manifest: Mapping[str, Any], manifest_path: Path) -> None:
    """Refuse a manifest whose format version this release does not read.

    Raises:
        IndexVersionError: naming the version found, the versions read, and what to do: an
            older index is rebuilt from its corpus (the command is given); a newer one needs
            the newer hybridsearch that wrote it (or a rebuild with this one).
    """
    version = manifest.get("format_version")
    if type(version) is int and version in READABLE_FORMAT_VERSIONS:
        return
    readable = " and ".join(str(number) for number in READABLE_FORMAT_VERSIONS)
    directory = manifest_path.parent
    source = manifest.get("source") or {}
    corpus = source.get("path") if isinstance(source, dict) else None
    rebuild = (
        f"`hybridsearch build {corpus} --index {directory}`"
        if corpus
        else f"`hybridsearch build CORPUS --index {directory}` (or HybridIndex.build)"
    )
    if type(version) is int and version > FORMAT_VERSION:
        raise IndexVersionError(
            f"{manifest_path}: index format version {version}, written by a newer hybridsearch; "
            f"this release reads versions {readable}: upgrade hybridsearch "
            f"(`python -m pip install -U hybridsearch`) to read it, or rebuild the index with "
            f"this release: {rebuild}"
        )
    raise IndexVersionError(
        f"{manifest_path}: index format version {version!r}, but this hybridsearch reads "
        f"versions {readable}; rebuild the index from its corpus: {rebuild}"
    )


def refuse_newer_format(directory: Path) -> None:
    """Refuse to replace the index at ``directory`` if a newer release wrote it.

    Raises:
        IndexVersionError: its manifest names a format version above :data:`FORMAT_VERSION`
            (the message names the directory, both versions and what to do).
    """
    try:
        written = json.loads((directory / MANIFEST_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return  # no readable manifest: a damaged index, which a save may replace
    version = written.get("format_version") if isinstance(written, dict) else None
    if type(version) is int and version > FORMAT_VERSION:
        raise IndexVersionError(
            f"{directory} holds an index of format version {version}, written by a newer "
            f"hybridsearch; this release writes version {FORMAT_VERSION} and will not replace "
            "it: save elsewhere, upgrade hybridsearch, or delete that directory first"
        )


def upgrade_format_version(directory: Path) -> None:
    """Record the current format version in an index of an older readable one, fields kept.

    A writer (holding the index's lock) calls this before its first commit: from then on the
    commit files may carry fields an older release would silently ignore, so that release
    must refuse the index rather than misread it. An index already at this version, or with
    no manifest yet (one being staged), is left as it is.
    """
    path = directory / MANIFEST_NAME
    try:
        manifest = json.loads(path.read_text())
    except FileNotFoundError:
        return
    if not isinstance(manifest, dict) or manifest.get("format_version") == FORMAT_VERSION:
        return  # not a manifest: the reads that follow say what is wrong
    check_format_version(manifest, path)
    fields = {k: v for k, v in manifest.items() if k not in ("format", "format_version", "files")}
    _replace_manifest_file(directory, full_manifest_of(fields, manifest.get("files") or {}))


def read_manifest(path: str | Path, *, verify_checksums: bool = True) -> dict[str, Any]:
    """Read and check an index directory's manifest.

    Raises:
        IndexFormatError: ``path`` is not an index directory, the manifest is unreadable, or a
            listed file is missing.
        IndexVersionError: the index was written by another format version.
        ChecksumError: a file's size or sha256 differs from the manifest (truncated or altered).
    """
    directory = index_directory(path)
    manifest_path = directory / MANIFEST_NAME
    if not directory.is_dir():
        raise IndexFormatError(f"not a hybridsearch index: {directory} is not a directory")
    if not manifest_path.is_file():
        raise IndexFormatError(
            f"not a hybridsearch index: {directory} has no {MANIFEST_NAME} "
            "(build one with `hybridsearch build` or HybridIndex.build(...).save(path))"
        )
    try:
        manifest = json.loads(manifest_path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise IndexFormatError(f"{manifest_path}: unreadable manifest: {error}") from error
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT_NAME:
        raise IndexFormatError(
            f'{manifest_path}: not a hybridsearch manifest (expected "format": "{FORMAT_NAME}")'
        )
    check_format_version(manifest, manifest_path)
    files = manifest.get("files")
    if not isinstance(files, dict):
        raise IndexFormatError(f"{manifest_path}: the manifest lists no files")
    # Every entry is checked before any file is opened.
    paths = {name: listed_path(directory, name, manifest_path, "index") for name in files}
    root = directory.resolve()
    for relative, expected in files.items():
        file_path = paths[relative]
        check_inside(file_path, root, "index")
        if not file_path.is_file():
            raise IndexFormatError(f"{file_path}: missing from the index (listed in the manifest)")
        if not verify_checksums:
            continue
        size = file_path.stat().st_size
        if size != expected["bytes"]:
            raise ChecksumError(
                f"{file_path}: {size} bytes, but the manifest says {expected['bytes']} "
                "(truncated or altered); rebuild or restore the index"
            )
        if sha256_file(file_path) != expected["sha256"]:
            raise ChecksumError(
                f"{file_path}: sha256 differs from the manifest (altered); rebuild or restore "
                "the index"
            )
    return manifest
