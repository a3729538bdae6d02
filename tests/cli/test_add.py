"""``hybridsearch add``: new documents become searchable, ``--update`` replaces by id, known
ids are refused without it, and a failed add changes nothing."""

from __future__ import annotations

import re

from hybridsearch import HybridIndex
from hybridsearch.cli.main import main
from tests.cli.support import (
    assert_failed,
    hit_ids,
    needs_open_option,
    search_json,
    write_jsonl,
)

WHALE = ("whale", "Whales are huge marine mammals that sing long songs across the ocean.", {})
SUMMARY = re.compile(
    r"^added (\d+) documents?(?:, updated (\d+))?: (\d+) documents, (\d+) passages in "
    r"(\d+) segments?; commit (\d+) \(\d+\.\d s\)$"
)


def _add(capsys, index, corpus, *options: str) -> tuple[int, str]:
    capsys.readouterr()
    status = main(["add", "--index", str(index), str(corpus), "--no-progress", *options])
    return status, capsys.readouterr().err


def _summary(stderr: str) -> re.Match[str]:
    match = SUMMARY.match(stderr.strip().splitlines()[-1])
    assert match, stderr
    return match


def test_added_document_is_found(animals_copy, tmp_path, capsys):
    corpus = write_jsonl(tmp_path / "new.jsonl", [WHALE])
    status, err = _add(capsys, animals_copy, corpus)
    assert status == 0, err
    added, updated, documents, passages, segments, generation = _summary(err).groups()
    assert (added, updated, documents, segments) == ("1", None, "7", "2")
    loaded = HybridIndex.load(animals_copy)
    assert loaded.num_documents == 7 and loaded.num_passages == int(passages)
    assert loaded.document("whale").text == WHALE[1]
    for mode in ("bm25", "dense", "hybrid"):
        payload = search_json(capsys, animals_copy, "ocean songs of whales", "--mode", mode)
        assert hit_ids(payload)[0] == "whale"
    # The next commit follows this one.
    corpus = write_jsonl(tmp_path / "more.jsonl", [("seal", "Seals rest on ice floes.", {})])
    status, err = _add(capsys, animals_copy, corpus)
    assert status == 0, err
    assert int(_summary(err).group(6)) > int(generation)


def test_known_id_is_refused_without_update(animals_copy, tmp_path, capsys):
    corpus = write_jsonl(tmp_path / "c.jsonl", [WHALE, ("cat", "Cats fly kites.", {})])
    status, err = _add(capsys, animals_copy, corpus)
    assert_failed(status, err, "already in the index", "'cat'")
    # Nothing of the corpus went in, and the index is not left locked.
    loaded = HybridIndex.load(animals_copy)
    assert loaded.num_documents == 6
    assert "kites" not in loaded.document("cat").text
    assert hit_ids(search_json(capsys, animals_copy, "whale", "--mode", "bm25")) == []
    with HybridIndex.open(animals_copy):
        pass


def test_update_replaces_by_id_and_adds_new_ids(animals_copy, tmp_path, capsys):
    cat = ("cat", "Cats play the xylophone at midnight concerts.", {})
    corpus = write_jsonl(tmp_path / "c.jsonl", [cat, WHALE])
    status, err = _add(capsys, animals_copy, corpus, "--update")
    assert status == 0, err
    added, updated, documents, *_ = _summary(err).groups()
    assert (added, updated, documents) == ("1", "1", "7")
    loaded = HybridIndex.load(animals_copy)
    assert loaded.document("cat").text == cat[1]
    assert hit_ids(search_json(capsys, animals_copy, "xylophone", "--mode", "bm25")) == ["cat"]
    # The old text is gone: its words match nothing any more.
    assert hit_ids(search_json(capsys, animals_copy, "purr mice", "--mode", "bm25")) == []


def test_malformed_corpus_fails_before_the_index_opens(animals_copy, tmp_path, capsys):
    corpus = tmp_path / "bad.jsonl"
    corpus.write_text('{"id": "a", "text": "fine"}\n{"id": "b", \n')
    status, err = _add(capsys, animals_copy, corpus)
    assert_failed(status, err, "bad.jsonl:2")
    assert not (animals_copy / "write.lock").exists()
    assert HybridIndex.load(animals_copy).num_documents == 6


def test_not_an_index(tmp_path, capsys):
    corpus = write_jsonl(tmp_path / "c.jsonl", [WHALE])
    status, err = _add(capsys, tmp_path / "nowhere", corpus)
    assert_failed(status, err, "not a hybridsearch index")


def test_progress_bars_by_default(animals_copy, tmp_path, capsys):
    corpus = write_jsonl(tmp_path / "c.jsonl", [WHALE])
    capsys.readouterr()
    assert main(["add", "--index", str(animals_copy), str(corpus)]) == 0
    err = capsys.readouterr().err
    assert "chunking" in err and "BM25" in err
    _summary(err)


@needs_open_option("batch_size")
def test_batch_size_reaches_the_encoder(animals_copy, tmp_path, capsys, monkeypatch):
    seen = []
    open_index = HybridIndex.open.__func__

    def recording_open(cls, *args, **kwargs):
        index = open_index(cls, *args, **kwargs)
        seen.append(index.encoder.batch_size)
        return index

    monkeypatch.setattr(HybridIndex, "open", classmethod(recording_open))
    corpus = write_jsonl(tmp_path / "c.jsonl", [WHALE])
    status, err = _add(capsys, animals_copy, corpus, "--batch-size", "2")
    assert status == 0, err
    assert seen == [2]
    assert hit_ids(search_json(capsys, animals_copy, "whale", "--mode", "bm25")) == ["whale"]
