"""server/search_queue: requests queued while a batch runs form the next batch, each gets the
body of its own search, and a batch starts without waiting when no company is expected."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from hybridsearch.errors import InvalidInputError
from hybridsearch.server.rendering import ResponseData, finish_body
from hybridsearch.server.search_queue import SearchQueue


class GatedIndex:
    """Records each ``search_each`` call (a batch's shared search); the first waits for
    ``gate`` (so searches queue)."""

    def __init__(self, index) -> None:
        self.index = index
        self.calls: list[list[str]] = []
        self.gate = threading.Event()

    @property
    def generation(self):
        return self.index.generation

    def search_each(self, queries, k=10, **options):
        self.calls.append(list(queries))
        if len(self.calls) == 1:
            assert self.gate.wait(10)
        return self.index.search_each(queries, k, **options)


def render(found, generation):
    """A response: every field of every hit (the JSON keeps each float exactly) and the
    generation; no snippets."""
    data = {"hits": [hits.to_dicts(snippets=False) for hits in found], "generation": generation}
    return ResponseData(data, None, batch=False), None


def body(found, generation) -> bytes:
    """The body the queue gives for ``render``'s response."""
    return finish_body(*render(found, generation))


async def _until(condition, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.002)


def test_searches_queued_meanwhile_form_the_next_batch(index):
    gated = GatedIndex(index)
    queue = SearchQueue(gated, max_wait_ms=5000, settle_ms=20)
    queries = ["zebra", "purring cats that hunt mice", "honey", "birds of prey at night", "pond"]

    async def main():
        first = asyncio.ensure_future(queue.search(["owls"], 2, {}, render))
        await _until(lambda: len(gated.calls) == 1)  # held at the gate
        rest = [asyncio.ensure_future(queue.search([q], 2, {}, render)) for q in queries]
        other = asyncio.ensure_future(queue.search(["owls"], 3, {"mode": "bm25"}, render))
        await asyncio.sleep(0.05)
        gated.gate.set()
        return await asyncio.gather(first, *rest, other)

    bodies = asyncio.run(main())
    # The first alone; the five queued with equal options in one call; the other after.
    assert gated.calls == [["owls"], queries, ["owls"]]
    assert bodies[1:-1] == [body([index.search(q, 2)], 1) for q in queries]
    assert bodies[-1] == body([index.search("owls", 3, mode="bm25")], 1)
    stats = queue.stats.to_dict()
    assert stats["sizes"] == {"1": 2, "5": 1} and stats["searches"] == 7
    # The third batch's one search was fewer than the five before it: it waited for company
    # until none came for settle_ms (20 ms), not max_wait_ms (5 s).
    assert stats["waits"] == {"all": 2, "settled": 1, "full": 0, "timeout": 0}


def test_a_lone_client_never_waits_and_a_smaller_batch_waits_to_settle(index):
    queue = SearchQueue(index, max_wait_ms=5000, settle_ms=30)

    async def main():
        started = time.perf_counter()
        for _ in range(3):  # one client, one search at a time: no wait
            await queue.search(["cats"], 1, {}, render)
        lone = time.perf_counter() - started
        await asyncio.gather(*(queue.search([q], 1, {}, render) for q in ("dogs", "bees")))
        started = time.perf_counter()
        await queue.search(["owls"], 1, {}, render)  # fewer than the last batch's two
        return lone, time.perf_counter() - started

    lone, settled = asyncio.run(main())
    waits = queue.stats.waits
    assert waits["all"] == 4 and waits["settled"] == 1 and waits["timeout"] == 0
    assert settled >= 0.025 and settled < 2  # the settle time, not max_wait_ms
    assert lone < 2


def test_errors_reach_only_their_own_request(index):
    queue = SearchQueue(index, max_wait_ms=0)

    def broken(found, generation) -> bytes:
        raise ValueError("cannot render")

    async def main():
        return await asyncio.gather(
            queue.search(["cats"], 1, {}, render),
            queue.search([" "], 1, {}, render),
            queue.search(["dogs"], 1, {}, broken),
            return_exceptions=True,
        )

    good, empty, unrendered = asyncio.run(main())
    assert good == body([index.search("cats", 1)], 1)
    assert isinstance(empty, InvalidInputError) and isinstance(unrendered, ValueError)
    with pytest.raises(InvalidInputError, match="max_batch"):
        SearchQueue(index, max_batch=0)
