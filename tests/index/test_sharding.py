"""Sharded search in-process: equal to one index over the same corpus (property test).

The shards here are :class:`~hybridsearch.index.shard_searcher.ShardSearcher` objects of the
test process: the coordinator and shard code Ray runs, without the transport (Ray's own tests
are in tests/distributed). Documents draw their texts from a small pool, with repeats, so the
legs tie often and the tie-break (score, then corpus position) is exercised; the pool's vectors
are encoded once per session (an embedding cache), so both indexes hold the same vectors.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hybridsearch import Document, HybridIndex
from hybridsearch.errors import InvalidInputError
from hybridsearch.index.shard_routing import (
    POSITION_FIELD,
    read_sharded_manifest,
    shard_of,
    split_by_shard,
)
from hybridsearch.index.shard_searcher import Candidates
from hybridsearch.index.sharded_build import (
    build_sharded,
    build_shards_in_process,
    open_coordinator,
)
from hybridsearch.index.sharding import merge_candidates
from tests.index.sharding_support import SEARCH_SHAPES, MemoQueryEncoder, assert_same_results

_WORD_LINE = "solar cell battery lithium protein gene tumour growth energy storage insulin mouse"
WORDS = _WORD_LINE.split(" ")
POOL = [
    " ".join(np.random.default_rng(seed).choice(WORDS, 3 + seed % 7).tolist()) for seed in range(24)
]
QUERIES = ["solar cell energy", "protein gene mouse", "battery", "unheard-of words"]


@pytest.fixture(scope="session")
def vector_cache(tmp_path_factory):
    return tmp_path_factory.mktemp("sharding-vectors")


@pytest.fixture(scope="session")
def query_encoder(encoder):
    return MemoQueryEncoder(encoder)


corpora = st.lists(
    st.tuples(st.integers(0, len(POOL) - 1), st.integers(2000, 2004)), min_size=1, max_size=14
)


@settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    corpus=corpora,
    num_shards=st.integers(1, 3),
    variant=st.sampled_from(["lucene", "okapi", "bm25plus"]),
)
def test_sharded_search_equals_one_index(
    corpus, num_shards, variant, encoder, query_encoder, vector_cache, tmp_path_factory
):
    documents = [
        Document(f"doc{n}", POOL[text], metadata={"year": year})
        for n, (text, year) in enumerate(corpus)
    ]
    options = {"embedding_cache": vector_cache, "bm25": {"variant": variant}}
    single = HybridIndex.build(documents, model=encoder, **options)
    path = tmp_path_factory.mktemp("sharded") / "index"
    build_sharded(
        documents, path, num_shards, build_shards_in_process(encoder), build_options=options
    )
    coordinator = open_coordinator(path, model=encoder)
    single.encoder = coordinator.encoder = query_encoder
    present = tuple(n for n, flag in enumerate(read_sharded_manifest(path).present) if flag)
    for flt in (None, {"year": {"gte": 2002}}):
        for shape in SEARCH_SHAPES:
            expected = single.search_batch(QUERIES, 8, filter=flt, depth=5, **shape)
            got = coordinator.search_batch(QUERIES, 8, {"filter": flt, "depth": 5, **shape})
            for query, want, have in zip(QUERIES, expected, got, strict=True):
                assert_same_results(want, have, f"{query!r} {shape} {flt} {num_shards} shards")
                assert have.shards_answered == present


def test_routing_is_a_stable_hash():
    # Fixed values: any process, any machine, any Python (hash() is salted per process).
    assert [shard_of(doc_id, 3) for doc_id in ("a", "doc7", "日本")] == [
        shard_of(doc_id, 3) for doc_id in ("a", "doc7", "日本")
    ]
    assert (
        shard_of("a", 1000) == int.from_bytes(bytes.fromhex("ca978112ca1bbdca"), "big") % 1000
    )  # sha256("a") starts ca978112ca1bbdca
    parts = split_by_shard([Document(f"d{n}", "x") for n in range(50)], 4)
    assert sum(map(len, parts)) == 50 and all(parts)


def test_reserved_position_field_is_refused(tmp_path, encoder):
    document = Document("d1", "text", metadata={POSITION_FIELD: 3})
    with pytest.raises(InvalidInputError, match=POSITION_FIELD):
        build_sharded([document], tmp_path / "ix", 2, build_shards_in_process(encoder))


def test_merge_orders_ties_by_corpus_position():
    def candidates(rows, scores, positions):
        rows = np.array(rows, np.int64)
        return Candidates(rows, np.array(scores, float), np.array(positions, np.int64), rows)

    answers = {0: candidates([0, 1], [2.0, 1.0], [5, 9]), 1: candidates([0, 3], [2.0, 1.0], [2, 7])}
    ids, merged_scores, documents = merge_candidates(answers, 3, 2)
    # Equal scores 2.0: position 2 (shard 1, row 0) before position 5 (shard 0, row 0).
    assert ids.tolist() == [0 * 2 + 1, 0 * 2 + 0, 3 * 2 + 1]
    assert merged_scores.tolist() == [2.0, 2.0, 1.0]
    assert documents.tolist() == ids.tolist()
