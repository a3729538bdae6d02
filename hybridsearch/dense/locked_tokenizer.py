"""A tokenizer whose every call holds a lock: what threads that share a fast tokenizer call.

A Hugging Face fast tokenizer switches its truncation and padding per call on one Rust object,
and may not be called from two threads at once: it raises "Already borrowed", or a call runs
with the other's padding (an encoder's warm-up tokenizing padded probes while ``add`` chunks
passages in another thread failed with "expected sequence of length 5 at dim 1 (got 10)").
:class:`~hybridsearch.dense.encoder.Encoder` tokenizes through one of these and hands it out
as its ``tokenizer`` (the chunker's); :class:`~hybridsearch.dense.batching.BatchingEncoder`
wraps that one again with its model lock.
"""

from __future__ import annotations

import threading
from typing import Any

__all__ = ["LockedTokenizer", "under_lock"]


class LockedTokenizer:
    """``tokenizer`` with its calls (and its methods' calls) made under ``lock``; other
    attributes (``model_max_length``, ...) read through.

    Args:
        tokenizer: The tokenizer shared.
        lock: The lock its calls take (re-entrant, so a caller holding it may tokenize).
    """

    def __init__(self, tokenizer: Any, lock: threading.RLock) -> None:
        self._tokenizer = tokenizer
        self.lock = lock

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        with self.lock:
            return self._tokenizer(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return under_lock(getattr(self._tokenizer, name), self.lock)


def under_lock(value: Any, lock: Any) -> Any:
    """``value`` itself if it is not callable (a fact read through), else a function that
    calls it holding ``lock`` (what wrappers that serialise an object's methods hand out)."""
    if not callable(value):
        return value

    def locked(*args: Any, **kwargs: Any) -> Any:
        with lock:
            return value(*args, **kwargs)

    return locked
