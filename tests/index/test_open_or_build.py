"""HybridIndex.open_or_build: reuse when corpus, settings and model match; rebuild and say why."""

from __future__ import annotations

import json

import pytest

from hybridsearch.corpus.documents import Document
from hybridsearch.index.hybrid_index import HybridIndex

DOCUMENTS = [
    Document(id="tea", title="Green tea", text="Steep green tea leaves for two minutes."),
    Document(id="coffee", text="Grind coffee beans just before brewing them."),
    Document(id="bread", text="Knead the dough, let it rise, and bake the loaf."),
]


def _write_jsonl(path, documents):
    records = [{"id": d.id, "title": d.title, "text": d.text} for d in documents]
    path.write_text("".join(json.dumps(record) + "\n" for record in records))


def test_builds_then_reuses_then_rebuilds_with_reasons(tmp_path, encoder):
    path = tmp_path / "index"
    first = HybridIndex.open_or_build(path, DOCUMENTS, model=encoder)
    assert first.origin.startswith("built") and "no usable index" in first.origin
    manifest_mtime = (path / "manifest.json").stat().st_mtime_ns

    again = HybridIndex.open_or_build(path, list(DOCUMENTS), model=encoder)
    assert again.origin.startswith("reused")
    assert (path / "manifest.json").stat().st_mtime_ns == manifest_mtime  # not rewritten
    assert [h.to_dict() for h in again.search("tea")] == [h.to_dict() for h in first.search("tea")]

    changed = [*DOCUMENTS, Document(id="rice", text="Rinse the rice before cooking it.")]
    rebuilt = HybridIndex.open_or_build(path, changed, model=encoder)
    assert rebuilt.origin == f"built {path}: the corpus changed"
    assert rebuilt.num_documents == 4

    resettled = HybridIndex.open_or_build(path, changed, model=encoder, bm25={"k1": 0.9})
    assert "settings changed (bm25:" in resettled.origin
    assert resettled.settings.bm25.k1 == 0.9
    assert HybridIndex.load(path, model=encoder).settings.bm25.k1 == 0.9


def test_reads_a_corpus_path_and_records_it(tmp_path, encoder):
    corpus = tmp_path / "corpus.jsonl"
    _write_jsonl(corpus, DOCUMENTS)
    index = HybridIndex.open_or_build(tmp_path / "index", corpus, model=encoder)
    assert index.build_info.source["path"] == str(corpus.resolve())
    assert index.build_info.source["documents"] == 3
    assert HybridIndex.open_or_build(tmp_path / "index", corpus, model=encoder).origin.startswith(
        "reused"
    )


def test_a_damaged_index_is_rebuilt_not_trusted(tmp_path, encoder):
    path = tmp_path / "index"
    HybridIndex.open_or_build(path, DOCUMENTS, model=encoder)
    (path / "manifest.json").write_text("{not json")
    index = HybridIndex.open_or_build(path, DOCUMENTS, model=encoder)
    assert index.origin.startswith("built") and "unreadable manifest" in index.origin
    assert HybridIndex.load(path, model=encoder).num_documents == 3


def test_bad_settings_fail_before_anything_is_built(tmp_path, encoder):
    from hybridsearch.errors import InvalidInputError

    with pytest.raises(InvalidInputError, match="k1"):
        HybridIndex.open_or_build(tmp_path / "index", DOCUMENTS, model=encoder, bm25={"k1": -1})
    assert not (tmp_path / "index").exists()
