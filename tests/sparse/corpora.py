"""Test corpora and an argsort oracle shared by the sparse tests."""

from __future__ import annotations

import numpy as np


def make_corpus(
    num_passages: int = 2000, num_queries: int = 200, seed: int = 7
) -> tuple[list[list[str]], list[list[str]]]:
    """A Zipf-ish random corpus and queries with repeated and unknown terms."""
    rng = np.random.default_rng(seed)
    vocabulary_size = 3000
    probabilities = 1.0 / np.arange(1, vocabulary_size + 1) ** 1.1
    probabilities /= probabilities.sum()
    words = [f"w{rank}" for rank in range(vocabulary_size)]

    def draw(count: int) -> list[str]:
        return [words[i] for i in rng.choice(vocabulary_size, size=count, p=probabilities)]

    # Lengths from 0 (empty passages occur) to 80.
    corpus = [draw(int(rng.integers(0, 81))) for _ in range(num_passages)]
    queries = []
    for query_number in range(num_queries):
        query = draw(int(rng.integers(1, 8)))
        if query_number % 3 == 0:
            query.append(query[0])  # a repeated term
        if query_number % 4 == 0:
            query.append(f"unknown{query_number}")  # a term absent from the vocabulary
        queries.append(query)
    return corpus, queries


def ranking(scores: np.ndarray) -> np.ndarray:
    """Passage ids by descending score, equal scores by lower id (an argsort oracle)."""
    return np.lexsort((np.arange(scores.shape[0]), -scores))
