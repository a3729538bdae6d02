"""Tests of hybridsearch.dense.query_batches: buckets, passes and the one-thread block."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from hybridsearch.dense.query_batches import (
    BUCKET_TOKENS,
    PASS_OVERHEAD_TOKENS,
    QueryPass,
    balance_passes,
    bucket_length,
    one_intra_op_thread,
    pack_passes,
    packing_pays,
    query_passes,
    shares_passes,
)


@pytest.mark.parametrize(
    ("token_count", "max_seq_length", "expected"),
    [
        (1, 256, 8),
        (3, 256, 8),
        (8, 256, 8),  # exactly a bucket: no padding
        (9, 256, 16),
        (17, 256, 24),
        (255, 256, 256),
        (256, 256, 256),
        (300, 256, 256),  # truncated: sits at the cap
        (249, 250, 250),  # the rounded 256 would pass a cap that is no multiple of 8
        (251, 250, 250),
        (5, 4, 4),
    ],
)
def test_bucket_length(token_count, max_seq_length, expected):
    assert BUCKET_TOKENS == 8
    assert bucket_length(token_count, max_seq_length) == expected


def test_passes_hold_one_bucket_each_and_every_query_once():
    rng = np.random.default_rng(0)
    token_counts = rng.integers(3, 300, size=200)
    passes = query_passes(token_counts, 256, batch_size=16)
    rows = np.concatenate([query_pass.rows for query_pass in passes])
    assert sorted(rows.tolist()) == list(range(200))
    for query_pass in passes:
        assert isinstance(query_pass, QueryPass) and 1 <= len(query_pass.rows) <= 16
        expected = {bucket_length(count, 256) for count in token_counts[query_pass.rows]}
        assert expected == {query_pass.padded_length}
        assert list(query_pass.rows) == sorted(query_pass.rows)  # input order within a pass
    lengths = [query_pass.padded_length for query_pass in passes]
    assert lengths == sorted(lengths, reverse=True)  # longest first
    # Full passes: only a bucket's last pass may be short.
    per_bucket = {length: lengths.count(length) for length in set(lengths)}
    buckets = np.asarray([bucket_length(count, 256) for count in token_counts])
    for length, count in per_bucket.items():
        assert count == -(-int((buckets == length).sum()) // 16)


def test_ungrouped_passes_are_single_queries_of_the_same_lengths():
    token_counts = np.asarray([5, 12, 9, 300, 5])
    passes = query_passes(token_counts, 256, batch_size=16, group=False)
    assert [(pass_.rows.tolist(), pass_.padded_length) for pass_ in passes] == [
        ([3], 256),
        ([1], 16),
        ([2], 16),
        ([0], 8),
        ([4], 8),
    ]



def test_balanced_passes_split_the_costliest_while_the_threads_end_sooner():
    # 16 queries: twelve of 24 tokens, two of 48, one of 16, one of 8 (one bucket each).
    token_counts = np.asarray([20] * 12 + [45, 47, 14, 6])
    passes = query_passes(token_counts, 256, batch_size=64)
    assert [len(query_pass.rows) for query_pass in passes] == [2, 12, 1, 1]
    balanced = balance_passes(passes, workers=2)
    rows = np.concatenate([query_pass.rows for query_pass in balanced])
    assert sorted(rows.tolist()) == list(range(16))  # every query once
    for query_pass in balanced:  # still one bucket per pass, input order within it
        assert {bucket_length(count, 256) for count in token_counts[query_pass.rows]} == {
            query_pass.padded_length
        }
        assert list(query_pass.rows) == sorted(query_pass.rows)
    # Costs in tokens: 17 + 12 * 24 = 305 for the twelve, 113, 33 and 25 for the others, so
    # two threads ended at 305 and 171. Split into 6 + 6 they end at 274 and 219; one six
    # split again into 3 + 3, at 250 and 260; splitting the other six too would end at 267.
    assert sorted(len(query_pass.rows) for query_pass in balanced) == [1, 1, 2, 3, 3, 6]
    costs = [PASS_OVERHEAD_TOKENS + len(p.rows) * p.padded_length for p in balanced]
    assert costs == sorted(costs, reverse=True)  # costliest first: what a pool takes first
    # One thread: nothing to balance, only the order.
    assert sorted(len(p.rows) for p in balance_passes(passes, workers=1)) == [1, 1, 2, 12]


def test_a_lone_query_or_even_passes_stay_as_they_are():
    lone = query_passes(np.asarray([9]), 256, batch_size=16)
    assert balance_passes(lone, workers=2) == lone
    even = query_passes(np.asarray([9, 9, 20, 20]), 256, batch_size=16)
    assert sorted(len(p.rows) for p in balance_passes(even, workers=2)) == [2, 2]

def test_one_intra_op_thread_sets_one_and_puts_the_count_back():
    torch = pytest.importorskip("torch")
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        with one_intra_op_thread():
            assert torch.get_num_threads() == 1
        assert torch.get_num_threads() == 2
        with pytest.raises(RuntimeError), one_intra_op_thread():
            raise RuntimeError("a failed pass")
        assert torch.get_num_threads() == 2  # put back on the way out of an error too
        with one_intra_op_thread(enabled=False):
            assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


def test_only_sdpa_models_on_cpu_share_passes():
    def model(attention):
        return SimpleNamespace(config=SimpleNamespace(_attn_implementation=attention))

    assert shares_passes(model("sdpa"), "cpu")
    assert not shares_passes(model("sdpa"), "cuda")  # kernels chosen by shape there
    assert not shares_passes(model("eager"), "cpu")  # batched matmuls: rows interact
    assert not shares_passes(model(None), "cpu")
    assert not shares_passes(object(), "cpu")  # no config: nothing known, nothing shared


def _pack_rows(packed):
    """Each packed pass as {padded length: rows}."""
    return [{group.padded_length: group.rows.tolist() for group in pack} for pack in packed]


def test_packed_passes_hold_every_query_once_in_its_own_bucket():
    counts = np.asarray([30, 5, 12, 7, 20, 3, 31, 9, 14, 6])
    passes = query_passes(counts, 256, batch_size=3)
    buckets = {
        int(row): query_pass.padded_length for query_pass in passes for row in query_pass.rows
    }
    # (threads, queries per pass at most, passes): as many passes as the threads, or a
    # multiple of them that the cap needs (10 queries, 2 threads, at most 4 each: 4 passes,
    # not 3), never more than the queries.
    for workers, cap, expected in ((1, 64, 1), (2, 64, 2), (3, 64, 3), (2, 4, 4), (20, 64, 10)):
        packed = pack_passes(passes, workers, cap)
        assert len(packed) == expected
        rows = [row for pack in packed for group in pack for row in group.rows.tolist()]
        assert sorted(rows) == list(range(len(counts)))
        for pack in packed:
            assert sum(len(group.rows) for group in pack) <= cap
            lengths = [group.padded_length for group in pack]
            assert lengths == sorted(set(lengths), reverse=True)  # one group per bucket
            for group in pack:
                assert group.rows.tolist() == sorted(group.rows.tolist())
                assert all(buckets[row] == group.padded_length for row in group.rows.tolist())


def test_packed_passes_even_out_the_tokens_longest_first():
    # Buckets 32, 8, 24, 32, 16, 8: longest first, each to the pass with fewer tokens (the
    # first on a tie): 32+24+8 and 32+16+8 tokens.
    counts = np.asarray([30, 3, 20, 31, 12, 5])
    passes = query_passes(counts, 256, batch_size=16)
    packed = pack_passes(passes, workers=2, batch_size=64)
    assert _pack_rows(packed) == [{32: [0], 24: [2], 8: [5]}, {32: [3], 16: [4], 8: [1]}]
    # One thread: one pass holds every bucket.
    alone = pack_passes(passes, workers=1, batch_size=64)
    assert _pack_rows(alone) == [{32: [0, 3], 24: [2], 16: [4], 8: [1, 5]}]


def test_packing_pays_only_where_the_passes_are_less_than_half_full():
    # 4 queries in 4 buckets: 4 passes of 1, fixed costs four times over.
    assert packing_pays(query_passes(np.asarray([3, 12, 20, 30]), 256, batch_size=16), 16)
    # 40 queries in 2 buckets: passes of 16, 4, 16, 4 (mean 10 > 8): full enough.
    counts = np.asarray([5] * 20 + [12] * 20)
    assert not packing_pays(query_passes(counts, 256, batch_size=16), 16)
    # 3 passes of 5 with room for 16 each: pays; a lone query never does.
    assert packing_pays(query_passes(np.asarray([5] * 5 + [12] * 5 + [20] * 5), 256, 16), 16)
    assert not packing_pays(query_passes(np.asarray([5]), 256, batch_size=16), 16)
