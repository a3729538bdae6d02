"""Dense sentence encoder: a sentence-transformers model folder run with plain transformers.

The folder describes its own pooling, normalisation, maximum length and prompts (read by
:mod:`hybridsearch.dense.model_folder`); :class:`Encoder` follows them, so its vectors match
``SentenceTransformer(folder).encode(...)`` without depending on sentence-transformers at run
time. On CPU it is faster than sentence-transformers' defaults because it batches texts of
similar token counts together and, where the processor has bf16 instructions, runs the
transformer over passages under bf16 autocast (pooling and normalisation stay in float32).

Queries are batch-invariant: :meth:`Encoder.encode_queries` gives each query, bit for bit, the
vector it gets when encoded alone, however many other queries share the call (a search server
batches concurrent queries; ``search_batch`` must equal one-by-one ``search``). bf16 autocast
would break that (a padded batch changed vectors by up to 6.8e-4), so queries run in float32;
so would the shape of a pass (up to 1.2e-7 in float32), so each query is padded to a multiple
of 8 tokens and, on CPU with ``sdpa`` attention, queries of one such length share passes run at
one torch intra-op thread (:mod:`hybridsearch.dense.query_batches` says why and what it costs:
padding moves a vector once, by ~1e-7; 16 queries together cost ~10 ms each against ~18 ms one
by one). Elsewhere each query keeps a pass of its own.

Truncation is never silent (:mod:`hybridsearch.dense.truncation`): over-long texts are encoded
truncated, as sentence-transformers does, but counted and reported with a warning.

torch and transformers are imported inside functions so ``import hybridsearch`` stays fast.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
import weakref
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from hybridsearch.dense.identity import ModelIdentity
from hybridsearch.dense.loading import load_transformer
from hybridsearch.dense.locked_tokenizer import LockedTokenizer
from hybridsearch.dense.model_folder import open_model_folder
from hybridsearch.dense.packed import PackedPass, packed_forward
from hybridsearch.dense.pooling import pool
from hybridsearch.dense.precision import bf16_is_fast
from hybridsearch.dense.query_batches import (
    QueryPass,
    balance_passes,
    one_intra_op_thread,
    packed_plan,
    query_passes,
    shares_passes,
)
from hybridsearch.dense.traced import Forward, trace_forward
from hybridsearch.dense.truncation import TruncationCounter, TruncationStats, TruncationWarning
from hybridsearch.errors import InvalidInputError
from hybridsearch.validation import positive_int, string_list

__all__ = ["Encoder", "TruncationStats", "TruncationWarning"]


class Encoder:
    """Encode queries and passages into vectors with a sentence-transformers model folder.

    Args:
        model: A model folder, a Hugging Face hub name (fetched into the usual cache; tests and
            offline use should pass folders), or None /
            :data:`~hybridsearch.dense.model_folder.DEFAULT_MODEL` for the bundled
            all-MiniLM-L6-v2.
        device: torch device to run on ("cpu", "cuda", "cuda:1", ...).
        batch_size: Texts per forward pass. Small batches of similar length waste little on
            padding; 8-16 beat 32+ on small CPUs.
        bf16: Run the transformer under bf16 autocast for passages (and :meth:`encode`). None
            (default) switches it on where it is fast: a CPU with avx512_bf16/amx_bf16, or a
            CUDA device with bf16 support. Vectors then agree with float32 ones to cosine
            >= 0.999. Queries always run in float32 (see the module notes).
        progress: Show a tqdm bar (texts/second) on encodes longer than one batch.
        max_seq_length: Override the folder's maximum length in tokens (at most the model's
            position embeddings).

    Raises:
        ModelLoadError: The folder/name cannot be found or loaded, or describes modules this
            encoder does not implement.
        InvalidInputError: An argument is out of range.
    """

    def __init__(
        self,
        model: str | Path | None = None,
        *,
        device: str = "cpu",
        batch_size: int = 16,
        bf16: bool | None = None,
        progress: bool = False,
        max_seq_length: int | None = None,
    ) -> None:
        self._batch_size = positive_int("batch_size", batch_size)
        if max_seq_length is not None:
            max_seq_length = positive_int("max_seq_length", max_seq_length)
            if max_seq_length < 2:  # room for the special tokens and at least one of the text
                raise InvalidInputError(f"max_seq_length must be >= 2, got {max_seq_length}")

        folder = open_model_folder(model)
        loaded = load_transformer(folder, device=device, max_seq_length=max_seq_length)
        self._identity = ModelIdentity.from_folder(
            folder, dimension=loaded.dimension, max_seq_length=loaded.max_seq_length
        )
        # Every call of the tokenizer, the encoder's own and those of whoever it is handed to
        # (the chunker), takes one lock: see hybridsearch.dense.locked_tokenizer.
        self._tokenizer = LockedTokenizer(loaded.tokenizer, threading.RLock())
        self._model = loaded.model
        self._torch_device = loaded.device
        self._progress = progress
        self._bf16 = bool(bf16_is_fast(loaded.device) if bf16 is None else bf16)
        self._truncation = TruncationCounter()
        # One encode at a time (every forward pass runs under it, the warm-up's too): the fast
        # tokenizer's truncation state is switched per call (counting runs untruncated), one
        # encode already uses every intra-op thread, and query passes set torch to one.
        self._encode_lock = threading.Lock()
        self._warm = False
        self._query_forward: Forward | bool | None = False  # False: not traced yet
        self._packed_forward: Any = False  # False: not made yet (dense.packed)
        self._warm_up_thread: threading.Thread | None = None
        # A child forked while the warm-up held the lock would inherit it held, by a thread
        # it does not have: give the child a fresh lock.
        if hasattr(os, "register_at_fork"):
            os.register_at_fork(after_in_child=partial(_reset_after_fork, weakref.ref(self)))

    # -- read-only facts -----------------------------------------------------------------

    @property
    def identity(self) -> ModelIdentity:
        """The model's identity (weights digest computed once, when the Encoder was made)."""
        return self._identity

    @property
    def dimension(self) -> int:
        """Length of the vectors."""
        return self._identity.dimension

    @property
    def max_seq_length(self) -> int:
        """Tokens per text the model sees, prompt and special tokens included."""
        return self._identity.max_seq_length

    @property
    def pooling(self) -> str:
        """The pooling mode ("mean", "cls", "max" or "lasttoken")."""
        return self._identity.pooling

    @property
    def query_prompt(self) -> str:
        """Text prefixed to queries by :meth:`encode_queries` ("" when the model has none)."""
        return self._identity.query_prompt

    @property
    def passage_prompt(self) -> str:
        """Text prefixed to passages by :meth:`encode_passages` ("" when none)."""
        return self._identity.passage_prompt

    @property
    def tokenizer(self) -> Any:
        """The Hugging Face (fast) tokenizer; its ``model_max_length`` is ``max_seq_length``.

        Its calls take the lock the encoder's own tokenizing takes
        (:class:`~hybridsearch.dense.locked_tokenizer.LockedTokenizer`), so a chunker may use
        it while another thread encodes.
        """
        return self._tokenizer

    @property
    def device(self) -> str:
        """The torch device the model runs on."""
        return str(self._torch_device)

    @property
    def bf16(self) -> bool:
        """Whether the transformer runs under bf16 autocast."""
        return self._bf16

    @property
    def batch_size(self) -> int:
        """Texts per forward pass."""
        return self._batch_size

    @property
    def progress(self) -> bool:
        """Whether encodes longer than one batch show a tqdm bar (settable)."""
        return self._progress

    @progress.setter
    def progress(self, value: bool) -> None:
        self._progress = bool(value)

    @property
    def truncation_stats(self) -> TruncationStats:
        """Texts truncated and tokens cut since construction or :meth:`reset_truncation_stats`."""
        return self._truncation.stats

    def reset_truncation_stats(self) -> None:
        """Set the truncation counters back to zero."""
        self._truncation.reset()

    def __repr__(self) -> str:
        return (
            f"Encoder({self._identity.describe()}, pooling={self._identity.pooling}, "
            f"normalize={self._identity.normalize}, max_seq_length={self.max_seq_length}, "
            f"device={self.device!r}, bf16={self._bf16}, batch_size={self._batch_size})"
        )

    # -- encoding ------------------------------------------------------------------------

    def count_tokens(self, texts: Sequence[str], *, prompt: str = "") -> list[int]:
        """Count the tokens the model would see for each text, before truncation.

        Special tokens and ``prompt`` (prefixed to each text) are included, so a count above
        :attr:`max_seq_length` means the text would be truncated.

        Raises:
            InvalidInputError: ``texts`` is a bare string or holds a non-string.
        """
        text_list = string_list("texts", texts, what="texts")
        _check_prompt(prompt)
        return self._count_prompted([prompt + text for text in text_list])

    def _count_prompted(self, prompted_texts: list[str]) -> list[int]:
        if not prompted_texts:
            return []
        # verbose=False: counting texts longer than model_max_length is the point here, so
        # transformers' "sequence too long" warning would only be noise.
        encoded = self._tokenizer(
            prompted_texts,
            add_special_tokens=True,
            truncation=False,
            verbose=False,
            return_attention_mask=False,
            return_token_type_ids=False,
        )
        return [len(ids) for ids in encoded["input_ids"]]

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        """Encode queries (the model's query prompt prefixed) to float32 (n, dimension).

        Batch-invariant: each row is bit for bit the vector the query gets when encoded alone,
        so a query's hits never depend on which other queries were encoded with it. Queries
        run in float32, padded to a multiple of 8 tokens (their bucket), at one torch
        intra-op thread per pass (see :mod:`hybridsearch.dense.query_batches`). On CPU (sdpa
        attention) they share passes: one pass per core, each holding queries of several
        buckets where the model allows it (:mod:`hybridsearch.dense.packed`: the linear
        layers over all their rows at once, attention bucket by bucket), else one bucket per
        pass (:func:`~hybridsearch.dense.query_batches.balance_passes`), through a traced
        forward where it matches the eager model (:mod:`hybridsearch.dense.traced`); the
        passes run side by side (300 scifact queries: 124 -> 250 queries/s on 2 cores with
        one bucket per pass, rows unchanged).
        """
        return self._encode(texts, self._identity.query_prompt, unit="query", bf16=False)

    def encode_passages(self, texts: Sequence[str]) -> np.ndarray:
        """Encode passages (the model's passage prompt prefixed) to float32 (n, dimension)."""
        return self._encode(
            texts, self._identity.passage_prompt, unit="passage", bf16=self._bf16
        )

    def encode(self, texts: Sequence[str], *, prompt: str = "") -> np.ndarray:
        """Encode texts with an explicit prompt ("" for none) to float32 (n, dimension).

        Vectors are L2-normalised when the model has a Normalize module. An empty input gives
        a (0, dimension) array. Texts over :attr:`max_seq_length` tokens are truncated, counted
        in :attr:`truncation_stats` and reported with one :class:`TruncationWarning` per call.

        Raises:
            InvalidInputError: ``texts`` is a bare string or holds a non-string.
        """
        _check_prompt(prompt)
        return self._encode(texts, prompt, unit="text", bf16=self._bf16)

    # -- warm-up -----------------------------------------------------------------------------

    @property
    def is_warm(self) -> bool:
        """Whether the encoder has run at least once (its first run pays one-off set-up)."""
        return self._warm

    def warm_up(self) -> float:
        """Encode one short query, so the first real query does not pay the model's set-up.

        The first forward pass of a freshly loaded model costs 100-600 ms on a CPU (thread
        pools, kernel selection, allocator) against ~10 ms for the next ones; the queries'
        traced forward is made here too. The packed forward of small batches
        (:mod:`hybridsearch.dense.packed`, ~0.5-0.8 s to make and check) is not: a one-off
        search (the command line's) would wait for it. It is made by the first batch that
        uses it, or ahead by :meth:`warm_up_batches` (a server does).

        Returns:
            Milliseconds it took.
        """
        return self._timed_encode(["warm up"])

    def warm_up_batches(self) -> float:
        """:meth:`warm_up`, and make the packed forward small query batches use
        (:mod:`hybridsearch.dense.packed`), so a service's first batch pays neither.

        Returns:
            Milliseconds it took.
        """
        return self._timed_encode(["warm up", "warm up the passes of queries of several lengths"])

    def _timed_encode(self, queries: list[str]) -> float:
        """Milliseconds :meth:`encode_queries` of ``queries`` took."""
        started = time.perf_counter()
        self.encode_queries(queries)
        return (time.perf_counter() - started) * 1000

    def warm_up_in_background(self) -> None:
        """Start :meth:`warm_up` in a thread, unless the encoder is warm or warming up already.

        The thread is not a daemon (a torch call cut short at interpreter exit can crash), so
        a process that exits at once waits for it (a fraction of a second). Encodes wait for
        it through the encoder's lock; :meth:`wait_for_warm_up` says how long.
        """
        if self._warm or self._warm_up_thread is not None:
            return
        thread = threading.Thread(target=self.warm_up, name="hybridsearch-warm-up")
        self._warm_up_thread = thread
        thread.start()

    def wait_for_warm_up(self) -> float:
        """Wait for a background warm-up still running; milliseconds waited (0.0 if none)."""
        thread = self._warm_up_thread
        if thread is None or not thread.is_alive():
            return 0.0
        started = time.perf_counter()
        thread.join()
        return (time.perf_counter() - started) * 1000

    # -- the encoding loop -------------------------------------------------------------------

    def _encode(self, texts: Sequence[str], prompt: str, *, unit: str, bf16: bool) -> np.ndarray:
        text_list = string_list("texts", texts, what="texts")
        vectors = np.zeros((len(text_list), self.dimension), dtype=np.float32)
        if not text_list:
            return vectors
        prompted_texts = [prompt + text for text in text_list]
        with self._encode_lock:
            token_counts = np.asarray(self._count_prompted(prompted_texts), dtype=np.int64)
            # The warning points at the caller of encode/encode_queries/encode_passages.
            self._truncation.record(token_counts, self.max_seq_length, stacklevel=3)
            if unit == "query":
                self._run_query_passes(prompted_texts, token_counts, vectors)
            else:
                passes = [(rows, None) for rows in _batches(token_counts, self._batch_size)]
                self._run_batches(prompted_texts, passes, vectors, unit=unit, bf16=bf16)
            self._warm = True
        return vectors

    def _run_query_passes(
        self, prompted_texts: list[str], token_counts: np.ndarray, vectors: np.ndarray
    ) -> None:
        """Queries: float32, padded to their bucket (CPU: one thread per pass); each pass one
        bucket, or several packed in one pass where the model allows it
        (:mod:`hybridsearch.dense.packed`)."""
        group = shares_passes(self._model, self._torch_device.type)
        passes = query_passes(token_counts, self.max_seq_length, self._batch_size, group=group)
        with one_intra_op_thread(enabled=group):
            forward = self._traced_query_forward() if group else None
            workers = _usable_cores()
            packs = packed_plan(passes, workers, self._batch_size) if forward else None
            packed = self._packed_query_forward() if packs else None  # made on first use
            if packs and packed is not None:
                self._run_packed_passes(prompted_texts, packs, vectors, packed)
                return
            if forward is not None:  # passes side by side: split so the threads end together
                passes = balance_passes(passes, workers)
            workers = min(len(passes), workers)
            if forward is not None and workers > 1:
                tokenized = [
                    (rows, self._tokenize([prompted_texts[index] for index in rows], length))
                    for rows, length in passes
                ]
                self._run_side_by_side(tokenized, vectors, forward, workers)
            else:
                self._run_batches(
                    prompted_texts, passes, vectors, unit="query", bf16=False, forward=forward
                )

    def _run_packed_passes(
        self,
        prompted_texts: list[str],
        packs: list[list[QueryPass]],
        vectors: np.ndarray,
        packed: Callable[[PackedPass], Any],
    ) -> None:
        """Packed passes (several buckets each), side by side where there are several."""
        inputs = [
            (
                np.concatenate([query_pass.rows for query_pass in pack]),
                PackedPass(
                    [
                        self._tokenize(
                            [prompted_texts[index] for index in query_pass.rows],
                            query_pass.padded_length,
                        )
                        for query_pass in pack
                    ]
                ),
            )
            for pack in packs
        ]
        self._run_side_by_side(inputs, vectors, packed, len(inputs))

    def _run_side_by_side(
        self,
        inputs: Sequence[tuple[np.ndarray, Any]],
        vectors: np.ndarray,
        forward: Callable[[Any], Any],
        workers: int,
    ) -> None:
        """Query passes on ``workers`` threads at once, each pass at one torch thread (in
        this thread where there is one worker).

        A pass's rows come out as they do in :meth:`_run_batches` (the same operations at one
        thread, wherever they run), and a traced or scripted forward runs without the GIL, so
        passes use the cores side by side rather than one pass using one core while the
        others wait. The tokenizer may not be called from two threads, so every pass comes
        here tokenized (``inputs``: each pass's rows and what ``forward`` takes).
        """
        import torch

        def start_worker() -> None:
            # This thread's own settings, once: a pass then takes the GIL only to start the
            # traced call (pooling included) and to store its vectors. Beside a busy Python
            # thread each take waits up to the switch interval (5 ms): 16-query batches
            # encoded at 24-28 ms per query beside one, 15 ms with the pooling traced too.
            torch.set_num_threads(1)
            torch.set_grad_enabled(False)

        def run(item: tuple[np.ndarray, Any]) -> None:
            rows, batch = item
            vectors[rows] = forward(batch).numpy()

        def run_here() -> None:
            with torch.inference_mode():
                for item in inputs:
                    run(item)

        if workers < 2:
            run_here()
            return
        try:
            with ThreadPoolExecutor(
                workers, thread_name_prefix="hybridsearch-query-pass", initializer=start_worker
            ) as pool_:
                list(pool_.map(run, inputs))
        except RuntimeError:
            # No new threads once the interpreter exits ("cannot schedule new futures after
            # interpreter shutdown"): a background warm-up still running then finishes here.
            if threading.main_thread().is_alive():
                raise
            run_here()

    def _packed_query_forward(self) -> Callable[[PackedPass], Any] | None:
        """The packed forward for query passes (:mod:`hybridsearch.dense.packed`), made and
        checked against the traced per-bucket forward on the first query pass that has it
        (under the encode lock), or None: one bucket per pass."""
        if self._packed_forward is False:
            reference = self._traced_query_forward()
            self._packed_forward = (
                packed_forward(
                    self._model,
                    self._tokenizer,
                    reference,
                    pooling=self.pooling,
                    normalize=self._identity.normalize,
                    max_length=self.max_seq_length,
                )
                if reference is not None
                else None
            )
        return self._packed_forward or None

    def _traced_query_forward(self) -> Forward | None:
        """The model's forward traced for query passes (:mod:`hybridsearch.dense.traced`),
        made on the first query pass (under the encode lock), or None: the eager model."""
        if self._query_forward is False:
            # Pooling and normalisation go into the trace: a pass is then one call.
            self._query_forward = trace_forward(
                self._model,
                self._tokenizer,
                self.max_seq_length,
                finish=self._sentence_vectors,
            )
        return self._query_forward or None

    def _run_batches(
        self,
        prompted_texts: list[str],
        batches: Sequence[tuple[np.ndarray, int | None]],
        vectors: np.ndarray,
        *,
        unit: str,
        bf16: bool,
        forward: Forward | None = None,
    ) -> None:
        """Run the model over each batch of row indices, writing pooled rows into vectors.

        A batch is its rows and the length to pad them to (None: the longest of them).
        ``forward``: what gives a batch's sentence vectors (None: the eager model, pooled).
        """
        import torch
        from tqdm.auto import tqdm

        text_count = len(prompted_texts)
        device_type = self._torch_device.type
        # One autocast region around the whole loop rather than one per batch: autocast caches
        # the bf16 copies of the weights until the region closes, so they are cast once per
        # call, not once per batch (which costs as much as the forward pass on short texts).
        autocast = (
            torch.autocast(device_type, dtype=torch.bfloat16)
            if bf16
            else contextlib.nullcontext()
        )
        with (
            torch.inference_mode(),
            autocast,
            tqdm(
                total=text_count,
                unit=unit,
                desc="encoding",
                disable=not (self._progress and text_count > self._batch_size),
            ) as progress_bar,
        ):
            for batch_indices, padded_length in batches:
                batch = self._tokenize(
                    [prompted_texts[index] for index in batch_indices], padded_length
                ).to(self._torch_device)
                if forward is not None:  # traced: pooled and normalised in the same call
                    vectors[batch_indices] = forward(batch).numpy()
                    progress_bar.update(len(batch_indices))
                    continue
                token_embeddings = self._model(**batch).last_hidden_state
                # Pooling and normalisation in float32 with autocast off: bf16 sums over 256
                # tokens would lose digits.
                with torch.autocast(device_type, enabled=False):
                    vectors[batch_indices] = self._pooled(
                        token_embeddings, batch["attention_mask"]
                    )
                progress_bar.update(len(batch_indices))

    def _tokenize(self, texts: list[str], padded_length: int | None) -> Any:
        """Token tensors for one pass: padded to ``padded_length``, or to the longest text
        (None); truncated at the model's maximum either way."""
        return self._tokenizer(
            texts,
            padding=True if padded_length is None else "max_length",
            truncation=True,
            max_length=self.max_seq_length if padded_length is None else padded_length,
            return_tensors="pt",
        )

    def _pooled(self, token_embeddings: Any, attention_mask: Any) -> np.ndarray:
        """One pass's sentence vectors: pooled in float32, normalised where the model says."""
        return self._sentence_vectors(token_embeddings, attention_mask).cpu().numpy()

    def _sentence_vectors(self, token_embeddings: Any, attention_mask: Any) -> Any:
        """:meth:`_pooled` as a tensor (what the query trace ends with)."""
        import torch

        pooled = pool(token_embeddings.float(), attention_mask, self.pooling)
        if self._identity.normalize:
            pooled = torch.nn.functional.normalize(pooled, p=2, dim=1)
        return pooled


def _usable_cores() -> int:
    """The cores this process may run on (its affinity where the OS says, else all)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def _batches(token_counts: np.ndarray, batch_size: int) -> list[np.ndarray]:
    """Row indices per forward pass: longest first, at most ``batch_size`` rows each.

    Longest first, so similar lengths share a batch (little padding) and the first batch shows
    the peak memory at once.
    """
    order = np.argsort(-token_counts, kind="stable")
    return [order[start : start + batch_size] for start in range(0, len(order), batch_size)]


def _reset_after_fork(reference: weakref.ref) -> None:
    encoder = reference()
    if encoder is not None:
        encoder._encode_lock = threading.Lock()
        encoder._tokenizer.lock = threading.RLock()  # the wrapper the chunkers hold too
        encoder._warm_up_thread = None


def _check_prompt(prompt: Any) -> None:
    if not isinstance(prompt, str):
        raise InvalidInputError(f"prompt must be a str, got {type(prompt).__name__}")
