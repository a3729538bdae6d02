"""Truncation is never silent: the encoder counts the texts it cuts and warns once per call.

Texts longer than the model's maximum length are still encoded (truncated, as
sentence-transformers does), but every cut is counted in a :class:`TruncationCounter` (what
:attr:`Encoder.truncation_stats <hybridsearch.dense.encoder.Encoder.truncation_stats>` reads)
and reported with a :class:`TruncationWarning` that points at the caller.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

__all__ = ["TruncationCounter", "TruncationStats", "TruncationWarning"]


class TruncationWarning(UserWarning):
    """Some texts were longer than the model's maximum sequence length and were truncated."""


@dataclass(frozen=True)
class TruncationStats:
    """How much an :class:`~hybridsearch.dense.encoder.Encoder` has truncated since it was made
    (or last reset).

    Attributes:
        texts_truncated: Texts longer than ``max_seq_length`` tokens (prompt and special tokens
            included).
        tokens_cut: Tokens dropped from those texts in total.
    """

    texts_truncated: int = 0
    tokens_cut: int = 0


class TruncationCounter:
    """Running totals of truncated texts and cut tokens, for one encoder."""

    def __init__(self) -> None:
        self.stats = TruncationStats()

    def reset(self) -> None:
        """Set the totals back to zero."""
        self.stats = TruncationStats()

    def record(self, token_counts: np.ndarray, max_seq_length: int, *, stacklevel: int) -> None:
        """Count the texts over ``max_seq_length`` and warn once for this call if any are.

        Args:
            token_counts: Tokens per text of one encode call, before truncation.
            max_seq_length: Where the encoder truncates.
            stacklevel: The warning's stack level, counted from this method, so that it
                points at the encoder's caller.
        """
        over = token_counts[token_counts > max_seq_length]
        if over.size == 0:
            return
        tokens_cut = int((over - max_seq_length).sum())
        self.stats = TruncationStats(
            self.stats.texts_truncated + int(over.size), self.stats.tokens_cut + tokens_cut
        )
        warnings.warn(
            f"{over.size} of {token_counts.size} texts were longer than max_seq_length="
            f"{max_seq_length} tokens and were truncated ({tokens_cut} tokens cut, longest "
            f"{int(over.max())} tokens); chunk long documents to keep every token",
            TruncationWarning,
            stacklevel=stacklevel + 1,
        )
