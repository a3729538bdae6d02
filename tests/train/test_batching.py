"""Batches without two pairs of one document (no false in-batch negatives)."""

from __future__ import annotations

from collections import Counter

from hybridsearch.train.batching import batches_without_duplicates
from hybridsearch.train.pairs import TrainingPair


def test_every_pair_once_and_no_document_twice_in_a_batch() -> None:
    pairs = [TrainingPair(f"q{number}", f"p{number}", f"d{number % 6}") for number in range(24)]
    batches = batches_without_duplicates(pairs, 4, seed=2)
    used = [pair for batch in batches for pair in batch]
    assert Counter(used) == Counter(pairs)
    assert len(batches) == 6
    for batch in batches:
        assert len(batch) <= 4
        assert len({pair.doc_id for pair in batch}) == len(batch)
    assert batches == batches_without_duplicates(pairs, 4, seed=2)
    assert batches != batches_without_duplicates(pairs, 4, seed=3)


def test_pairs_without_a_document_are_told_apart_by_their_positive() -> None:
    pairs = [TrainingPair("a", "same"), TrainingPair("b", "same"), TrainingPair("c", "other")]
    batches = batches_without_duplicates(pairs, 3)
    assert all(len({pair.positive for pair in batch}) == len(batch) for batch in batches)


def test_a_lone_leftover_pair_is_dropped_only_when_there_are_other_batches() -> None:
    pairs = [TrainingPair(f"q{number}", f"p{number}", "same") for number in range(3)]
    # Every pair is of one document: three batches of one; none has an in-batch negative.
    assert [len(batch) for batch in batches_without_duplicates(pairs, 8)] == []
    assert batches_without_duplicates(pairs[:1], 8) == [[pairs[0]]]
