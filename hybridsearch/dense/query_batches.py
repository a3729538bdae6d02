"""How queries share forward passes without changing each other's vectors (issues 12 and 14).

A search server batches concurrent queries, and ``search_batch`` must equal one-by-one
``search`` bit for bit, so a query's vector may not depend on the queries it shares a pass
with. Three things about a forward pass change a row's result in the last bits, and this
module holds them fixed:

- **The padded length.** Each query is padded to its *bucket*: its token count rounded up to a
  multiple of :data:`BUCKET_TOKENS`, capped at the model's maximum length (a truncated query
  sits at the cap). A query has that shape alone and in any pass, because a pass holds only
  queries of one bucket (or, packed, runs attention bucket by bucket). Padding moves a
  query's vector once, against the unpadded encode (by at most 1.3e-7 over scifact's 300
  test queries; their top-10 documents did not change).
- **The kernels' split of the work.** With several intra-op threads, torch's matrix kernels
  divide the rows among the threads differently for different row counts, and 14 of 338
  scifact queries came out up to 8.9e-8 different in a batch. At one thread every row is
  computed the same way whatever the batch: :func:`one_intra_op_thread` runs the query passes
  so. On the busy 2-core development machine a lone query was no slower at one thread than
  at two (27 and 48 ms against 39 and 48 ms in two runs of ``benchmarks/query_batching.py``);
  an idle many-core machine may lose a little on a lone query (not measured).
- **The attention kernel.** torch's ``sdpa`` attention on CPU computes each (query, head)
  block alone, so a row's result does not depend on the others. The ``eager`` attention of
  transformers (plain batched matmuls) does: an 8-token input in a pass of 2 to 64 copies of
  itself came out different from alone, and mixed passes of 16 by up to 1.4e-7. So only an
  ``sdpa`` model shares passes (:func:`shares_passes`); transformers loads the bundled model
  with it by default.

Measured (the lead's scripts, one thread, busy machine): every query of 200 scifact queries was
identical alone and in same-bucket passes; a query of exactly its bucket's length (no padding,
so no attention mask when alone) is identical too. Grouping by bucket gave 10.1 ms per query
for 16 queries arriving together against 17.8 ms one by one
(``benchmarks/results/query_batching.md`` has this repository's own figures).

Passes of one bucket each leave a batch of a few queries with one pass per bucket (16 scifact
queries: 4-5), and each pass has a fixed cost (the weights read from memory). Where the model
allows it the encoder packs several buckets into one pass (:func:`pack_passes`,
:mod:`hybridsearch.dense.packed`): only attention mixes a query's tokens, and it runs bucket
by bucket on the shapes above, so every row is again what it is alone (checked, to the bit).

On other devices (CUDA) kernels are chosen by shape in ways this module cannot pin, and with
another attention implementation rows interact: there each query keeps a pass of its own
(:func:`query_passes` with ``group=False``), padded the same way.
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Iterator
from typing import Any, NamedTuple

import numpy as np

__all__ = [
    "BUCKET_TOKENS",
    "PACKED_QUERIES_PER_BATCH",
    "PASS_OVERHEAD_TOKENS",
    "QueryPass",
    "balance_passes",
    "bucket_length",
    "one_intra_op_thread",
    "pack_passes",
    "packed_plan",
    "packing_pays",
    "query_passes",
    "shares_passes",
]

#: Queries are padded to a multiple of this many tokens: few enough buckets that concurrent
#: queries share passes (scifact's 300 test queries fall in 8 buckets, 4 of them holding 94%),
#: little padding (at most 7 tokens: ~3% more time for a lone query, 17.8 against 18.3 ms).
BUCKET_TOKENS = 8
#: What a forward pass costs besides its tokens, in tokens: a pass of n queries padded to L
#: tokens took about 5 + 0.29 n L ms at one thread (all-MiniLM-L6-v2, 2-core EPYC, L 16-48,
#: n 2-16): each pass reads all the weights from memory once, whatever it holds.
PASS_OVERHEAD_TOKENS = 17
#: A packed pass holds at most this many times ``batch_size`` queries (64 by default).
#: Packing runs only where one-bucket passes would be less than half full
#: (:func:`packing_pays`: calls of up to ~32 scifact queries), so the cap rarely binds; it
#: bounds a pass's activations (64 scifact queries are ~1,500 tokens).
PACKED_QUERIES_PER_BATCH = 4


class QueryPass(NamedTuple):
    """One forward pass over queries of one bucket.

    Attributes:
        rows: Positions of the queries in the encode call's input, ascending.
        padded_length: Tokens every query of the pass is padded to.
    """

    rows: np.ndarray
    padded_length: int


def bucket_length(token_count: int, max_seq_length: int) -> int:
    """The length a query of ``token_count`` tokens is padded to.

    Its token count rounded up to a multiple of :data:`BUCKET_TOKENS`, but never more than
    ``max_seq_length`` (a longer query is truncated there, so it sits at the cap, as does a
    query whose rounded length would pass it).
    """
    rounded = -(-int(token_count) // BUCKET_TOKENS) * BUCKET_TOKENS
    return max(1, min(rounded, int(max_seq_length)))


def shares_passes(model: Any, device_type: str) -> bool:
    """Whether queries may share forward passes on this model and device without changing
    each other's vectors: on CPU (at one thread) with torch's ``sdpa`` attention only.

    Args:
        model: The transformers model (its config names the attention implementation).
        device_type: The torch device type it runs on ("cpu", "cuda", ...).
    """
    attention = getattr(getattr(model, "config", None), "_attn_implementation", None)
    return device_type == "cpu" and attention == "sdpa"


def query_passes(
    token_counts: np.ndarray, max_seq_length: int, batch_size: int, *, group: bool = True
) -> list[QueryPass]:
    """Forward passes for queries: one bucket per pass, at most ``batch_size`` queries each.

    Args:
        token_counts: Tokens per query before truncation (prompt and special tokens included).
        max_seq_length: The model's maximum length (the last bucket).
        batch_size: Queries per pass at most.
        group: False gives every query a pass of its own (devices where batching is not
            known to be invariant); its padded length is the same.

    Returns:
        The passes, longest bucket first (the first pass shows the peak memory at once),
        each holding its queries in input order.
    """
    buckets = np.asarray(
        [bucket_length(count, max_seq_length) for count in token_counts], dtype=np.int64
    )
    size = batch_size if group else 1
    passes = []
    for padded_length in sorted(set(buckets.tolist()), reverse=True):
        rows = np.flatnonzero(buckets == padded_length)
        passes += [
            QueryPass(rows[start : start + size], padded_length)
            for start in range(0, len(rows), size)
        ]
    return passes


def balance_passes(passes: list[QueryPass], workers: int) -> list[QueryPass]:
    """The passes, the costliest split in two while that lets ``workers`` threads (taking
    passes in the order returned) finish sooner; costliest first.

    One bucket per pass leaves a few passes of uneven cost for a batch of a few queries (16
    scifact queries: 4.5 passes of 1 to 6), and the worker that draws the largest works on
    alone. A query's vector does not depend on the pass it is in (at one thread, within its
    bucket: the module's documentation), so splitting changes no vector, and costs one pass's
    overhead (:data:`PASS_OVERHEAD_TOKENS`). Measured on 320 scifact test queries in batches of
    16 (2 workers, the lead's script, four alternating runs): 5.6 -> 5.2 ms per query; one
    call of all 320 unchanged (4.0 ms).

    Args:
        passes: From :func:`query_passes`.
        workers: Threads running the passes side by side.
    """
    ordered = sorted(passes, key=_pass_cost, reverse=True)
    if workers < 2:
        return ordered
    best = _finish_time(ordered, workers)
    while True:
        splittable = [query_pass for query_pass in ordered if len(query_pass.rows) > 1]
        if not splittable:
            return ordered
        largest = splittable[0]
        half = len(largest.rows) // 2
        trial = sorted(
            [query_pass for query_pass in ordered if query_pass is not largest]
            + [
                QueryPass(largest.rows[:half], largest.padded_length),
                QueryPass(largest.rows[half:], largest.padded_length),
            ],
            key=_pass_cost,
            reverse=True,
        )
        finish = _finish_time(trial, workers)
        if finish >= best:
            return ordered
        ordered, best = trial, finish


def packed_plan(
    passes: list[QueryPass], workers: int, batch_size: int
) -> list[list[QueryPass]] | None:
    """The packed passes the encoder runs for these one-bucket passes where packing pays
    (:func:`packing_pays`), at most :data:`PACKED_QUERIES_PER_BATCH` times ``batch_size``
    queries each (:func:`pack_passes`); None where it keeps one bucket per pass.

    Args:
        passes: From :func:`query_passes`.
        workers: Threads running the passes side by side.
        batch_size: Queries per one-bucket pass at most.
    """
    if not packing_pays(passes, batch_size):
        return None
    return pack_passes(passes, workers, PACKED_QUERIES_PER_BATCH * batch_size)


def packing_pays(passes: list[QueryPass], batch_size: int) -> bool:
    """Whether to pack the queries of these one-bucket passes (:func:`pack_passes`): only
    where the passes are on average less than half full, so that their fixed costs are a
    large share of the work.

    A batch of a few queries is (16 scifact queries: 4.7 passes of 3.4), and packing took
    calls of 4, 8 and 16 from 9.6, 8.2 and 6.6 to 7.5, 6.4 and 5.8 ms of encoding per query
    (``benchmarks/results/packed_passes.md``). One call of hundreds is not (320 queries: 24
    passes of 13.3), and packed it ran 14-20% slower on 2 threads in two runs, though a
    packed pass is as fast as a one-bucket pass of the same shape and as fast per token at one
    thread (the lead's scripts; the cause is not known).

    Args:
        passes: From :func:`query_passes`.
        batch_size: Queries per one-bucket pass at most.
    """
    queries = sum(len(query_pass.rows) for query_pass in passes)
    return queries > 1 and 2 * queries < len(passes) * batch_size


def pack_passes(passes: list[QueryPass], workers: int, batch_size: int) -> list[list[QueryPass]]:
    """The queries of one-bucket passes regrouped into packed passes of several buckets
    (:mod:`hybridsearch.dense.packed`: one forward pass, each bucket's rows as alone).

    As few packed passes as let each of ``workers`` threads take the same number, of at most
    ``batch_size`` queries each, and no more than there are queries; each query goes, longest
    bucket first, to the pass with the fewest tokens that has room, so the threads end
    together (5 passes on 2 threads would leave one thread a pass of its own to run at the
    end: 320 queries took 17% longer than in 6).
    A query's vector does not depend on the pass it is in, so this changes no vector.

    Args:
        passes: From :func:`query_passes` (one bucket each).
        workers: Threads running the passes side by side.
        batch_size: Queries per packed pass at most.

    Returns:
        Per packed pass, its queries as one-bucket groups, longest bucket first, each group's
        rows ascending.
    """
    # Longest bucket first, rows ascending within it: each pass's members come out grouped.
    queries = sorted(
        ((int(row), query_pass.padded_length) for query_pass in passes for row in query_pass.rows),
        key=lambda query: (-query[1], query[0]),
    )
    workers = max(1, workers)
    rounds = -(-len(queries) // (workers * batch_size))  # passes per thread
    count = min(len(queries), workers * rounds)
    loads = [0] * count
    members: list[list[tuple[int, int]]] = [[] for _ in range(count)]
    for row, padded_length in queries:
        open_passes = [number for number in range(count) if len(members[number]) < batch_size]
        chosen = min(open_passes, key=lambda number: (loads[number], number))
        members[chosen].append((row, padded_length))
        loads[chosen] += padded_length
    return [
        [
            QueryPass(np.asarray([row for row, _ in group], dtype=np.int64), padded_length)
            for padded_length, group in itertools.groupby(chosen, key=lambda query: query[1])
        ]
        for chosen in members
    ]


def _pass_cost(query_pass: QueryPass) -> int:
    """A pass's cost in tokens (see :data:`PASS_OVERHEAD_TOKENS`)."""
    return PASS_OVERHEAD_TOKENS + len(query_pass.rows) * query_pass.padded_length


def _finish_time(passes: list[QueryPass], workers: int) -> int:
    """When the last of ``workers`` threads finishes, each taking the next pass when free."""
    loads = [0] * workers
    for query_pass in passes:
        loads[loads.index(min(loads))] += _pass_cost(query_pass)
    return max(loads)


@contextlib.contextmanager
def one_intra_op_thread(*, enabled: bool = True) -> Iterator[None]:
    """Run the block with torch at one intra-op thread, then put the previous count back.

    torch keeps the count per OS thread once a thread has used it, but a thread that first
    touches torch while the block runs starts with one thread; so the caller holds the
    encoder's lock, under which every forward pass of that encoder runs.

    Args:
        enabled: False leaves the thread count alone (devices other than the CPU).
    """
    if not enabled:
        yield
        return
    import torch

    previous = torch.get_num_threads()
    if previous == 1:
        yield
        return
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)
