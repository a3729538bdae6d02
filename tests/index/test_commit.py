"""Commit files: what they may name (issue 14 item 8: nothing outside the index)."""

from __future__ import annotations

import json

import pytest

from hybridsearch.errors import IndexFormatError
from hybridsearch.index.commit import commit_file, read_commit


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("name", "../../elsewhere"),
        ("name", "/tmp/segment"),
        ("name", ".."),
        ("name", "seg/../x"),
        ("deletes", "../x.npy"),
        ("deletes", "/etc/passwd"),
    ],
)
def test_a_commit_naming_a_path_outside_the_index_is_refused(tmp_path, field, value):
    entry = {"name": "seg_0000000000001_abcdef12", "deletes": None, "live_documents": 1}
    entry[field] = value
    data = {"generation": 1, "segments": [entry], "info": {}}
    commit_file(tmp_path, 1).write_text(json.dumps(data))
    with pytest.raises(IndexFormatError, match=f"{field} .* is not a plain file name"):
        read_commit(tmp_path, 1)


def test_a_plain_commit_reads(tmp_path):
    entry = {"name": "seg_0000000000001_abcdef12", "deletes": "seg_x_0000000001.npy",
             "live_documents": 1}  # fmt: skip
    commit_file(tmp_path, 1).write_text(json.dumps({"generation": 1, "segments": [entry]}))
    assert read_commit(tmp_path, 1).segments[0].deletes == "seg_x_0000000001.npy"
