"""Batches for contrastive training: shuffled, with no document twice in a batch.

With in-batch negatives every other pair's positive is a negative for a query; two pairs of
one document in a batch would make a passage of the query's own document its negative (a false
negative). sentence-transformers' NoDuplicatesBatchSampler avoids the same; this does it by
document id.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from hybridsearch.train.pairs import TrainingPair
from hybridsearch.validation import positive_int

__all__ = ["batches_without_duplicates"]


def batches_without_duplicates(
    pairs: Sequence[TrainingPair], batch_size: int, *, seed: int = 0
) -> list[list[TrainingPair]]:
    """Shuffle the pairs (seeded) and cut them into batches with distinct documents.

    A pair whose document (or, without a document id, whose positive) is already in the batch
    being filled waits for the next one, so every pair is used once, except that a batch of
    one (it has no in-batch negative to learn from) is dropped when there are others. The
    last batches may be shorter.

    Args:
        pairs: The training pairs.
        batch_size: Pairs per batch.
        seed: Shuffle seed (one epoch's order).
    """
    batch_size = positive_int("batch_size", batch_size)
    order = list(pairs)
    random.Random(seed).shuffle(order)
    batches: list[list[TrainingPair]] = []
    waiting = order
    while waiting:
        batch: list[TrainingPair] = []
        keys: set[str] = set()
        deferred: list[TrainingPair] = []
        for pair in waiting:
            key = pair.doc_id or pair.positive
            if len(batch) < batch_size and key not in keys:
                batch.append(pair)
                keys.add(key)
            else:
                deferred.append(pair)
        batches.append(batch)
        waiting = deferred
    if len(batches) > 1:
        batches = [batch for batch in batches if len(batch) > 1]
    return batches
