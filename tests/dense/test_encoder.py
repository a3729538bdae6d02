"""Tests of hybridsearch.dense.encoder against sentence-transformers as the oracle.

Only local model folders are used (the bundled all-MiniLM-L6-v2 and copies of it made in
tmp_path); the hub is switched off so nothing is ever downloaded.
"""

from __future__ import annotations

import importlib.util
import random
import warnings

import numpy as np
import pytest

from hybridsearch.dense.encoder import Encoder, TruncationStats, TruncationWarning
from hybridsearch.errors import InvalidInputError
from tests.dense.model_copies import MODEL_FOLDER, copy_model, cosines, varied_texts


@pytest.fixture(scope="module")
def texts() -> list[str]:
    return varied_texts()


@pytest.fixture(scope="module")
def reference_vectors(sentence_transformer, texts) -> np.ndarray:
    return sentence_transformer.encode(texts, normalize_embeddings=True, batch_size=32)


@pytest.fixture(scope="module")
def encoder_bf16() -> Encoder:
    return Encoder(bf16=True)


# -- parity with sentence-transformers --------------------------------------------------


def test_fp32_vectors_match_sentence_transformers(encoder_fp32, texts, reference_vectors):
    with pytest.warns(TruncationWarning):
        ours = encoder_fp32.encode_passages(texts)
    assert ours.dtype == np.float32 and ours.shape == (len(texts), 384)
    similarity = cosines(ours, reference_vectors)
    assert similarity.min() >= 0.9999, f"worst text {int(similarity.argmin())}"
    np.testing.assert_allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)


def test_bf16_vectors_match_sentence_transformers(encoder_bf16, texts, reference_vectors):
    with pytest.warns(TruncationWarning):
        ours = encoder_bf16.encode_passages(texts)
    assert ours.dtype == np.float32
    similarity = cosines(ours, reference_vectors)
    assert similarity.min() >= 0.999, f"worst text {int(similarity.argmin())}"


def test_batch_size_and_order_do_not_change_vectors(texts):
    short_texts = [text for text in texts if len(text.split()) < 60][:12]
    single = Encoder(bf16=False, batch_size=1).encode(short_texts)
    batched = Encoder(bf16=False, batch_size=16).encode(short_texts[::-1])[::-1]
    np.testing.assert_allclose(batched, single, atol=2e-6)


# -- queries: the vector a query gets alone, however it is batched -----------------------

QUERY_TEXT = (
    "how do I catch several exceptions at once in python when reading files from a slow "
    "network share that sometimes drops the connection halfway through a large transfer"
)


def _queries_of_many_lengths() -> list[str]:
    """Two dozen queries: 1 to 24 words, several sharing a token count, a duplicate."""
    words = QUERY_TEXT.split()
    queries = [" ".join(words[:length]) for length in range(1, 24, 2)]
    queries += [" ".join(words[start : start + 4]) for start in range(0, 20, 2)]
    return [*queries, "tuple vs list", queries[2]]


def test_query_vectors_do_not_depend_on_the_batch(encoder_fp32, encoder_bf16):
    """Bit for bit, as in issue 14 item 4: bf16 autocast or padding changed them at 1e-4/1e-7."""
    queries = _queries_of_many_lengths()
    alone = np.stack([encoder_fp32.encode_queries([query])[0] for query in queries])
    # Lengths differ (a batch would pad) and some are equal (batches of equal lengths were
    # not invariant either).
    assert 8 < len(set(encoder_fp32.count_tokens(queries))) < len(queries)
    np.testing.assert_array_equal(encoder_fp32.encode_queries(queries), alone)
    # Queries run in float32 whatever the encoder's bf16 setting: the same vectors, batched.
    np.testing.assert_array_equal(encoder_bf16.encode_queries(queries), alone)


SCIENCE_WORDS = ["protein", "cell", "gene", "COVID-19", "p<0.05", "東京", "café", "α-helix"]


def _query_pool(encoder: Encoder) -> list[str]:
    """44 queries: every token count from 3 to 30 (both sides of the bucket edges 8, 16 and
    24), mixed multi-token words, a duplicate, one of exactly the model's maximum length (a
    full bucket at the cap) and one truncated there."""
    rng = random.Random(3)
    words = QUERY_TEXT.split()
    queries = [" ".join(words[:count]) for count in range(1, len(words) + 1)]
    vocabulary = words + SCIENCE_WORDS
    for _ in range(12):
        queries.append(" ".join(rng.choice(vocabulary) for _ in range(rng.randint(1, 20))))
    at_cap = "word " * (encoder.max_seq_length - 2)  # [CLS] + 254 words + [SEP]
    return [*queries, "tuple vs list", queries[5], at_cap, "other " * 300]


@pytest.fixture(scope="module")
def query_pool(encoder_fp32) -> list[str]:
    queries = _query_pool(encoder_fp32)
    counts = set(encoder_fp32.count_tokens(queries))
    assert {7, 8, 9, 15, 16, 17, 23, 24, 25, 256} <= counts and max(counts) > 256
    return queries


def test_query_vectors_are_bit_identical_alone_and_in_any_batch(encoder_fp32, query_pool):
    """Issues 12/14: one-bucket passes at one thread give every query its lone vector.

    With torch's sdpa attention (the default); eager attention is not batch-invariant, so it
    gets no shared passes (test_eager_attention_gives_each_query_its_own_pass).
    """
    assert encoder_fp32._model.config._attn_implementation == "sdpa"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TruncationWarning)
        alone = np.stack([encoder_fp32.encode_queries([query])[0] for query in query_pool])
        rng = np.random.default_rng(14)
        for size in (2, 3, 16, 17, 64):
            # Shuffled draws, with repeats once the batch outgrows the pool.
            rows = rng.permutation(np.resize(rng.permutation(len(query_pool)), size))
            batched = encoder_fp32.encode_queries([query_pool[row] for row in rows])
            np.testing.assert_array_equal(batched, alone[rows], err_msg=f"batch of {size}")


def test_query_vectors_match_sentence_transformers(encoder_fp32, query_pool, request):
    """The bucket padding moves a vector by ~1e-7 at most; 1e-6 leaves room for ST's own
    arithmetic. The oracle encodes each query alone (no padding at all)."""
    # Every other query up to 30 tokens (one ST call per query is slow); the long ones are
    # covered by the passage parity tests.
    queries = query_pool[:-2:2]
    ours = encoder_fp32.encode_queries(queries)
    if importlib.util.find_spec("sentence_transformers") is not None:
        model = request.getfixturevalue("sentence_transformer")
        oracle = model.encode(queries, batch_size=1, normalize_embeddings=True)
    else:  # the test extra has it; without it, our own unpadded float32 encode
        oracle = np.stack([encoder_fp32.encode([text])[0] for text in queries])
    assert np.abs(ours - oracle).max() <= 1e-6


@pytest.fixture
def forward_passes(encoder_fp32):
    """(OS thread, torch threads, rows) of every forward pass the encoder runs meanwhile."""
    import threading

    import torch

    seen: list[tuple[int, int, int]] = []

    def record(_module, _args, kwargs):
        rows = int(kwargs["input_ids"].shape[0])
        seen.append((threading.get_ident(), torch.get_num_threads(), rows))

    hook = encoder_fp32._model.register_forward_pre_hook(record, with_kwargs=True)
    # Query passes run a TorchScript trace of the model (dense/traced.py), which hooks do
    # not see: wrap it too.
    traced = encoder_fp32._traced_query_forward()

    def traced_and_recorded(batch):
        record(None, (), batch)
        return traced(batch)

    if traced is not None:
        encoder_fp32._query_forward = traced_and_recorded
    # Passes of several buckets run a scripted module (dense/packed.py): a pass of them is
    # recorded with all its queries.
    packed = encoder_fp32._packed_query_forward()

    def packed_and_recorded(packed_pass):
        queries = sum(int(mask.shape[0]) for mask in packed_pass.masks)
        seen.append((threading.get_ident(), torch.get_num_threads(), queries))
        return packed(packed_pass)

    if packed is not None:
        encoder_fp32._packed_forward = packed_and_recorded
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        yield seen
    finally:
        hook.remove()
        if traced is not None:
            encoder_fp32._query_forward = traced
        if packed is not None:
            encoder_fp32._packed_forward = packed
        torch.set_num_threads(before)


TEA_QUERIES = ["green tea", "black tea", "a question about tea that runs past eight tokens"]


def test_query_passes_share_out_the_queries_at_one_thread(
    encoder_fp32, forward_passes, monkeypatch
):
    import threading

    import torch

    import hybridsearch.dense.encoder as encoder_module

    assert encoder_fp32._packed_query_forward() is not None  # the bundled model packs
    monkeypatch.setattr(encoder_module, "_usable_cores", lambda: 1)
    encoder_fp32.encode_queries(TEA_QUERIES)
    # Buckets 16 and 8, one thread: one pass holds both buckets (dense/packed.py).
    assert [(threads, rows) for _, threads, rows in forward_passes] == [(1, 3)]
    forward_passes.clear()
    monkeypatch.setattr(encoder_module, "_usable_cores", lambda: 2)
    encoder_fp32.encode_queries(TEA_QUERIES)
    # Two threads: two passes side by side, the long query's and the two short ones (equal
    # tokens), at one thread each, in either order.
    assert sorted((threads, rows) for _, threads, rows in forward_passes) == [(1, 1), (1, 2)]
    assert torch.get_num_threads() == 2  # put back
    forward_passes.clear()
    encoder_fp32.encode_passages(["green tea is a drink"])
    # A thread that first uses torch after a query encode starts with the restored count.
    worker = threading.Thread(target=encoder_fp32.encode_passages, args=(["black tea"],))
    worker.start()
    worker.join()
    assert [threads for _, threads, _ in forward_passes] == [2, 2]
    assert forward_passes[0][0] != forward_passes[1][0]


def test_passes_side_by_side_give_the_same_rows(encoder_fp32, forward_passes, monkeypatch):
    import hybridsearch.dense.encoder as encoder_module

    rng = np.random.default_rng(2)
    words = ["tea", "leaf", "green", "oolong", "brewing", "water", "temperature", "caffeine"]
    queries = [" ".join(rng.choice(words, size=rng.integers(1, 40))) for _ in range(40)]
    monkeypatch.setattr(encoder_module, "_usable_cores", lambda: 1)
    one_after_another = encoder_fp32.encode_queries(queries)
    threads_alone = {thread for thread, _, _ in forward_passes}
    forward_passes.clear()
    monkeypatch.setattr(encoder_module, "_usable_cores", lambda: 3)
    side_by_side = encoder_fp32.encode_queries(queries)
    np.testing.assert_array_equal(side_by_side, one_after_another)
    assert len(threads_alone) == 1
    assert len({thread for thread, _, _ in forward_passes}) > 1  # the passes were shared out
    assert {threads for _, threads, _ in forward_passes} == {1}


def test_eager_attention_gives_each_query_its_own_pass(encoder_fp32, forward_passes):
    """Batched matmul attention is not batch-invariant: no shared passes, threads untouched."""
    model = encoder_fp32._model
    before = model.config._attn_implementation
    model.set_attn_implementation("eager")
    try:
        encoder_fp32.encode_queries(TEA_QUERIES)
    finally:
        model.set_attn_implementation(before)
    assert [(threads, rows) for _, threads, rows in forward_passes] == [(2, 1)] * 3


def test_warm_up_in_background_is_waited_for(encoder_fp32):
    encoder = Encoder(bf16=False)
    assert not encoder.is_warm
    assert encoder.wait_for_warm_up() == 0.0  # none started
    encoder.warm_up_in_background()
    waited = encoder.wait_for_warm_up()
    assert waited >= 0.0 and encoder.is_warm
    assert encoder.wait_for_warm_up() == 0.0  # done: nothing more to wait for
    encoder.warm_up_in_background()  # warm already: no second thread
    np.testing.assert_array_equal(
        encoder.encode_queries(["green tea"]), encoder_fp32.encode_queries(["green tea"])
    )
    # The packed forward of small batches is made by the first batch, or ahead of it.
    assert encoder._packed_forward is False
    assert encoder.warm_up_batches() > 0
    assert encoder._packed_forward is not None and encoder._packed_forward is not False


def test_a_process_that_exits_during_the_warm_up_exits_cleanly():
    """The warm-up runs its passes side by side; a process exiting meanwhile can start no
    thread, and the warm-up finishes in its own thread rather than raising."""
    import subprocess
    import sys

    script = (
        "from hybridsearch.dense.encoder import Encoder\n"
        "Encoder(bf16=False).warm_up_in_background()\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0
    assert "Traceback" not in done.stderr, done.stderr


def test_max_seq_length_override_matches_sentence_transformers(texts):
    sentence_transformers = pytest.importorskip("sentence_transformers")
    oracle = sentence_transformers.SentenceTransformer(str(MODEL_FOLDER), device="cpu")
    oracle.max_seq_length = 16
    encoder = Encoder(bf16=False, max_seq_length=16)
    assert encoder.max_seq_length == 16 and encoder.identity.max_seq_length == 16
    assert encoder.tokenizer.model_max_length == 16
    sample = texts[:30]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TruncationWarning)
        ours = encoder.encode(sample)
    expected = oracle.encode(sample, normalize_embeddings=True)
    assert cosines(ours, expected).min() >= 0.9999
    with warnings.catch_warnings():  # queries truncated at the cap, padded to it (16)
        warnings.simplefilter("ignore", TruncationWarning)
        queries = encoder.encode_queries(sample)
    assert np.abs(queries - expected).max() <= 1e-6
    with pytest.raises(InvalidInputError, match="max_position_embeddings=512"):
        Encoder(max_seq_length=1000)


# -- inputs ---------------------------------------------------------------------------


def test_empty_list_gives_empty_matrix(encoder_fp32):
    for vectors in (
        encoder_fp32.encode([]),
        encoder_fp32.encode_queries([]),
        encoder_fp32.encode_passages(()),
    ):
        assert vectors.shape == (0, 384) and vectors.dtype == np.float32
    assert encoder_fp32.count_tokens([]) == []


def test_non_string_elements_refused(encoder_fp32):
    with pytest.raises(InvalidInputError, match=r"texts\[2\] is a int; expected a str"):
        encoder_fp32.encode_passages(["a", "b", 3])
    with pytest.raises(InvalidInputError, match=r"texts\[0\] .*NoneType"):
        encoder_fp32.encode_queries([None])
    with pytest.raises(InvalidInputError, match="not a single string"):
        encoder_fp32.encode("one string, not a list")
    with pytest.raises(InvalidInputError, match="not a single string"):
        encoder_fp32.count_tokens("one string")
    with pytest.raises(InvalidInputError, match="prompt"):
        encoder_fp32.encode(["a"], prompt=None)
    with pytest.raises(InvalidInputError, match="prompt"):
        encoder_fp32.count_tokens(["a"], prompt=3)


def test_generators_are_accepted(encoder_fp32):
    sample = ["first text", "second text"]
    np.testing.assert_array_equal(
        encoder_fp32.encode(text for text in sample), encoder_fp32.encode(sample)
    )


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"batch_size": 0}, "batch_size"),
        ({"batch_size": True}, "batch_size"),
        ({"batch_size": 2.5}, "batch_size"),
        ({"max_seq_length": 1}, "max_seq_length must be >= 2"),
        ({"max_seq_length": 0}, "max_seq_length"),
        ({"max_seq_length": "64"}, "max_seq_length"),
    ],
)
def test_bad_arguments_refused_before_loading(arguments, message):
    with pytest.raises(InvalidInputError, match=message):
        Encoder("/no/such/folder/is/read", **arguments)


def test_unusable_device_refused():
    import torch

    with pytest.raises(InvalidInputError, match="device"):
        Encoder(device="no-such-device")
    if not torch.cuda.is_available():
        with pytest.raises(InvalidInputError, match="cuda"):
            Encoder(device="cuda")


# -- truncation -----------------------------------------------------------------------


def test_truncation_is_counted_and_warned(encoder_fp32):
    from transformers import AutoTokenizer

    reference_tokenizer = AutoTokenizer.from_pretrained(str(MODEL_FOLDER))
    sample = ["short text", "word " * 300, "other " * 600, "fits " * 200]
    expected_counts = [len(reference_tokenizer(text)["input_ids"]) for text in sample]
    assert encoder_fp32.count_tokens(sample) == expected_counts
    assert encoder_fp32.count_tokens(["word"], prompt="query: ") == [
        len(reference_tokenizer("query: word")["input_ids"])
    ]
    encoder_fp32.reset_truncation_stats()
    with pytest.warns(TruncationWarning, match="2 of 4 texts") as caught:
        encoder_fp32.encode(sample)
    assert len([w for w in caught if issubclass(w.category, TruncationWarning)]) == 1
    # The warning points at the caller, not at the encoder's internals.
    assert caught[0].filename == __file__
    expected_cut = sum(count - 256 for count in expected_counts if count > 256)
    assert encoder_fp32.truncation_stats == TruncationStats(2, expected_cut)
    with pytest.warns(TruncationWarning):
        encoder_fp32.encode(sample[1:2])
    assert encoder_fp32.truncation_stats.texts_truncated == 3  # cumulative
    encoder_fp32.reset_truncation_stats()
    assert encoder_fp32.truncation_stats == TruncationStats(0, 0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", TruncationWarning)
        encoder_fp32.encode(["short text"])  # nothing truncated: no warning


# -- prompts --------------------------------------------------------------------------


def test_prompts_from_folder_config_are_applied(tmp_path):
    prompts = {"query": "query: ", "passage": "passage: "}
    folder = copy_model(
        tmp_path / "prompted",
        replace={
            "config_sentence_transformers.json": {
                "prompts": prompts,
                "default_prompt_name": None,
            }
        },
    )
    encoder = Encoder(folder, bf16=False)
    assert encoder.query_prompt == "query: " and encoder.passage_prompt == "passage: "
    sample = ["what causes fever", "Aspirin lowers fever.", "東京"]
    queries = encoder.encode_queries(sample)
    np.testing.assert_allclose(queries, encoder.encode(["query: " + t for t in sample]), atol=1e-6)
    np.testing.assert_allclose(queries, encoder.encode(sample, prompt="query: "), atol=1e-6)
    passages = encoder.encode_passages(sample)
    np.testing.assert_allclose(
        passages, encoder.encode(["passage: " + t for t in sample]), atol=1e-6
    )
    assert not np.allclose(queries, encoder.encode(sample), atol=1e-3)
    assert (
        encoder.count_tokens(["word"], prompt=encoder.query_prompt)[0]
        == (encoder.count_tokens(["query: word"])[0])
    )
    sentence_transformers = pytest.importorskip("sentence_transformers")
    oracle = sentence_transformers.SentenceTransformer(str(folder), device="cpu")
    assert cosines(queries, oracle.encode_query(sample)).min() >= 0.9999
    # prompt_name, not encode_document: sentence-transformers 6 adds an empty "document"
    # prompt to every model, which encode_document prefers over the folder's "passage".
    assert cosines(passages, oracle.encode(sample, prompt_name="passage")).min() >= 0.9999


# -- facts ----------------------------------------------------------------------------


def test_facts_exposed(encoder_fp32):
    assert encoder_fp32.dimension == 384
    assert encoder_fp32.max_seq_length == 256
    assert encoder_fp32.tokenizer.model_max_length == 256
    assert encoder_fp32.tokenizer.is_fast
    assert encoder_fp32.bf16 is False
    assert encoder_fp32.pooling == "mean"
    assert (encoder_fp32.query_prompt, encoder_fp32.passage_prompt) == ("", "")
    assert encoder_fp32.device == "cpu"
    assert encoder_fp32.batch_size == 16
    assert encoder_fp32.identity.dimension == encoder_fp32.dimension
    description = repr(encoder_fp32)
    assert "384-d" in description and "bf16=False" in description
    assert encoder_fp32.progress is False
    encoder_fp32.progress = 1
    try:
        assert encoder_fp32.progress is True
    finally:
        encoder_fp32.progress = False


@pytest.mark.skipif(not hasattr(__import__("os"), "fork"), reason="needs os.fork")
def test_a_forked_child_does_not_inherit_a_held_encode_lock(encoder_fp32):
    """A fork during a background warm-up must not leave the child's encoder locked."""
    import os

    lock = encoder_fp32._encode_lock
    lock.acquire()
    try:
        pid = os.fork()
        if pid == 0:  # the child: exit 0 if its encoder can take the lock
            os._exit(0 if encoder_fp32._encode_lock.acquire(timeout=5) else 1)
        _, status = os.waitpid(pid, 0)
    finally:
        lock.release()
    assert os.waitstatus_to_exitcode(status) == 0


def test_the_tokenizer_handed_out_waits_for_the_encoders_own_tokenizing(encoder_fp32):
    # A fast tokenizer switches its padding per call on one shared object: the chunker's
    # calls (another thread, e.g. add() while the warm-up traces) and the encoder's must not
    # overlap. Both go through one lock: a count waits while the handed-out tokenizer is held.
    import threading

    from hybridsearch.corpus.chunking import Chunker

    assert Chunker.for_encoder(encoder_fp32).tokenizer is encoder_fp32.tokenizer
    counted = []
    with encoder_fp32.tokenizer.lock:
        worker = threading.Thread(target=lambda: counted.append(encoder_fp32.count_tokens(["tea"])))
        worker.start()
        worker.join(0.3)
        assert worker.is_alive() and not counted  # waiting for the lock
    worker.join(10)
    assert counted == [[3]]
    assert encoder_fp32.tokenizer("green tea")["input_ids"] == encoder_fp32.tokenizer(
        "green tea"
    )["input_ids"]
