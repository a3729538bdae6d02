"""Checksum verification in the background: load(verify_checksums="background")."""

from __future__ import annotations

import hashlib
import shutil

import pytest

from hybridsearch.corpus.documents import Document
from hybridsearch.errors import ChecksumError, InvalidInputError
from hybridsearch.index.hybrid_index import HybridIndex
from hybridsearch.index.verification import BackgroundVerification, segment_checksums


@pytest.fixture(scope="module")
def saved(encoder, tmp_path_factory):
    documents = [
        Document(id=f"d{n}", text=f"Green tea number {n} steeps in hot water.") for n in range(12)
    ]
    path = tmp_path_factory.mktemp("verification") / "index"
    HybridIndex.build(documents, model=encoder).save(path)
    return path


def test_an_intact_index_verifies_and_searches(saved, encoder):
    index = HybridIndex.load(saved, model=encoder, verify_checksums="background")
    assert index.search("green tea", k=3)  # searches while (or after) it hashes
    assert index.wait_for_verification(timeout=60) is True
    assert HybridIndex.load(saved, model=encoder).wait_for_verification() is True  # synchronous
    with pytest.raises(InvalidInputError, match="'later'"):
        HybridIndex.load(saved, model=encoder, verify_checksums="later")


def test_an_altered_file_is_reported_by_wait_and_by_every_search(saved, encoder, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(saved, copy)
    (documents_file,) = copy.glob("segments/*/documents.jsonl")
    documents_file.write_text(documents_file.read_text().replace("Green tea", "Black tea"))
    # Same size, so the structural checks pass and the load returns.
    index = HybridIndex.load(copy, model=encoder, verify_checksums="background")
    with pytest.raises(ChecksumError, match=r"documents\.jsonl: sha256 differs .* background"):
        index.wait_for_verification(timeout=60)
    for _ in range(2):
        with pytest.raises(ChecksumError, match=r"documents\.jsonl"):
            index.search("green tea")


def test_files_gone_before_their_turn_are_skipped_not_failed(saved, tmp_path):
    checks = segment_checksums(list((saved / "segments").iterdir()))
    assert checks and all(path.is_file() for path, _ in checks)
    for path, expected in checks:  # the recorded digests are the files' own
        assert hashlib.sha256(path.read_bytes()).hexdigest() == expected
    gone = tmp_path / "removed.npy"
    verification = BackgroundVerification([(gone, "0" * 64), *checks])
    assert verification.wait(timeout=60) is True
    assert verification.done and verification.skipped == [gone]
