"""index/search_batching: concurrent searches run as shared search_batch calls, each caller
getting exactly its lone search's hits; the leader waits for held searches, and no longer."""

from __future__ import annotations

import threading
import time

import pytest

from hybridsearch import Document, HybridIndex
from hybridsearch.errors import InvalidInputError
from hybridsearch.index.search_batching import SearchBatcher

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


class GatedIndex:
    """Forwards ``search_batch`` to the index, recording each call's queries; the first call
    waits for ``gate`` (so the searches that arrive meanwhile queue up)."""

    def __init__(self, index: HybridIndex) -> None:
        self.index = index
        self.calls: list[list[str]] = []
        self.gate = threading.Event()

    def search_batch(self, queries, k=10, **options):
        self.calls.append(list(queries))
        if len(self.calls) == 1:
            assert self.gate.wait(10)
        return self.index.search_batch(queries, k, **options)


def _in_threads(batcher: SearchBatcher, jobs: list[tuple[list[str], int, dict]]) -> list:
    """Each job (queries, k, options) searched from its own thread, held (enter/leave) as a
    server holds it; the result or the error of each, in job order."""
    results: list = [None] * len(jobs)

    def run(number: int, queries: list[str], k: int, options: dict) -> None:
        try:
            results[number] = batcher.search(queries, k, **options)
        except Exception as error:
            results[number] = error
        finally:
            batcher.leave()

    threads = []
    for number, job in enumerate(jobs):
        batcher.enter()
        threads.append(threading.Thread(target=run, args=(number, *job)))
        threads[-1].start()
    return [threads, results]


def _wait_until(condition, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


def test_queued_searches_share_one_call_and_each_gets_its_lone_hits(index):
    gated = GatedIndex(index)
    batcher = SearchBatcher(gated, max_wait_ms=5000)
    jobs = [([query], 3, {}) for query in QUERIES] + [([QUERIES[0]], 2, {"mode": "bm25"})]
    first_thread, first = _in_threads(batcher, jobs[:1])
    _wait_until(lambda: len(gated.calls) == 1)  # the first search leads, held at the gate
    threads, results = _in_threads(batcher, jobs[1:])
    _wait_until(lambda: len(batcher._queue) == len(jobs) - 1)
    gated.gate.set()
    for thread in first_thread + threads:
        thread.join(10)
    # One call for the first, one for the six queued with equal options, one for the other.
    # (The queued ones in the order their threads queued.)
    assert gated.calls[0] == QUERIES[:1]
    assert sorted(map(sorted, gated.calls[1:])) == sorted([sorted(QUERIES[1:]), QUERIES[:1]])
    for (queries, k, options), hits in zip(jobs, first + results, strict=True):
        assert len(hits) == 1
        alone = index.search(queries[0], k, **options)
        # Bit for bit: every field, scores of each leg included.
        assert hits[0].to_dicts() == alone.to_dicts()
    stats = batcher.stats.to_dict()
    assert (stats["searches"], stats["queries"], stats["batches"]) == (8, 8, 3)
    assert stats["sizes"] == {"1": 2, "6": 1}


def test_a_search_that_fails_fails_alone(index):
    gated = GatedIndex(index)
    batcher = SearchBatcher(gated, max_wait_ms=5000)
    first_thread, _ = _in_threads(batcher, [(["cats"], 2, {})])
    _wait_until(lambda: len(gated.calls) == 1)
    threads, results = _in_threads(batcher, [(["dogs"], 2, {}), ([" "], 2, {}), (["owl"], 2, {})])
    _wait_until(lambda: len(batcher._queue) == 3)
    gated.gate.set()
    for thread in first_thread + threads:
        thread.join(10)
    assert isinstance(results[1], InvalidInputError)
    assert results[0][0].to_dicts() == index.search("dogs", 2).to_dicts()
    assert results[2][0].to_dicts() == index.search("owl", 2).to_dicts()


def test_the_leader_waits_for_held_searches_at_most_max_wait(index):
    batcher = SearchBatcher(index, max_wait_ms=60_000)
    batcher.enter()
    batcher.enter()  # two held: the first to queue waits for the second
    results: list = []
    runner = threading.Thread(target=lambda: results.append(batcher.search(["cats"], 1)))
    runner.start()
    _wait_until(lambda: batcher._leading)
    assert not results and runner.is_alive()  # still waiting for company
    second = batcher.search(["dogs"], 1)
    runner.join(10)
    assert second[0].to_dicts() == index.search("dogs", 1).to_dicts()
    assert batcher.stats.sizes == {2: 1} and batcher.stats.waits["all"] == 1

    batcher = SearchBatcher(index, max_wait_ms=30)
    batcher.enter()
    batcher.enter()  # the second never comes: the first runs after max_wait_ms
    started = time.perf_counter()
    batcher.search(["cats"], 1)
    assert 0.03 <= time.perf_counter() - started < 5
    assert batcher.stats.waits == {"all": 0, "settled": 0, "full": 0, "timeout": 1}


def test_a_lone_search_does_not_wait(index):
    batcher = SearchBatcher(index, max_wait_ms=60_000)
    batcher.enter()
    hits = batcher.search(QUERIES[:2], 3)  # a multi-query request is one search
    batcher.leave()
    assert [h.to_dicts() for h in hits] == [
        h.to_dicts() for h in index.search_batch(QUERIES[:2], 3)
    ]
    assert batcher.stats.waits["all"] == 1 and batcher.stats.sizes == {2: 1}
    with pytest.raises(InvalidInputError, match="max_batch"):
        SearchBatcher(index, max_batch=0)
    with pytest.raises(InvalidInputError, match="empty"):
        batcher.search([], 3)
