"""The HTTP API in process (FastAPI's TestClient): every endpoint, against the Python API as
the oracle, and what a client may not do (unknown fields, limits, keys, leaks)."""

from __future__ import annotations

import threading

import pytest

from tests.server.conftest import ANIMALS, KEY


def _make_client(index, **options):
    from fastapi.testclient import TestClient

    from hybridsearch.server import create_app

    return TestClient(create_app(index, **options), raise_server_exceptions=False)


def assert_same_hits(actual: list[dict], expected: list[dict]) -> None:
    """Hits equal field for field; dense scores to 1e-5 (a query encoded in a batch of
    others may differ from one encoded alone in the last float32 digits)."""
    assert len(actual) == len(expected)
    for got, want in zip(actual, expected, strict=True):
        assert got.keys() == want.keys()
        for field, value in want.items():
            if isinstance(value, float):
                assert got[field] == pytest.approx(value, abs=1e-5), field
            else:
                assert got[field] == value, field


# -- search ---------------------------------------------------------------------------------------


def test_search_returns_the_python_hits_field_for_field(client, index):
    body = {"query": "which animal makes honey", "k": 3, "filter": {"year": {"gte": 2020}}}
    response = client.post("/search", json=body)
    assert response.status_code == 200, response.text
    payload = response.json()
    expected = index.search("which animal makes honey", 3, filter={"year": {"gte": 2020}})
    assert_same_hits(payload["hits"], expected.to_dicts())
    assert payload["hits"][0]["doc_id"] == "bee"
    assert payload["generation"] == index.generation == 1
    assert payload["plan"] is None


def test_search_options_and_explain_reach_the_planner(client, index):
    body = {"query": "birds at night", "mode": "bm25", "unit": "passages", "explain": True}
    payload = client.post("/search", json=body).json()
    assert payload["plan"]["legs"] == ["bm25"] and payload["plan"]["unit"] == "passages"
    assert set(payload["timings_ms"]) >= {"bm25", "total"}
    assert all(hit["dense_rank"] is None for hit in payload["hits"])
    convex = {"query": "birds", "fusion": "convex", "weights": {"dense": 2.0}, "explain": True}
    plan = client.post("/search", json=convex).json()["plan"]
    assert plan["fusion"] == "convex" and plan["fusion_params"]["weights"]["dense"] == 2.0


def test_batch_search_equals_each_query_searched_alone(client, index):
    queries = ["honey", "tadpoles turning into adults", "loyal canines"]
    payload = client.post("/search/batch", json={"queries": queries, "k": 2}).json()
    assert [result["query"] for result in payload["results"]] == queries
    for result, query in zip(payload["results"], queries, strict=True):
        assert_same_hits(result["hits"], index.search(query, 2).to_dicts())


def test_snippets_can_be_left_out(client, index):
    body = {"query": "which animal makes honey", "k": 3}
    plain = client.post("/search", json=body | {"snippets": False}).json()["hits"]
    expected = index.search(body["query"], 3).to_dicts()
    assert expected[0]["snippet"]  # a snippet by default
    assert_same_hits(plain, [hit | {"snippet": ""} for hit in expected])


def test_a_bad_filter_or_option_is_a_422_naming_it(client):
    response = client.post("/search", json={"query": "cats", "filter": {"year": {"gte": "x"}}})
    assert response.status_code == 422 and "year" in response.json()["detail"]
    response = client.post("/search", json={"query": "cats", "mode": "fuzzy"})
    assert response.status_code == 422 and response.json()["errors"][0]["loc"] == ["body", "mode"]


def test_unknown_fields_are_refused_at_every_level(client):
    response = client.post("/search", json={"query": "cats", "top_k": 3})
    assert response.status_code == 422
    assert response.json()["errors"][0]["loc"] == ["body", "top_k"]
    assert "input" not in response.json()["errors"][0]  # the request is not echoed
    document = {"id": "x", "text": "y", "tags": ["z"]}
    response = client.post("/documents", json={"documents": [document]})
    assert response.status_code == 422
    assert response.json()["errors"][0]["loc"] == ["body", "documents", 0, "tags"]


# -- documents and writes --------------------------------------------------------------------------


def test_get_a_document_or_404(client):
    payload = client.get("/documents/owl").json()
    owl = {"id": "owl", "text": ANIMALS["owl"][0], "title": "", "metadata": {"year": 2021}}
    assert payload == owl
    response = client.get("/documents/unicorn")
    assert response.status_code == 404 and "unicorn" in response.json()["detail"]


def test_writes_are_committed_before_they_are_acknowledged(client, index_path, encoder):
    from hybridsearch import HybridIndex

    shark = {"id": "shark", "text": "Sharks are fish with rows of sharp teeth.", "metadata": {}}
    added = client.post("/documents", json={"documents": [shark]}).json()
    assert added == {"changed": 1, "documents": 6, "generation": 2}
    assert (
        client.post("/search", json={"query": "sharp teeth", "k": 1}).json()["hits"][0]["doc_id"]
        == "shark"
    )
    # Durable: a reader opening the directory now sees it (its last commit).
    assert HybridIndex.load(index_path, model=encoder).document("shark").text == shark["text"]

    again = client.post("/documents", json={"documents": [shark]})
    assert again.status_code == 409 and "shark" in again.json()["detail"]

    changed = {**shark, "text": "Sharks hunt seals near the coast."}
    updated = client.put("/documents", json={"documents": [changed]}).json()
    assert updated == {"changed": 1, "documents": 6, "generation": 3}
    assert client.get("/documents/shark").json()["text"] == changed["text"]

    refused = client.post("/documents/delete", json={"ids": ["cat", "unicorn"]})
    assert refused.status_code == 404 and "unicorn" in refused.json()["detail"]
    assert client.get("/documents/cat").status_code == 200  # nothing was deleted
    deleted = client.post("/documents/delete", json={"ids": ["cat", "dog"]}).json()
    assert deleted == {"changed": 2, "documents": 4, "generation": 4}
    assert client.delete("/documents/owl").json()["documents"] == 3
    assert client.get("/documents/owl").status_code == 404
    on_disk = HybridIndex.load(index_path, model=encoder)
    assert sorted(d.id for d in on_disk.documents()) == ["bee", "frog", "shark"]


def test_a_failed_commit_leaves_the_index_as_it_was(client, index, monkeypatch):
    from hybridsearch.errors import IndexWriteError

    def full_disk():
        raise IndexWriteError(f"no space left writing {index.directory}/segments/x.npy")

    monkeypatch.setattr(index, "commit", full_disk)
    response = client.post("/documents", json={"documents": [{"id": "eel", "text": "Eels."}]})
    assert response.status_code == 503
    assert str(index.directory) not in response.text and "<path>" in response.text
    assert client.get("/documents/eel").status_code == 404
    assert client.get("/stats").json()["documents"] == 5


def test_a_read_only_index_refuses_writes(index_path, encoder):
    from hybridsearch import HybridIndex

    with _make_client(HybridIndex.load(index_path, model=encoder)) as client:
        response = client.post("/documents", json={"documents": [{"id": "a", "text": "b"}]})
        assert response.status_code == 403
        assert str(index_path) not in response.text
        assert client.get("/stats").json()["writable"] is False


# -- health, stats, schema -----------------------------------------------------------------------


def test_stats_describe_the_index_without_paths(client, index, index_path):
    response = client.get("/stats")
    payload = response.json()
    assert (payload["documents"], payload["passages"], payload["segments"]) == (5, 5, 1)
    assert payload["generation"] == 1 and payload["writable"] is True
    assert payload["model"]["dimension"] == 384
    assert payload["model"]["weights_digest"] == index.model_identity.weights_digest
    assert payload["settings"]["bm25"] == index.settings.bm25.to_dict()
    assert payload["build"]["chunking_report"]["documents"] == 5
    assert payload["limits"]["max_k"] == 100
    assert str(index_path) not in response.text and "/tmp" not in response.text


def test_ready_only_once_the_index_is_loaded(index):
    from fastapi.testclient import TestClient

    from hybridsearch.server import create_app

    release = threading.Event()

    def load():
        release.wait(30)
        return index

    with TestClient(create_app(load)) as client:
        assert client.get("/health/live").json() == {"status": "loading", "ready": False}
        assert client.get("/health/ready").status_code == 503
        assert client.post("/search", json={"query": "cats"}).status_code == 503
        release.set()
        for _ in range(300):
            if client.get("/health/ready").status_code == 200:
                break
            threading.Event().wait(0.05)
        assert client.get("/health/ready").json() == {"status": "ok", "ready": True}
        assert client.post("/search", json={"query": "cats"}).status_code == 200


def test_openapi_schema_lists_the_endpoints_and_models(client):
    schema = client.get("/openapi.json").json()
    assert {"/search", "/search/batch", "/documents", "/documents/{doc_id}", "/stats"} <= set(
        schema["paths"]
    )
    components = schema["components"]["schemas"]
    assert {"SearchRequest", "HitModel", "WriteResponse", "StatsResponse"} <= set(components)
    assert components["SearchRequest"]["additionalProperties"] is False
    assert client.get("/docs").status_code == 200


def test_search_bodies_are_exactly_what_the_response_models_describe(client):
    """The search endpoints encode their responses directly (FastAPI does not validate them):
    each body must validate against its model and dump back to itself, no field more."""
    from hybridsearch.server.models import BatchSearchResponse, SearchResponse

    bodies = [
        (SearchResponse, "/search", {"query": "honey bees", "k": 3}),
        (SearchResponse, "/search", {"query": "night birds", "unit": "passages", "explain": True}),
        (BatchSearchResponse, "/search/batch", {"queries": ["cats", "frogs"], "mode": "bm25"}),
    ]
    for model, path, body in bodies:
        response = client.post(path, json=body)
        assert response.status_code == 200 and response.headers["content-type"] == (
            "application/json"
        )
        payload = response.json()
        assert model.model_validate(payload).model_dump(mode="json") == payload, path
    schema = client.get("/openapi.json").json()
    for path, model in (("/search", "SearchResponse"), ("/search/batch", "BatchSearchResponse")):
        ok = schema["paths"][path]["post"]["responses"]["200"]["content"]["application/json"]
        assert ok["schema"]["$ref"].endswith(f"/{model}")


# -- limits, keys, leaks ---------------------------------------------------------------------------


def test_limits_give_a_422_naming_the_limit(index):
    from hybridsearch.server import Limits

    limits = Limits(max_query_chars=50, max_k=5, max_batch_queries=2, max_write_documents=1,
                    max_body_bytes=2_000)  # fmt: skip
    cases = [
        ("/search", {"query": "x" * 51}, "max_query_chars"),
        ("/search", {"query": "cats", "k": 6}, "max_k"),
        ("/search/batch", {"queries": ["a", "b", "c"]}, "max_batch_queries"),
        ("/search/batch", {"queries": ["a", "y" * 51]}, "max_query_chars"),
        ("/documents", {"documents": [{"id": "a", "text": "b"}] * 2}, "max_write_documents"),
        ("/documents/delete", {"ids": ["cat", "dog"]}, "max_write_documents"),
        ("/documents", {"documents": [{"id": "a", "text": "b" * 3_000}]}, "max_body_bytes"),
    ]
    with _make_client(index, limits=limits) as client:
        for path, body, limit in cases:
            response = client.post(path, json=body)
            assert response.status_code == 422, (path, body)
            assert response.json()["errors"][0]["limit"] == limit
            assert limit in response.json()["detail"]
        # A body sent without a Content-Length is counted as it arrives.
        chunks = iter([b'{"query": "', b"z" * 3_000, b'"}'])
        response = client.post("/search", content=chunks)
        assert response.status_code == 422 and "max_body_bytes" in response.text
        assert client.get("/stats").json()["documents"] == 5


def test_an_api_key_guards_writes_and_reads_unless_reads_are_open(index):
    write = {"documents": [{"id": "eel", "text": "Eels are long fish."}]}
    with _make_client(index, api_key=KEY) as client:
        assert client.get("/health/ready").status_code == 200
        for headers in ({}, {"X-API-Key": "wrong"}):
            assert client.post("/documents", json=write, headers=headers).status_code == 401
            assert client.post("/search", json={"query": "eel"}, headers=headers).status_code == 401
            assert client.get("/stats", headers=headers).status_code == 401
        assert client.post("/documents", json=write, headers={"X-API-Key": KEY}).status_code == 200
        assert client.get("/documents/eel", headers={"X-API-Key": KEY}).status_code == 200
    with _make_client(index, api_key=KEY, open_reads=True) as client:
        assert client.post("/search", json={"query": "eel"}).status_code == 200
        assert client.get("/documents/eel").status_code == 200
        assert client.delete("/documents/eel").status_code == 401
        security = client.get("/openapi.json").json()["components"]["securitySchemes"]
        assert security["APIKeyHeader"]["name"] == "X-API-Key"


def test_an_unexpected_error_is_a_500_without_traceback_or_path(index, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError(f"faiss exploded reading {index.directory}/segments/1/vectors.faiss")

    monkeypatch.setattr(index, "search_batch", broken)
    monkeypatch.setattr(index, "search_each", broken)
    with _make_client(index) as client:
        response = client.post("/search", json={"query": "cats"})
    assert response.status_code == 500
    assert response.json() == {"detail": "internal error"}


# -- concurrency ----------------------------------------------------------------------------------


def test_searches_during_writes_see_a_consistent_index(client):
    """Writes add zebra documents one by one; every search sees a prefix of them (the index
    before or after each write, never a mix), and every acknowledged write is there after."""
    writes, failures, stop = 8, [], threading.Event()
    acknowledged: list[str] = []

    def writer():
        for number in range(writes):
            document = {"id": f"zebra{number}", "text": f"Zebra number {number} grazes."}
            response = client.post("/documents", json={"documents": [document]})
            if response.status_code == 200:
                acknowledged.append(document["id"])
        stop.set()

    def searcher():
        while not stop.is_set():
            body = {"query": "zebra grazes", "mode": "bm25", "k": 50}
            response = client.post("/search", json=body)
            if response.status_code != 200:
                failures.append(response.text)
                continue
            found = sorted(int(hit["doc_id"][5:]) for hit in response.json()["hits"])
            if found != list(range(len(found))):
                failures.append(found)
            hybrid = client.post("/search", json={"query": "zebra", "k": 3})
            if hybrid.status_code != 200:
                failures.append(hybrid.text)

    threads = [threading.Thread(target=writer)] + [
        threading.Thread(target=searcher) for _ in range(3)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not failures
    assert acknowledged == [f"zebra{number}" for number in range(writes)]
    final = client.post("/search", json={"query": "zebra grazes", "mode": "bm25", "k": 50})
    assert len(final.json()["hits"]) == writes
    assert client.get("/stats").json()["generation"] == 1 + writes


def test_concurrent_searches_are_batched_and_answer_as_alone(client):
    """Searches sent at once (equal and different options) share search_batch calls, and
    each response body is byte for byte the one the same search gets alone."""
    bodies = [
        {"query": query, "k": k}
        for query in ("purring cats", "honey", "night birds of prey", "ponds")
        for k in (2, 3)
    ]
    alone = [client.post("/search", json=body).content for body in bodies]
    before = client.get("/stats").json()["search_batching"]
    responses: list = [None] * (3 * len(bodies))
    start = threading.Barrier(len(responses))

    def send(number: int) -> None:
        start.wait()
        responses[number] = client.post("/search", json=bodies[number % len(bodies)])

    threads = [threading.Thread(target=send, args=(n,)) for n in range(len(responses))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    for number, response in enumerate(responses):
        assert response.status_code == 200
        assert response.content == alone[number % len(bodies)]
    after = client.get("/stats").json()["search_batching"]
    assert after["searches"] - before["searches"] == len(responses)
    assert after["batches"] - before["batches"] < len(responses)  # some were shared


def test_ready_warms_the_encoder_for_batches(index, encoder, monkeypatch):
    """The app is ready only once the encoder's batch forward is made (dense/packed.py), so
    the first batch of searches pays no start-up."""
    calls = []
    warm_up_batches = encoder.warm_up_batches

    def recorded():
        calls.append(1)
        return warm_up_batches()

    monkeypatch.setattr(encoder, "warm_up_batches", recorded)
    with _make_client(index) as client:
        assert client.get("/health/ready").status_code == 200
        assert calls == [1]
