"""Opening a segment: structural checks always run, checksums are the only thing
``verify_checksums=False`` skips, every file is listed, and no entry leaves the segment
(issue 14 items 6, 7 and 8)."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from hybridsearch.corpus.documents import Document
from hybridsearch.errors import IndexFormatError
from hybridsearch.index.hybrid_index import HybridIndex

DOCUMENTS = [
    Document(id=f"d{number}", text=f"passage {number} about kettles and tea " * 3)
    for number in range(6)
]


@pytest.fixture(scope="module")
def saved(encoder, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("segment") / "index"
    HybridIndex.build(DOCUMENTS, model=encoder).save(path)
    return path


@pytest.fixture
def copy(saved, tmp_path) -> tuple[Path, Path]:
    """A copy of the saved index, and its one segment folder."""
    path = Path(shutil.copytree(saved, tmp_path / "index"))
    (segment,) = (path / "segments").iterdir()
    return path, segment


def _description(segment: Path) -> dict:
    return json.loads((segment / "segment.json").read_text())


def _write_description(segment: Path, description: dict) -> None:
    (segment / "segment.json").write_text(json.dumps(description))


def forge(segment: Path, relative: str, array: np.ndarray) -> None:
    """Replace a file, and its entry in segment.json, as a forger who recomputes checksums."""
    path = segment / relative
    with open(path, "wb") as handle:
        np.save(handle, array)
    description = _description(segment)
    description["files"][relative] = {
        "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
        "bytes": path.stat().st_size,
    }
    _write_description(segment, description)


def _load(path: Path, encoder, verify: bool) -> HybridIndex:
    return HybridIndex.load(path, model=encoder, verify_checksums=verify)


# -- item 6: structure is checked with or without checksums -------------------------------------


@pytest.mark.parametrize("verify", [False, True])
@pytest.mark.parametrize(
    ("column", "change", "message"),
    [
        ("document_rows", lambda rows: np.where(rows == rows.max(), 999, rows), "outside 0..5"),
        ("document_rows", lambda rows: np.where(rows == 0, -1, rows), "outside 0..5"),
        ("document_rows", lambda rows: rows.astype(np.float64), "expected a 1-D int64 array"),
        ("document_rows", lambda rows: rows[:-1], "holds 5 passages"),
        ("starts", lambda starts: starts - 1, "negative or after its end"),
        ("ends", lambda ends: ends - ends.max() - 1, "negative or after its end"),
        ("title_carried", lambda flags: flags.astype(np.int64), "expected a 1-D bool array"),
    ],
)
def test_passage_columns_are_checked_whatever_verify_says(
    copy, encoder, verify, column, change, message
):
    path, segment = copy
    relative = f"passage_{column}.npy"
    forge(segment, relative, change(np.load(segment / relative)))
    with pytest.raises(IndexFormatError, match=message) as caught:
        _load(path, encoder, verify)
    assert relative in str(caught.value)


@pytest.mark.parametrize("verify", [False, True])
def test_vectors_and_store_arrays_are_checked_whatever_verify_says(copy, encoder, verify):
    path, segment = copy
    vectors = np.load(segment / "vectors.npy")
    forge(segment, "vectors.npy", vectors.astype(np.float64))
    with pytest.raises(IndexFormatError, match=r"vectors\.npy.*float32"):
        _load(path, encoder, verify)
    forge(segment, "vectors.npy", vectors)
    order = np.load(segment / "ids_order.npy")
    forge(segment, "ids_order.npy", np.full_like(order, 999))
    with pytest.raises(IndexFormatError, match=r"ids_order\.npy"):
        _load(path, encoder, verify)
    forge(segment, "ids_order.npy", np.zeros_like(order))  # in range, not a permutation
    with pytest.raises(IndexFormatError, match=r"ids_order\.npy"):
        _load(path, encoder, verify)
    forge(segment, "ids_order.npy", order)
    assert _load(path, encoder, verify).num_documents == 6  # the checks pass a sound segment


# -- item 7: segment.json lists every file --------------------------------------------------------


@pytest.mark.parametrize("verify", [False, True])
def test_a_segment_listing_no_files_is_refused(copy, encoder, verify):
    path, segment = copy
    description = _description(segment)
    description["files"] = {}
    _write_description(segment, description)
    (segment / "vectors.npy").write_bytes(b"altered")
    with pytest.raises(IndexFormatError, match=r"segment\.json does not list .*vectors\.npy"):
        _load(path, encoder, verify)


def test_every_file_of_the_segment_must_be_listed(copy, encoder):
    path, segment = copy
    original = _description(segment)
    description = json.loads(json.dumps(original))
    del description["files"]["metadata/metadata.json"]
    _write_description(segment, description)
    with pytest.raises(IndexFormatError, match=r"does not list .*metadata/metadata\.json"):
        _load(path, encoder, False)
    _write_description(segment, original)
    (segment / "bm25" / "extra.npy").write_bytes(b"x")  # present, listed nowhere
    with pytest.raises(IndexFormatError, match=r"bm25/extra\.npy.*not listed"):
        _load(path, encoder, False)


# -- item 8: entries stay inside the index ---------------------------------------------------------


@pytest.mark.parametrize("entry", ["/etc/hostname", "../../outside.bin", "bm25/../../x.npy"])
@pytest.mark.parametrize("verify", [False, True])
def test_entries_outside_the_segment_are_refused(copy, encoder, entry, verify, tmp_path):
    path, segment = copy
    outside = tmp_path / "outside.bin"
    outside.write_bytes(b"0" * 1000)
    description = _description(segment)
    description["files"][entry] = {"sha256": "0" * 64, "bytes": 1000}
    _write_description(segment, description)
    with pytest.raises(IndexFormatError, match="not a relative path inside the segment"):
        _load(path, encoder, verify)


def test_a_file_link_leaving_the_index_is_refused(copy, encoder, tmp_path):
    path, segment = copy
    moved = tmp_path / "elsewhere.npy"
    shutil.move(segment / "vectors.npy", moved)
    (segment / "vectors.npy").symlink_to(moved)  # same bytes, same checksum: still refused
    with pytest.raises(IndexFormatError, match=r"vectors\.npy.*leads outside"):
        _load(path, encoder, True)
