"""index/serving: switching query batching on and off, writes that commit or leave nothing,
and stats without paths."""

from __future__ import annotations

import json

import pytest

from hybridsearch import Document, HybridIndex
from hybridsearch.errors import DuplicateDocumentError, IndexWriteError
from hybridsearch.index import serving

DOCUMENTS = [
    Document("cat", "Cats purr and hunt mice.", metadata={"year": 2020}),
    Document("dog", "Dogs bark and fetch sticks.", metadata={"year": 2021}),
]


@pytest.fixture
def opened(tmp_path, encoder):
    HybridIndex.build(DOCUMENTS, model=encoder, source_path=tmp_path / "corpus.jsonl").save(
        tmp_path / "index"
    )
    index = HybridIndex.open(tmp_path / "index", model=encoder)
    yield index
    index.close()


def test_batching_swaps_the_encoder_and_back(opened, encoder):
    before = opened.search("cats", 2).to_dicts()
    serving.batch_query_encodes(opened, max_wait_ms=1)
    assert opened.encoder is not encoder and opened.encoder.wrapped is encoder
    serving.batch_query_encodes(opened, max_wait_ms=2)  # again: replaces, never wraps twice
    assert opened.encoder.wrapped is encoder and opened.encoder.max_wait_ms == 2
    after = opened.search("cats", 2).to_dicts()
    assert [hit["doc_id"] for hit in after] == [hit["doc_id"] for hit in before]
    assert serving.batching_stats(opened)["requests"] == 1
    serving.stop_batching(opened)
    assert opened.encoder is encoder and serving.batching_stats(opened) is None


def test_write_and_commit_makes_the_write_durable(opened, encoder):
    added, generation = serving.write_and_commit(
        opened, lambda: opened.add([Document("owl", "Owls fly at night.")])
    )
    assert (added, generation) == (1, 2)
    assert HybridIndex.load(opened.directory, model=encoder).document("owl").text.startswith("Owls")


def test_a_failed_write_or_commit_leaves_the_index_as_it_was(opened, monkeypatch):
    with pytest.raises(DuplicateDocumentError):
        serving.write_and_commit(opened, lambda: opened.add([Document("cat", "Again.")]))

    def failing_commit():
        raise IndexWriteError("disk full")

    monkeypatch.setattr(opened, "commit", failing_commit)
    info = opened.build_info
    with pytest.raises(IndexWriteError):
        serving.write_and_commit(opened, lambda: opened.delete(["cat"]))
    assert opened.num_documents == 2 and opened.document("cat").text == DOCUMENTS[0].text
    assert opened.build_info is info


def test_an_index_in_memory_is_changed_but_not_committed(encoder):
    index = HybridIndex.build(DOCUMENTS, model=encoder)
    _, generation = serving.write_and_commit(index, lambda: index.delete(["dog"]))
    assert generation is None and index.num_documents == 1


def test_stats_hold_counts_and_no_paths(opened, tmp_path):
    stats = serving.index_stats(opened)
    assert (stats["documents"], stats["passages"], stats["segments"]) == (2, 2, 1)
    assert stats["generation"] == 1 and stats["writable"] is True
    assert stats["model"]["dimension"] == 384
    assert stats["build"]["source"]["documents"] == 2 and "path" not in stats["build"]["source"]
    assert str(tmp_path) not in json.dumps(stats)
