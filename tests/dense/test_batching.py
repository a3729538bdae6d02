"""BatchingEncoder: concurrent query encodes share batches, each caller gets its own rows."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from hybridsearch.dense.batching import BatchingEncoder
from hybridsearch.errors import InvalidInputError


class FakeEncoder:
    """Encodes a text as [len(text), batch call number]; records each call's texts."""

    identity = "fake-model"
    dimension = 2

    def __init__(self, fail_on: str | None = None, seconds: float = 0.0) -> None:
        self.calls: list[list[str]] = []
        self.fail_on = fail_on
        self.seconds = seconds
        self.tokenizer = FakeTokenizer()
        self.inside = 0
        self.overlapped = False

    def encode_queries(self, texts):
        self.inside += 1
        self.overlapped |= self.inside > 1
        time.sleep(self.seconds)
        self.inside -= 1
        if self.fail_on in texts:
            raise RuntimeError(f"cannot encode {self.fail_on!r}")
        self.calls.append(list(texts))
        return np.array([[len(text), len(self.calls)] for text in texts], np.float32).reshape(-1, 2)

    def encode_passages(self, texts):
        self.inside += 1
        self.overlapped |= self.inside > 1
        time.sleep(self.seconds)
        self.inside -= 1
        return np.zeros((len(texts), 2), np.float32)


class FakeTokenizer:
    pad_token = "[PAD]"

    def __call__(self, text):
        return {"input_ids": list(text)}


def _concurrently(function, arguments):
    """Call ``function`` on each argument from its own thread, all released at once."""
    results = [None] * len(arguments)
    barrier = threading.Barrier(len(arguments))

    def run(number):
        barrier.wait()
        try:
            results[number] = function(arguments[number])
        except Exception as error:
            results[number] = error

    threads = [threading.Thread(target=run, args=(n,)) for n in range(len(arguments))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    return results


def test_concurrent_queries_share_one_encoder_call_and_get_their_own_rows():
    fake = FakeEncoder()
    batching = BatchingEncoder(fake, max_wait_ms=500, max_batch=64)
    texts = [["a" * n] if n % 3 else ["a" * n, "b" * (n + 100)] for n in range(1, 9)]
    results = _concurrently(batching.encode_queries, texts)
    batching.close()
    assert len(fake.calls) < len(texts)  # shared; one call when all arrive within 500 ms
    for asked, vectors in zip(texts, results, strict=True):
        assert vectors[:, 0].tolist() == [len(text) for text in asked]
    assert batching.stats.requests == 8 and batching.stats.texts == 10
    assert batching.stats.batches == len(fake.calls)


def test_a_batch_holds_at_most_max_batch_texts():
    fake = FakeEncoder()
    batching = BatchingEncoder(fake, max_wait_ms=300, max_batch=3)
    results = _concurrently(batching.encode_queries, [[f"q{n}"] for n in range(7)])
    batching.close()
    assert max(len(call) for call in fake.calls) <= 3
    assert sorted(text for call in fake.calls for text in call) == [f"q{n}" for n in range(7)]
    assert all(isinstance(result, np.ndarray) for result in results)


def test_one_callers_bad_input_fails_only_that_caller():
    fake = FakeEncoder()
    batching = BatchingEncoder(fake, max_wait_ms=200)
    results = _concurrently(batching.encode_queries, [["fine"], "a bare string", ["also"]])
    batching.close()
    assert isinstance(results[1], InvalidInputError)
    assert results[0][0, 0] == 4 and results[2][0, 0] == 4


def test_an_encoder_error_reaches_every_caller_of_its_batch_and_batching_goes_on():
    fake = FakeEncoder(fail_on="boom")
    batching = BatchingEncoder(fake, max_wait_ms=300)
    results = _concurrently(batching.encode_queries, [["boom"], ["fine"]])
    assert all(isinstance(result, RuntimeError) for result in results)
    assert batching.encode_queries(["later"])[0, 0] == 5
    batching.close()


def test_passage_encodes_and_tokenizer_calls_never_overlap_query_batches():
    fake = FakeEncoder(seconds=0.01)
    batching = BatchingEncoder(fake, max_wait_ms=0)

    def work(number):
        if number % 2:
            return batching.encode_passages(["passage"])
        return batching.encode_queries([f"query {number}"])

    _concurrently(work, list(range(12)))
    assert batching.tokenizer("abc") == {"input_ids": ["a", "b", "c"]}
    assert batching.tokenizer.pad_token == "[PAD]"
    assert batching.dimension == 2 and batching.identity == "fake-model"
    batching.close()
    assert not fake.overlapped


def test_close_refuses_more_queries():
    batching = BatchingEncoder(FakeEncoder(), max_wait_ms=0)
    batching.encode_queries(["before"])
    batching.close()
    with pytest.raises(InvalidInputError, match="closed"):
        batching.encode_queries(["too late"])
    batching.close()  # idempotent


def test_settings_are_checked():
    with pytest.raises(InvalidInputError, match="max_wait_ms"):
        BatchingEncoder(FakeEncoder(), max_wait_ms=-1)
    with pytest.raises(InvalidInputError, match="max_batch"):
        BatchingEncoder(FakeEncoder(), max_batch=0)
    with pytest.raises(InvalidInputError, match="once"):
        BatchingEncoder(BatchingEncoder(FakeEncoder()))


def test_a_lone_query_is_encoded_in_the_callers_thread_after_max_wait_ms():
    class ThreadRecorder(FakeEncoder):
        def encode_queries(self, texts):
            self.thread = threading.current_thread()
            return super().encode_queries(texts)

    fake = ThreadRecorder()
    batching = BatchingEncoder(fake, max_wait_ms=50)
    started = time.perf_counter()
    batching.encode_queries(["alone"])
    assert time.perf_counter() - started >= 0.045
    assert fake.thread is threading.current_thread()


def test_real_encoder_vectors_match_each_query_encoded_alone(encoder):
    queries = ["which animal makes honey", "owls", "tadpoles turning into frogs in ponds"]
    alone = np.stack([encoder.encode_queries([query])[0] for query in queries])
    batching = BatchingEncoder(encoder, max_wait_ms=300)
    shared = np.stack(
        [vectors[0] for vectors in _concurrently(batching.encode_queries, [[q] for q in queries])]
    )
    batching.close()
    assert batching.stats.batches < len(queries)
    np.testing.assert_allclose(shared, alone, atol=1e-5)
