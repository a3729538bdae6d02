"""server/rendering: response bodies built in the helper process are the bytes the search
thread builds, in order, whatever fails; and a batch of searches uses the helper."""

from __future__ import annotations

import asyncio
import json
import logging
import math
import time

import pydantic_core
import pytest

from hybridsearch import Document, HybridIndex
from hybridsearch.index import serving
from hybridsearch.server.rendering import ResponseData, ResponseHelper, finish_body, response_data
from hybridsearch.server.search_queue import SearchQueue

#: Passages longer than a snippet (240 characters), so the snippet is a chosen window.
TEXTS = {
    "bees": "Bees are flying insects. They live in colonies of thousands. A colony has one "
    "queen that lays the eggs. Worker bees collect nectar from flowers in the meadow. The "
    "nectar becomes honey in the hive, stored in wax cells. Beekeepers harvest the honey in "
    "late summer. Some bees sting only once.",
    "owls": "Owls are birds of prey. Most owls hunt at night and sleep through the day. Their "
    "flight is silent, since soft feathers break up the sound of the air. Owls swallow small "
    "prey whole and bring up pellets of bone and fur. Barn owls nest in old buildings and "
    "hollow trees across the countryside.",
    "frogs": "Frogs are amphibians. They lay eggs in ponds in spring. The eggs hatch into "
    "tadpoles, which breathe with gills and eat algae. Over weeks the tadpoles grow legs and "
    "lose their tails. Adult frogs breathe with lungs and through their skin, and they eat "
    "insects caught with a sticky tongue.",
}
QUERIES = ["how do bees make honey", "owls hunting at night", "tadpoles growing legs", "wax"]


@pytest.fixture(scope="module")
def index(encoder):
    return HybridIndex.build(
        [Document(doc_id, text) for doc_id, text in TEXTS.items()], model=encoder
    )


@pytest.fixture(scope="module")
def helper(index):
    """A started helper with the index's word matcher, ready (stopped after the module)."""
    started = ResponseHelper(serving.word_matcher_settings(index))
    started.start()
    _until(lambda: started.usable)
    yield started
    started.close()


def _until(condition, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def _pending(index, queries, *, batch=False, snippets=True, explain=False, generation=3):
    found = index.search_batch(queries, 2)
    data = response_data(
        queries, found, snippets=snippets, explain=explain, batch=batch, generation=generation
    )
    return data, found[0].analyzer


def test_a_body_is_the_hits_to_dicts_as_json(index):
    hits = index.search(QUERIES[0], 2)
    body = finish_body(*_pending(index, [QUERIES[0]]))
    expected = {"query": QUERIES[0], "hits": hits.to_dicts(), "generation": 3, "plan": None,
                "timings_ms": None}  # fmt: skip
    assert body == pydantic_core.to_json(expected)
    snippets = [hit["snippet"] for hit in json.loads(body)["hits"]]
    assert all(snippets) and snippets[0] != TEXTS[hits[0].doc_id]  # a window, not the whole
    unsnipped = json.loads(finish_body(*_pending(index, [QUERIES[0]], snippets=False)))
    assert [hit["snippet"] for hit in unsnipped["hits"]] == ["", ""]


def test_the_helper_builds_the_bytes_built_here_in_order(index, helper):
    responses = [
        _pending(index, [QUERIES[0]]),
        _pending(index, QUERIES, batch=True, explain=True),
        ValueError("this request's own error"),
        _pending(index, [QUERIES[1]], snippets=False),
        _pending(index, [QUERIES[2]]),
        _pending(index, [QUERIES[3]]),
    ]
    here = [
        response if isinstance(response, Exception) else finish_body(*response)
        for response in responses
    ]
    before = helper.built_aside
    built = list(helper.build_each(iter(responses), len(responses)))
    assert built == here
    # Each but the error and the last (built here while the helper builds the one before).
    assert helper.built_aside - before == 4
    assert list(helper.build_each(iter(responses[:1]), 1)) == here[:1]  # a lone one: here
    assert helper.built_aside - before == 4


def test_a_body_the_helper_cannot_build_is_built_here_and_fails_alone(index, helper):
    good = _pending(index, [QUERIES[0]])
    data, matcher = _pending(index, [QUERIES[1]])
    data.data["hits"][0]["metadata"] = {"when": object()}  # no JSON for this
    built = list(helper.build_each(iter([(data, matcher), good, good]), 3))
    assert isinstance(built[0], Exception) and "cannot encode a object" in str(built[0])
    assert built[1:] == [finish_body(*good)] * 2
    assert helper.usable  # the helper goes on


def test_a_helper_that_dies_is_given_up_and_the_bodies_still_come(index, encoder, caplog):
    dying = ResponseHelper(serving.word_matcher_settings(index))
    dying.start()
    _until(lambda: dying.usable)
    responses = [_pending(index, [query]) for query in QUERIES]

    def killed_after_the_first():
        for number, response in enumerate(responses):
            if number == 1:
                dying._process.kill()
                dying._process.join()
            yield response

    with caplog.at_level(logging.WARNING, logger="hybridsearch.server"):
        built = list(dying.build_each(killed_after_the_first(), len(responses)))
    assert built == [finish_body(*response) for response in responses]
    assert not dying.usable and "built in the search thread" in caplog.text
    dying.close()



def test_a_batch_stopped_with_a_body_in_flight_leaves_none_for_the_next(index, helper):
    responses = [_pending(index, [query]) for query in QUERIES]
    built = helper.build_each(iter(responses), len(responses))
    # The first body is in flight once the second response is taken; stop there.
    assert next(built) == finish_body(*responses[0])
    built.close()
    again = list(helper.build_each(iter(responses[2:]), 2))
    assert again == [finish_body(*response) for response in responses[2:]]
    assert helper.usable

def test_no_helper_without_plain_analyzer_settings(index):
    nothing = ResponseHelper(None)
    nothing.start()  # does nothing
    assert not nothing.usable and nothing._process is None
    response = _pending(index, [QUERIES[0]])
    assert list(nothing.build_each(iter([response, response]), 2)) == [finish_body(*response)] * 2


def test_nan_scores_and_numpy_values_encode_as_the_models_would(index):
    data, matcher = _pending(index, [QUERIES[0]])
    data.data["hits"][0]["score"] = math.nan
    data.data["hits"][0]["metadata"] = {"count": __import__("numpy").int64(7)}
    decoded = json.loads(finish_body(ResponseData(*data), matcher))
    assert decoded["hits"][0]["score"] is None and decoded["hits"][0]["metadata"] == {"count": 7}


def test_a_queue_batch_of_several_searches_uses_the_helper(index):
    queue = SearchQueue(index, max_wait_ms=0)

    def render(found, generation):
        return response_data(
            [hits.plan.query for hits in found], found, snippets=True, explain=False,
            batch=False, generation=generation,
        ), found[0].analyzer  # fmt: skip

    async def batch():
        return await asyncio.gather(*(queue.search([query], 2, {}, render) for query in QUERIES))

    try:
        asyncio.run(batch())  # starts the helper
        _until(lambda: queue.responses.usable)
        bodies = asyncio.run(batch())
    finally:
        queue.close()
    assert bodies == [finish_body(*render([index.search(query, 2)], None)) for query in QUERIES]
    assert queue.stats.to_dict()["built_aside"] >= len(QUERIES) - 1
    assert not queue.responses.usable  # closed
