"""A living index ranks exactly as a fresh build of its live documents, after any writes.

Hundreds of random sequences of add, update, delete, commit, reopen, merge and compact on a
small corpus; after each, every search (each mode, fusion and unit, with and without a filter)
must equal the same search on an index built from scratch from ``index.documents()``: same
documents, passages, order and leg ranks, scores to 1e-9 relative. Passage vectors come from
an embedding cache, so a text has the same vector in both indexes however it was batched.
"""

from __future__ import annotations

import copy
import random

import numpy as np
import pytest

from hybridsearch.corpus.documents import Document
from hybridsearch.errors import (
    DuplicateDocumentError,
    IndexLockedError,
    ReadOnlyIndexError,
    UnknownDocumentError,
)
from hybridsearch.index.hybrid_index import HybridIndex

WORDS = [
    "tea", "coffee", "water", "leaves", "brew", "steep", "grind", "beans", "roast", "milk",
    "sugar", "cup", "pot", "kettle", "hot", "cold", "green", "black", "herbal", "flavour",
    "bitter", "sweet", "morning", "evening",
]
QUERIES = ["green tea leaves", "grind coffee beans", "hot water kettle", "bitter flavour"]
COMBINATIONS = [
    {"mode": mode, "fusion": fusion, "unit": unit}
    for mode in ("hybrid", "bm25", "dense")
    for fusion in ("rrf", "convex")
    for unit in ("documents", "passages")
    if not (mode != "hybrid" and fusion == "convex")
]
FILTERS = [None, {"lang": "en"}, {"year": {"gte": 2015}}, {"not": {"tags": "x"}}]
TITLES = ["", "Notes"]
# With a weighted title (BM25F), titles that hold query words, so the weight changes rankings.
BM25F_TITLES = ["", "Notes", "Green tea", "Coffee beans", "hot water"]


@pytest.fixture(scope="module")
def encoder(encoder):
    """The session's encoder, its query vectors kept by text: a query is encoded once, not for
    every one of the ~80 dense searches of a seed. Both indexes compared get the vector the
    model gives that query alone (``encode_queries`` is batch-invariant), as before."""
    vectors: dict[str, np.ndarray] = {}

    def encode_queries(texts):
        missing = [text for text in dict.fromkeys(texts) if text not in vectors]
        if missing:
            vectors.update(zip(missing, encoder.encode_queries(missing), strict=True))
        return np.stack([vectors[text] for text in texts])

    remembering = copy.copy(encoder)  # an Encoder still, so the index takes it as it is
    remembering.encode_queries = encode_queries
    return remembering


def _document(rng: random.Random, doc_id: str, titles: list[str] = TITLES) -> Document:
    text = " ".join(rng.choice(WORDS) for _ in range(rng.randint(4, 30)))
    metadata = {"year": rng.randint(2000, 2024), "lang": rng.choice(["en", "de"])}
    if rng.random() < 0.5:
        metadata["tags"] = rng.sample(["x", "y", "z"], rng.randint(1, 2))
    return Document(id=doc_id, text=text, title=rng.choice(titles), metadata=metadata)


def _rows(hits):
    return [
        (h.doc_id, h.passage_id, h.rank, h.bm25_rank, h.dense_rank, h.text, h.start, h.end)
        for h in hits
    ]


def _assert_same_as_fresh(index: HybridIndex, encoder, cache, rng: random.Random) -> None:
    documents = list(index.documents())
    fresh = HybridIndex.build(
        documents,
        model=encoder,
        embedding_cache=cache,
        chunking=index.settings.chunking,
        bm25=index.settings.bm25,
    )
    assert index.num_documents == fresh.num_documents
    assert index.num_passages == fresh.num_passages
    for query in rng.sample(QUERIES, 2):
        for options in rng.sample(COMBINATIONS, 3):
            flt = rng.choice(FILTERS)
            got = index.search(query, k=8, filter=flt, **options)
            want = fresh.search(query, k=8, filter=flt, **options)
            assert _rows(got) == _rows(want), (query, options, flt)
            for a, b in zip(got, want, strict=True):
                assert a.score == pytest.approx(b.score, rel=1e-9, abs=1e-12)
                for leg in ("bm25_score", "dense_score"):
                    x, y = getattr(a, leg), getattr(b, leg)
                    assert (x is None) == (y is None)
                    if x is not None:
                        assert x == pytest.approx(y, rel=1e-9, abs=1e-12)
            assert got.plan.filter_passages == want.plan.filter_passages


def _random_operation(index, rng, next_id, path, encoder, cache, titles=TITLES):
    live = [document.id for document in index.documents()]
    choice = rng.random()
    if choice < 0.3 or len(live) < 3:
        new = [_document(rng, f"d{next_id + n}", titles) for n in range(rng.randint(1, 4))]
        index.add(new)
        return index, next_id + len(new)
    if choice < 0.5:
        chosen = rng.sample(live, rng.randint(1, min(3, len(live) - 1)))
        index.update([_document(rng, doc_id, titles) for doc_id in chosen])
    elif choice < 0.7:
        index.delete(rng.sample(live, rng.randint(1, min(3, len(live) - 1))))
    elif choice < 0.8:
        index.commit()
    elif choice < 0.9:
        index.commit()
        index.close()
        index = HybridIndex.open(path, model=encoder, embedding_cache=cache)
        index.merge_factor = 3
    else:
        index.compact()
    return index, next_id


# Short passages (24 tokens) so documents span several passages and documents crowd results.
CHUNKING = {"passage_tokens": 24, "overlap": 4}


@pytest.mark.parametrize("seed", range(25))
def test_every_search_equals_a_fresh_build_after_random_writes(seed, tmp_path, encoder):
    rng = random.Random(seed)
    cache, path = tmp_path / "cache", tmp_path / "index"
    first = [_document(rng, f"d{n}") for n in range(8)]
    HybridIndex.build(first, model=encoder, embedding_cache=cache, chunking=CHUNKING).save(path)
    index = HybridIndex.open(path, model=encoder, embedding_cache=cache)
    index.merge_factor = 3  # merges happen within a few adds
    next_id = len(first)
    for _ in range(10):
        index, next_id = _random_operation(index, rng, next_id, path, encoder, cache)
        _assert_same_as_fresh(index, encoder, cache, rng)
    index.commit()
    index.close()
    reopened = HybridIndex.load(path, model=encoder)
    assert [d.id for d in reopened.documents()] == [d.id for d in index.documents()]
    assert reopened.num_segments <= 3 * 2  # the merge policy keeps segments few


@pytest.mark.parametrize(("seed", "title_weight"), [(100, 3)])  # ~20 s each on 2 busy cores
def test_a_weighted_title_stays_exact_after_random_writes(seed, title_weight, tmp_path, encoder):
    # BM25F (bm25 title_weight): add, update, delete, merge, compact and reopen keep every
    # search equal to a fresh build with the same weight.
    rng = random.Random(seed)
    cache, path = tmp_path / "cache", tmp_path / "index"
    first = [_document(rng, f"d{n}", BM25F_TITLES) for n in range(8)]
    bm25 = {"title_weight": title_weight}
    HybridIndex.build(
        first, model=encoder, embedding_cache=cache, chunking=CHUNKING, bm25=bm25
    ).save(path)
    index = HybridIndex.open(path, model=encoder, embedding_cache=cache)
    assert index.settings.bm25.title_weight == title_weight
    index.merge_factor = 3
    next_id = len(first)
    for _ in range(10):
        index, next_id = _random_operation(index, rng, next_id, path, encoder, cache, BM25F_TITLES)
        _assert_same_as_fresh(index, encoder, cache, rng)
    index.close()


def test_writes_are_checked_and_reported(tmp_path, encoder):
    rng = random.Random(0)
    path = tmp_path / "index"
    HybridIndex.build([_document(rng, f"d{n}") for n in range(5)], model=encoder).save(path)
    with HybridIndex.open(path, model=encoder) as index:
        with pytest.raises(DuplicateDocumentError, match="use update"):
            index.add([_document(rng, "d1")])
        with pytest.raises(UnknownDocumentError, match="'nope'"):
            index.delete(["d2", "nope"])
        assert index.num_documents == 5  # nothing deleted when one id is unknown
        with pytest.raises(IndexLockedError):
            HybridIndex.open(path, model=encoder)
        index.delete(["d2"])
        assert index.num_documents == 4
        # Uncommitted: a reader of the directory still sees the last commit.
        assert HybridIndex.load(path, model=encoder).num_documents == 5
        index.commit()
        assert HybridIndex.load(path, model=encoder).num_documents == 4
    reader = HybridIndex.load(path, model=encoder)
    with pytest.raises(ReadOnlyIndexError):
        reader.delete(["d1"])
    with pytest.raises(ReadOnlyIndexError):
        HybridIndex.build([_document(rng, "a")], model=encoder).commit()


def test_nothing_deleted_is_ever_returned(tmp_path, encoder):
    rng = random.Random(5)
    documents = [_document(rng, f"d{n}") for n in range(20)]
    index = HybridIndex.build(documents, model=encoder)
    index.delete([f"d{n}" for n in range(0, 20, 2)])
    for query in QUERIES:
        for options in COMBINATIONS:
            hits = index.search(query, k=50, **options)
            assert all(int(hit.doc_id[1:]) % 2 == 1 for hit in hits)
