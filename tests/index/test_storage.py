"""The index directory: manifest, checksums, version check and atomic replacement."""

from __future__ import annotations

import json
import os

import pytest

from hybridsearch.errors import ChecksumError, IndexFormatError, IndexVersionError
from hybridsearch.index import storage


def _writer(content: bytes):
    def write_files(directory):
        (directory / "data.bin").write_bytes(content)
        (directory / "sub").mkdir()
        (directory / "sub" / "more.txt").write_text("more")

    return write_files


def test_round_trip_lists_files_with_checksums(tmp_path):
    target = tmp_path / "index"
    written = storage.write_index_directory(target, _writer(b"abc"), {"counts": {"n": 1}})
    manifest = storage.read_manifest(target)
    assert manifest == written
    assert manifest["format_version"] == storage.FORMAT_VERSION
    assert set(manifest["files"]) == {"data.bin", "sub/more.txt"}
    assert manifest["files"]["data.bin"]["sha256"] == storage.sha256_file(target / "data.bin")
    assert manifest["counts"] == {"n": 1}
    # No temporary siblings are left behind.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["index"]


def test_save_replaces_an_existing_index(tmp_path):
    target = tmp_path / "index"
    storage.write_index_directory(target, _writer(b"old"), {})
    storage.write_index_directory(target, _writer(b"new"), {})
    assert (target / "data.bin").read_bytes() == b"new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["index"]


def test_failed_write_leaves_previous_index(tmp_path):
    target = tmp_path / "index"
    storage.write_index_directory(target, _writer(b"old"), {})

    def failing(directory):
        (directory / "data.bin").write_bytes(b"half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        storage.write_index_directory(target, failing, {})
    assert (target / "data.bin").read_bytes() == b"old"
    storage.read_manifest(target)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["index"]


def test_crash_between_renames_is_recovered(tmp_path):
    target = tmp_path / "index"
    storage.write_index_directory(target, _writer(b"old"), {})
    # Simulate a crash after the live index was moved aside, before the new one arrived.
    target.rename(tmp_path / ".index.previous")
    # A reader reads it where it was left, and changes nothing (issue 14 item 14).
    manifest = storage.read_manifest(target)
    assert "data.bin" in manifest["files"]
    assert not target.exists() and (tmp_path / ".index.previous").is_dir()
    # The next writer puts it back.
    assert storage.resolve_index_directory(target) == target
    assert (target / "data.bin").read_bytes() == b"old"


def test_refuses_to_replace_a_directory_that_is_not_an_index(tmp_path):
    target = tmp_path / "precious"
    target.mkdir()
    (target / "thesis.tex").write_text("years of work")
    with pytest.raises(IndexFormatError, match="not an index"):
        storage.write_index_directory(target, _writer(b"x"), {})
    assert (target / "thesis.tex").read_text() == "years of work"


def test_not_an_index(tmp_path):
    with pytest.raises(IndexFormatError, match=r"no manifest\.json"):
        storage.read_manifest(tmp_path)
    with pytest.raises(IndexFormatError, match="not a directory"):
        storage.read_manifest(tmp_path / "absent")


def test_truncated_and_altered_files(tmp_path):
    target = tmp_path / "index"
    storage.write_index_directory(target, _writer(b"abcdef"), {})
    (target / "data.bin").write_bytes(b"abc")
    with pytest.raises(ChecksumError, match=r"data\.bin.*truncated"):
        storage.read_manifest(target)
    (target / "data.bin").write_bytes(b"abcdeX")
    with pytest.raises(ChecksumError, match=r"data\.bin.*sha256"):
        storage.read_manifest(target)
    storage.read_manifest(target, verify_checksums=False)
    (target / "data.bin").unlink()
    with pytest.raises(IndexFormatError, match=r"data\.bin.*missing"):
        storage.read_manifest(target)


@pytest.mark.parametrize("version", [0, 1, storage.FORMAT_VERSION + 1, "1", "3", True, 2.5, None])
def test_unknown_format_version(tmp_path, version):
    target = tmp_path / "index"
    storage.write_index_directory(target, _writer(b"x"), {})
    manifest_path = target / storage.MANIFEST_NAME
    manifest = json.loads(manifest_path.read_text())
    manifest["format_version"] = version
    manifest_path.write_text(json.dumps(manifest))
    with pytest.raises(IndexVersionError, match="format version"):
        storage.read_manifest(target)


def _manifest_at_version(target, version):
    storage.write_index_directory(target, _writer(b"x"), {"model": {"name": "m"}})
    manifest_path = target / storage.MANIFEST_NAME
    manifest = json.loads(manifest_path.read_text())
    manifest["format_version"] = version
    manifest_path.write_text(json.dumps(manifest))
    return manifest


def test_the_current_and_previous_format_versions_read(tmp_path):
    assert storage.FORMAT_VERSION == 3
    assert storage.READABLE_FORMAT_VERSIONS == (2, 3)
    for version in (2, 3):
        _manifest_at_version(tmp_path / f"v{version}", version)
        assert storage.read_manifest(tmp_path / f"v{version}")["format_version"] == version


def test_older_and_newer_versions_are_refused_saying_what_to_do(tmp_path):
    _manifest_at_version(tmp_path / "old", 1)
    with pytest.raises(IndexVersionError, match=r"version 1, .*reads versions 2 and 3; rebuild"):
        storage.read_manifest(tmp_path / "old")
    _manifest_at_version(tmp_path / "new", 4)
    with pytest.raises(IndexVersionError, match=r"version 4, written by a newer hybridsearch"):
        storage.read_manifest(tmp_path / "new")


def test_upgrading_the_format_version_keeps_every_other_field(tmp_path):
    target = tmp_path / "index"
    written = _manifest_at_version(target, 2)
    storage.upgrade_format_version(target)
    upgraded = json.loads((target / storage.MANIFEST_NAME).read_text())
    assert upgraded == {**written, "format_version": storage.FORMAT_VERSION}
    assert upgraded["files"]  # still listed, so the checksums are still verified
    storage.read_manifest(target)
    storage.upgrade_format_version(tmp_path / "nothing-yet")  # a staging folder: no manifest


def test_upgrading_never_downgrades_a_newer_index(tmp_path):
    target = tmp_path / "index"
    written = _manifest_at_version(target, storage.FORMAT_VERSION + 1)
    with pytest.raises(IndexVersionError, match="newer hybridsearch"):
        storage.upgrade_format_version(target)
    assert json.loads((target / storage.MANIFEST_NAME).read_text()) == written


def test_garbage_manifest(tmp_path):
    (tmp_path / storage.MANIFEST_NAME).write_text("{not json")
    with pytest.raises(IndexFormatError, match="unreadable manifest"):
        storage.read_manifest(tmp_path)
    (tmp_path / storage.MANIFEST_NAME).write_text('{"format": "something-else"}')
    with pytest.raises(IndexFormatError, match="not a hybridsearch manifest"):
        storage.read_manifest(tmp_path)


def test_abandoned_staging_of_a_dead_process_is_removed(tmp_path):
    target = tmp_path / "index"
    dead = tmp_path / ".index.saving-999999999-abcd"  # no such process
    dead.mkdir()
    (dead / "half.bin").write_bytes(b"half")
    alive = tmp_path / f".index.saving-{os.getpid()}-abcd"  # a save still running
    alive.mkdir()
    storage.write_index_directory(target, _writer(b"x"), {})
    assert not dead.exists()
    assert alive.exists()


@pytest.mark.parametrize("entry", ["/etc/hostname", "../outside.bin", "sub/../../outside.bin"])
def test_manifest_entries_outside_the_index_are_refused(tmp_path, entry):
    """Issue 14 item 8: a forged entry must not make a load hash (or stat) another file."""
    target = tmp_path / "index"
    storage.write_index_directory(target, _writer(b"x"), {})
    (tmp_path / "outside.bin").write_bytes(b"0" * 100)
    manifest = json.loads((target / "manifest.json").read_text())
    manifest["files"][entry] = {"sha256": "0" * 64, "bytes": 100}
    (target / "manifest.json").write_text(json.dumps(manifest))
    for verify in (True, False):
        with pytest.raises(IndexFormatError, match="not a relative path inside the index"):
            storage.read_manifest(target, verify_checksums=verify)


def test_a_manifest_entry_linking_outside_the_index_is_refused(tmp_path):
    target = tmp_path / "index"
    storage.write_index_directory(target, _writer(b"abc"), {})
    listed = "data.bin"
    (tmp_path / "copy").write_bytes((target / listed).read_bytes())
    (target / listed).unlink()
    (target / listed).symlink_to(tmp_path / "copy")
    with pytest.raises(IndexFormatError, match="leads outside the index"):
        storage.read_manifest(target)
