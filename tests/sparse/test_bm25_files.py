"""Tests of saving and loading a BM25Index (hybridsearch.sparse.bm25_files)."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from hybridsearch.errors import IndexFormatError, IndexVersionError, InvalidInputError
from hybridsearch.sparse.bm25 import BM25Index, BM25Settings
from hybridsearch.sparse.bm25_files import BM25_FORMAT_VERSION

FILE_NAMES = [
    "bm25.json",
    "bm25_indptr.npy",
    "bm25_passage_lengths.npy",
    "bm25_posting_passage_ids.npy",
    "bm25_posting_tfs.npy",
]
SETTINGS = BM25Settings(variant="bm25plus", k1=1.2, b=0.6)


@pytest.fixture(scope="module")
def small_index_and_queries(generated) -> tuple[BM25Index, list[list[str]]]:
    corpus, queries = generated
    return BM25Index.build(corpus[:500], SETTINGS), queries[:40]


def saved_apple_banana(directory) -> None:
    BM25Index.build([["apple"], ["banana"]]).save(directory)


def test_save_load_round_trip_gives_identical_scores(tmp_path, small_index_and_queries):
    index, queries = small_index_and_queries
    written = index.save(tmp_path / "bm25")
    assert sorted(path.name for path in written) == FILE_NAMES
    assert all(path.is_file() for path in written)
    assert sorted(path.name for path in (tmp_path / "bm25").iterdir()) == FILE_NAMES
    # ... so no temporary files are left behind
    for mmap in (True, False):
        loaded = BM25Index.load(tmp_path / "bm25", SETTINGS, mmap=mmap)
        assert loaded.settings == index.settings
        assert loaded.vocabulary == index.vocabulary
        for array in (loaded.indptr, loaded.posting_passage_ids, loaded.posting_tfs):
            assert isinstance(array, np.memmap) is mmap
        assert isinstance(loaded.passage_lengths, np.memmap) is mmap
        for query in queries:
            np.testing.assert_array_equal(loaded.get_scores(query), index.get_scores(query))
            for expected, got in zip(
                index.search(query, 10), loaded.search(query, 10), strict=True
            ):
                np.testing.assert_array_equal(got, expected)


def test_settings_come_from_the_caller_and_are_not_written(tmp_path):
    index = BM25Index.build([["apple", "apple"], ["banana"]], BM25Settings(variant="okapi"))
    index.save(tmp_path)
    metadata = json.loads((tmp_path / "bm25.json").read_text(encoding="utf-8"))
    assert metadata == {
        "format_version": BM25_FORMAT_VERSION,
        "counts": {
            "num_passages": 2,
            "vocabulary_size": 2,
            "num_postings": 2,
            "total_tokens": 3,
        },
        "vocabulary": ["apple", "banana"],
    }
    # The same arrays scored with other settings: the settings passed are the ones used.
    lucene = BM25Index.load(tmp_path, BM25Settings())
    assert lucene.settings == BM25Settings()
    fresh = BM25Index.build([["apple", "apple"], ["banana"]])
    np.testing.assert_array_equal(lucene.get_scores(["apple"]), fresh.get_scores(["apple"]))


@pytest.mark.parametrize("settings", [None, {"variant": "okapi"}, "lucene"])
def test_load_needs_the_settings_instance(tmp_path, settings):
    saved_apple_banana(tmp_path)
    with pytest.raises(InvalidInputError, match="BM25Settings"):
        BM25Index.load(tmp_path, settings)


def test_unusual_terms_survive_a_round_trip(tmp_path):
    terms = ["東京", "привет", "😀", 'a"b\\c', "\ud800", "", " "]
    index = BM25Index.build([terms, terms[:2]])
    index.save(tmp_path)
    loaded = BM25Index.load(tmp_path, BM25Settings())
    assert loaded.vocabulary == terms
    np.testing.assert_array_equal(loaded.get_scores(["\ud800"]), index.get_scores(["\ud800"]))


def test_saving_over_the_memory_mapped_files_is_safe(tmp_path, small_index_and_queries):
    index, queries = small_index_and_queries
    index.save(tmp_path)
    loaded = BM25Index.load(tmp_path, SETTINGS, mmap=True)
    loaded.save(tmp_path)  # the old mapped files are replaced, not truncated under the map
    assert loaded.get_scores(queries[0]).tolist() == index.get_scores(queries[0]).tolist()
    reloaded = BM25Index.load(tmp_path, SETTINGS)
    np.testing.assert_array_equal(reloaded.get_scores(queries[1]), index.get_scores(queries[1]))


def write_format_1(directory, variant: str, params: dict[str, float]) -> None:
    """Rewrite a saved index as format 1 wrote it: other file names, settings in bm25.json."""
    renames = {
        "bm25_posting_passage_ids.npy": "bm25_posting_doc_ids.npy",
        "bm25_passage_lengths.npy": "bm25_doc_lengths.npy",
    }
    for new, old in renames.items():
        (directory / new).rename(directory / old)
    metadata_path = directory / "bm25.json"
    metadata = json.loads(metadata_path.read_text(encoding="utf-8"))
    metadata.update(format_version=1, variant=variant, params=params, arrays={})
    metadata_path.write_text(json.dumps(metadata), encoding="utf-8")


def test_format_1_loads_when_its_settings_agree(tmp_path, small_index_and_queries):
    index, queries = small_index_and_queries
    index.save(tmp_path)
    write_format_1(tmp_path, "bm25plus", {"k1": 1.2, "b": 0.6, "delta": 1.0})
    loaded = BM25Index.load(tmp_path, SETTINGS)
    for query in queries[:5]:
        np.testing.assert_array_equal(loaded.get_scores(query), index.get_scores(query))
    with pytest.raises(IndexFormatError, match=r"bm25\.json: records BM25"):
        BM25Index.load(tmp_path, BM25Settings(variant="bm25plus"))


def test_unknown_format_version_is_refused(tmp_path):
    saved_apple_banana(tmp_path)
    metadata_path = tmp_path / "bm25.json"
    metadata = json.loads(metadata_path.read_text(encoding="utf-8"))
    metadata["format_version"] = BM25_FORMAT_VERSION + 1
    metadata_path.write_text(json.dumps(metadata), encoding="utf-8")
    with pytest.raises(
        IndexVersionError, match=r"format_version is 3; this release reads versions 1, 2"
    ):
        BM25Index.load(tmp_path, BM25Settings())


@pytest.mark.parametrize("file_name", FILE_NAMES)
def test_missing_file_is_named(tmp_path, file_name):
    saved_apple_banana(tmp_path)
    (tmp_path / file_name).unlink()
    with pytest.raises(IndexFormatError, match=re.escape(file_name)):
        BM25Index.load(tmp_path, BM25Settings())


def test_missing_directory_is_an_index_format_error(tmp_path):
    with pytest.raises(IndexFormatError, match=re.escape("bm25.json")):
        BM25Index.load(tmp_path / "nowhere", BM25Settings())


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"vocabulary": ["apple", "apple"]}, "duplicate"),
        ({"vocabulary": ["apple", 3]}, "list of str"),
        ({"counts": {"num_passages": 2}}, "counts"),
        ({"counts": None}, "counts"),
    ],
)
def test_malformed_metadata_is_named(tmp_path, change, message):
    saved_apple_banana(tmp_path)
    metadata_path = tmp_path / "bm25.json"
    metadata = {**json.loads(metadata_path.read_text(encoding="utf-8")), **change}
    metadata_path.write_text(json.dumps(metadata), encoding="utf-8")
    with pytest.raises(IndexFormatError, match=message):
        BM25Index.load(tmp_path, BM25Settings())


def test_corrupt_json_is_an_index_format_error(tmp_path):
    saved_apple_banana(tmp_path)
    (tmp_path / "bm25.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(IndexFormatError, match="not readable JSON"):
        BM25Index.load(tmp_path, BM25Settings())


def test_corrupt_array_is_an_index_format_error(tmp_path):
    saved_apple_banana(tmp_path)
    (tmp_path / "bm25_posting_tfs.npy").write_bytes(b"garbage")
    with pytest.raises(IndexFormatError, match=re.escape("bm25_posting_tfs.npy")):
        BM25Index.load(tmp_path, BM25Settings())


def test_inconsistent_arrays_are_an_index_format_error(tmp_path):
    saved_apple_banana(tmp_path)
    ids_file = tmp_path / "bm25_posting_passage_ids.npy"
    np.save(ids_file, np.array([0, 5], dtype=np.int32))
    with pytest.raises(IndexFormatError, match=re.escape(ids_file.name)):
        BM25Index.load(tmp_path, BM25Settings())
    np.save(ids_file, np.array([0], dtype=np.int32))
    with pytest.raises(IndexFormatError, match=re.escape("bm25_indptr.npy")):
        BM25Index.load(tmp_path, BM25Settings())
    np.save(ids_file, np.array([0.0, 1.0]))
    with pytest.raises(IndexFormatError, match="integer"):
        BM25Index.load(tmp_path, BM25Settings())
    np.save(ids_file, np.array([0, 1], dtype=np.int32))
    np.save(tmp_path / "bm25_passage_lengths.npy", np.array([1, 1, 0]))
    with pytest.raises(IndexFormatError, match=r"bm25_passage_lengths\.npy: holds 3 passages"):
        BM25Index.load(tmp_path, BM25Settings())
    np.save(tmp_path / "bm25_passage_lengths.npy", np.array([1, -1]))
    with pytest.raises(IndexFormatError, match="negative"):
        BM25Index.load(tmp_path, BM25Settings())


def test_pickled_object_arrays_are_refused(tmp_path):
    saved_apple_banana(tmp_path)
    np.save(tmp_path / "bm25_posting_tfs.npy", np.array([1, "x"], dtype=object), allow_pickle=True)
    with pytest.raises(IndexFormatError, match=re.escape("bm25_posting_tfs.npy")):
        BM25Index.load(tmp_path, BM25Settings(), mmap=False)
