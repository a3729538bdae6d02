"""Segments with an IVF index (VectorSettings kind "ivf"): written, reopened, merged."""

from __future__ import annotations

from hybridsearch.corpus.documents import Document
from hybridsearch.index.hybrid_index import HybridIndex

WORDS = ["tea", "coffee", "water", "leaves", "brew", "grind", "beans", "milk", "cup", "kettle"]


def _documents(start: int, count: int) -> list[Document]:
    return [
        Document(
            id=f"d{number}",
            text=" ".join(WORDS[(number * 7 + i) % len(WORDS)] for i in range(3 + number % 5))
            + f" note {number}",  # distinct texts: one vector per text, however batched
            metadata={"bucket": number % 3},
        )
        for number in range(start, start + count)
    ]


def _hits(index: HybridIndex, **options) -> list[tuple]:
    return [(h.doc_id, h.passage_id, h.dense_score) for h in index.search("green tea", **options)]


def test_ivf_segments_are_written_reopened_and_merged(encoder, tmp_path):
    path, cache = tmp_path / "index", tmp_path / "cache"  # the cache: one encoding of each text
    ivf = HybridIndex.build(
        _documents(0, 30), model=encoder, vectors={"kind": "ivf"}, embedding_cache=cache
    )
    flat = HybridIndex.build(
        _documents(0, 30), model=encoder, vectors={"kind": "flat"}, embedding_cache=cache
    )
    ivf.save(path)
    segment = next((path / "segments").iterdir())
    assert (segment / "ivf.faiss").is_file() and not (segment / "hnsw.faiss").exists()

    loaded = HybridIndex.load(path, model=encoder)
    assert loaded.settings.vectors.kind == "ivf"
    assert all(segment.ivf is not None for segment in loaded.snapshot.segments)
    for options in ({"mode": "dense"}, {"mode": "hybrid", "filter": {"bucket": 1}}):
        # Below exact_below passing rows a segment is searched exactly: flat's hits.
        assert _hits(loaded, **options) == _hits(flat, **options)
    assert "exact: " in loaded.search("green tea", mode="dense").plan.describe()

    writer = HybridIndex.open(path, model=encoder)
    writer.add(_documents(30, 10))
    writer.commit()
    writer.compact()
    writer.commit()
    assert writer.num_segments == 1
    assert writer.snapshot.segments[0].ivf.ntotal == writer.num_passages
    writer.close()
