"""index/search_batching: several callers' searches as one search_batch call, each getting
exactly its lone search's hits, and a failing search failing alone."""

from __future__ import annotations

import pytest

from hybridsearch import Document, HybridIndex
from hybridsearch.errors import InvalidInputError
from hybridsearch.index.search_batching import SearchBatchingStats, search_together

TEXTS = [
    "Cats purr and hunt mice at night.",
    "Dogs bark, fetch sticks and guard the house.",
    "Owls are nocturnal birds of prey with silent flight.",
    "Bees collect nectar and make honey in their hives.",
    "Frogs lay eggs in ponds; the tadpoles grow legs.",
    "Salmon swim upstream to spawn in the river where they hatched.",
    "Honey badgers are fearless and eat bee larvae.",
    "Bats hunt insects at night using echolocation.",
]
#: Queries of several token lengths, so a batch spans several padded lengths (buckets).
QUERIES = [
    "night hunters",
    "which animal makes honey from the nectar of flowers in a hive",
    "birds",
    "animals that lay eggs in water and whose young grow legs later in life",
    "fish swimming upstream",
    "echolocation",
    "fearless",
]


@pytest.fixture(scope="module")
def index(encoder):
    documents = [Document(f"d{number}", text) for number, text in enumerate(TEXTS)]
    return HybridIndex.build(documents, model=encoder)


class CountingIndex:
    """Forwards ``search_batch`` and ``search_each`` to the index, recording each call's
    queries."""

    def __init__(self, index: HybridIndex) -> None:
        self.index = index
        self.calls: list[list[str]] = []

    def search_batch(self, queries, k=10, **options):
        self.calls.append(list(queries))
        return self.index.search_batch(queries, k, **options)

    def search_each(self, queries, k=10, **options):
        self.calls.append(list(queries))
        return self.index.search_each(queries, k, **options)


def test_searches_share_one_call_and_each_gets_its_lone_hits(index):
    counting, stats = CountingIndex(index), SearchBatchingStats()
    jobs = [([query], 3, {"mode": "hybrid"}) for query in QUERIES[:5]] + [(QUERIES[5:], 3, {})]
    results = search_together(counting, jobs, stats)
    assert counting.calls == [QUERIES]  # one call, the queries in order
    for (queries, k, _), hits in zip(jobs, results, strict=True):
        assert len(hits) == len(queries)
        for query, found in zip(queries, hits, strict=True):
            # Bit for bit: every field, each leg's rank and score included.
            assert found.to_dicts() == index.search(query, k).to_dicts()
    counted = stats.to_dict()
    assert (counted["searches"], counted["queries"], counted["batches"]) == (6, 7, 1)
    assert counted["sizes"] == {"7": 1} and counted["search_ms"] > 0


def test_a_search_that_fails_fails_alone(index):
    counting = CountingIndex(index)
    jobs = [(["dogs"], 2, {}), ([" "], 2, {}), (["owls", "bees"], 2, {})]
    results = search_together(counting, jobs)
    assert isinstance(results[1], InvalidInputError)
    assert results[0][0].to_dicts() == index.search("dogs", 2).to_dicts()
    assert [hits.to_dicts() for hits in results[2]] == [
        index.search(query, 2).to_dicts() for query in ("owls", "bees")
    ]
    assert len(counting.calls) == 4  # the shared call, then each search alone
