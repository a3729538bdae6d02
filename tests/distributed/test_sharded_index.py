"""Sharded indexes on a local Ray instance: scifact with 1, 2 and 3 shards equals one index;
writes are routed; a shard actor killed mid-query is restarted and the query retried.

Scifact subset: the first 120 documents of the corpus (encoding all 5,183 takes minutes on 2
cores, past this file's budget), each given two metadata fields derived from its position (so
filters have something to test), and the first 12 train queries. The single index is built
first, through a session embedding cache, and every sharded build reads its vectors from it:
each passage is encoded once per session and both sides hold the same vectors. The scifact
shards are built in this process (a Ray task loads its own model, seconds each on 2 cores) and
served by Ray actors; the command-line test builds through Ray tasks.

Where ../shared/beir is absent (a clean clone in CI), the same tests run on a synthetic corpus
of 120 documents drawn from a small vocabulary (many repeated terms, so BM25 ties are common),
so the equality and killed-actor tests run in CI either way.
"""

from __future__ import annotations

import itertools
import shutil
import warnings
from pathlib import Path

import pytest

from hybridsearch import Document, HybridIndex, read_corpus
from hybridsearch.errors import DuplicateDocumentError, UnknownDocumentError
from hybridsearch.index.sharded_build import build_sharded, build_shards_in_process
from tests.index.sharding_support import SEARCH_SHAPES, MemoQueryEncoder, assert_same_results

# Ray's start, the scifact subset's encoding and the Ray builds take over 20 s together.
pytestmark = pytest.mark.slow

BEIR_ROOT = Path(__file__).resolve().parents[3] / "shared" / "beir"
SCIFACT = BEIR_ROOT / "scifact"
SUBSET = 120
QUERIES = 12
FILTERS = (None, {"bucket": {"in": ["a", "c"]}}, {"year": {"gte": 2010}})


SYNTHETIC_WORDS = (
    "cell", "protein", "gene", "tumour", "vitamin", "bone", "density", "immune", "response",
    "trial", "dose", "risk", "blood", "pressure", "insulin", "glucose", "brain", "neuron",
    "memory", "sleep", "diet", "exercise", "heart", "lung", "virus",
)


def _synthetic_corpus() -> tuple[list[Document], list[str]]:
    """120 documents and 12 queries from a small vocabulary (deterministic)."""
    import random

    generator = random.Random(13)
    documents = [
        Document(
            f"s{position}",
            " ".join(generator.choices(SYNTHETIC_WORDS, k=generator.randint(8, 40))) + ".",
            title=" ".join(generator.choices(SYNTHETIC_WORDS, k=3)),
            metadata={"bucket": "abc"[position % 3], "year": 2000 + position % 20},
        )
        for position in range(SUBSET)
    ]
    queries = [" ".join(generator.choices(SYNTHETIC_WORDS, k=3)) for _ in range(QUERIES)]
    return documents, queries


@pytest.fixture(scope="session")
def scifact_subset():
    if not (SCIFACT / "corpus.jsonl").is_file():
        return _synthetic_corpus()  # no BEIR data beside the clone: the same checks, made-up text
    from hybridsearch.eval.beir import load_beir

    documents = [
        Document(
            document.id,
            document.text,
            title=document.title,
            metadata={"bucket": "abc"[position % 3], "year": 2000 + position % 20},
        )
        for position, document in enumerate(itertools.islice(read_corpus(SCIFACT), SUBSET))
    ]
    queries = list(load_beir(SCIFACT, split="train").queries.values())[:QUERIES]
    return documents, queries


@pytest.fixture(scope="session")
def scifact_single(scifact_subset, encoder, tmp_path_factory):
    cache = tmp_path_factory.mktemp("scifact-vectors")
    index = HybridIndex.build(scifact_subset[0], model=encoder, embedding_cache=cache)
    index.encoder = MemoQueryEncoder(encoder)  # each query encoded once, for both sides
    return index, cache


@pytest.fixture(scope="session")
def scifact_sharded(ray_instance, scifact_subset, scifact_single, encoder, tmp_path_factory):
    """The subset in 1, 2 and 3 shards, each served by Ray actors; closed at the end."""
    from hybridsearch.distributed.sharded_index import ShardedIndex

    single, cache = scifact_single
    indexes = {}
    for shards in (1, 2, 3):
        path = tmp_path_factory.mktemp(f"scifact-{shards}") / "index"
        build_sharded(
            scifact_subset[0],
            path,
            shards,
            build_shards_in_process(encoder),
            build_options={"embedding_cache": cache},
        )
        indexes[shards] = ShardedIndex.open(path, model=encoder)
        indexes[shards].coordinator.encoder = single.encoder
    yield indexes
    for index in indexes.values():
        index.close()


@pytest.mark.parametrize("shards", [1, 2, 3])
def test_scifact_sharded_equals_one_index(shards, scifact_subset, scifact_single, scifact_sharded):
    _, queries = scifact_subset
    single, _ = scifact_single
    sharded = scifact_sharded[shards]
    assert (sharded.num_documents, sharded.num_passages) == (
        single.num_documents,
        single.num_passages,
    )
    for flt, shape in itertools.product(FILTERS, SEARCH_SHAPES):
        expected = single.search_batch(queries, 10, filter=flt, **shape)
        got = sharded.search_batch(queries, 10, filter=flt, **shape)
        for query, want, have in zip(queries, expected, got, strict=True):
            assert have.missing_shards == ()
            assert len(have.shards_answered) == shards
            assert_same_results(want, have, f"{query!r} {shape} {flt} on {shards} shards")


def test_killed_actor_is_restarted_and_the_query_retried(
    ray_instance, scifact_subset, scifact_single, scifact_sharded, encoder, tmp_path
):
    from hybridsearch.distributed.sharded_index import ShardedIndex

    _, queries = scifact_subset
    single, _ = scifact_single
    sharded = scifact_sharded[3]
    group = sharded.coordinator.group
    call = group.call
    killed = []

    def call_killing_shard_1(method, *args, shards=None):
        # Mid-query: after the DFS phase, as the BM25 leg goes out, shard 1's actor dies.
        if method == "bm25" and not killed:
            killed.append(1)
            ray_instance.kill(group.actors[1], no_restart=True)
        return call(method, *args, shards=shards)

    group.call = call_killing_shard_1
    try:
        got = sharded.search(queries[0], k=10)
    finally:
        del group.call
    assert killed and group.restarts.get(1) == 1
    assert got.missing_shards == () and got.shards_answered == (0, 1, 2)
    assert_same_results(single.search(queries[0], k=10), got, "after a restart")

    # A shard that cannot restart (its directory is gone) is reported, never silently dropped.
    copy = tmp_path / "copy"
    shutil.copytree(sharded.directory, copy)
    with ShardedIndex.open(copy, model=encoder) as broken:
        shutil.rmtree(copy / "shards" / "shard_0001")
        ray_instance.kill(broken.coordinator.group.actors[1], no_restart=True)
        with pytest.warns(RuntimeWarning, match=r"shards \[1\] did not answer"):
            partial = broken.search(queries[0], k=10, mode="bm25")
    assert partial.missing_shards == (1,) and partial.shards_answered == (0, 2)
    assert not partial.complete
    assert {hit.doc_id for hit in partial} <= {
        hit.doc_id for hit in single.search(queries[0], k=300, mode="bm25")
    }


def test_writes_are_routed_and_statistics_stay_global(ray_instance, encoder, tmp_path):
    from hybridsearch.distributed.sharded_index import ShardedIndex

    documents = [
        Document(f"d{n}", text)
        for n, text in enumerate(
            [
                "solar cells and batteries",
                "lithium battery storage",
                "gene expression in mice",
                "protein folding",
                "solar energy storage",
                "mouse models of insulin",
            ]
        )
    ]
    cache = tmp_path / "vectors"
    single_path = tmp_path / "single"
    HybridIndex.build(documents, model=encoder, embedding_cache=cache).save(single_path)
    build_sharded(
        documents,
        tmp_path / "sharded",
        2,
        build_shards_in_process(encoder),
        build_options={"embedding_cache": cache},
    )
    with (
        ShardedIndex.open(tmp_path / "sharded", model=encoder, embedding_cache=cache) as sharded,
        HybridIndex.open(single_path, model=encoder, embedding_cache=cache) as single,
    ):
        added = [Document("d9", "battery recycling of lithium"), Document("d10", "solar mice")]
        for index in (single, sharded):
            index.add(added)
            index.delete(["d1", "d3"])
            index.update([Document("d0", "solar cells, perovskite")])
        with pytest.raises(DuplicateDocumentError):
            sharded.add([Document("d9", "again")])
        with pytest.raises(UnknownDocumentError):
            sharded.delete(["d1"])
        sharded.commit()
        assert sharded.num_documents == single.num_documents == 6
        for query, shape in itertools.product(["solar battery", "mice insulin"], SEARCH_SHAPES):
            assert_same_results(
                single.search(query, k=10, **shape), sharded.search(query, k=10, **shape), query
            )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        reopened = ShardedIndex.open(tmp_path / "sharded", model=encoder)
    with reopened:
        assert reopened.num_documents == 6


def test_cli_builds_and_searches_a_sharded_index(ray_instance, tmp_path, capsys):
    import json

    from hybridsearch.cli.main import main

    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text(
        "".join(
            json.dumps({"id": f"d{n}", "text": text}) + "\n"
            for n, text in enumerate(["solar cells", "lithium batteries", "mouse genes"])
        )
    )
    index = tmp_path / "index"
    assert (
        main(["build", str(corpus), "--index", str(index), "--shards", "2", "--no-progress"]) == 0
    )
    assert "in 2 shards" in capsys.readouterr().err
    assert main(["search", "--index", str(index), "battery", "--json", "-k", "2"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["hits"][0]["doc_id"] == "d1"
    assert main(["build", str(corpus), "--index", str(index), "--shards", "0"]) != 0
