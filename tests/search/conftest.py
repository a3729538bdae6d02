"""A small search stack with no model: real BM25 and FAISS legs, a hashing query encoder.

The planner only needs things that behave like an analyzer, a BM25 index, a vector index, an
encoder and a passage store, so these tests run the real query path on hundreds of queries in
a few seconds.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np
import pytest

from hybridsearch.search.hits import PassageView
from hybridsearch.search.planner import QueryPlanner

WORDS = (
    "alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "iota", "kappa",
    "lambda", "mu", "nu", "xi", "omicron", "pi", "rho", "sigma", "tau", "upsilon", "phi",
    "chi", "psi", "omega", "apple", "river", "stone", "cloud", "forest", "ember", "glass",
    "harbor",
)
DIMENSION = 16


@dataclass(frozen=True)
class FakeIdentity:
    name: str = "hashing-encoder"

    def same_model_as(self, other: object) -> bool:
        return isinstance(other, FakeIdentity) and other.name == self.name

    def describe(self) -> str:
        return self.name

    def to_dict(self) -> dict:
        return dict.fromkeys(
            ("weights_digest", "dimension", "pooling", "normalize", "query_prompt",
             "passage_prompt"), self.name
        )


class HashingEncoder:
    """Maps a text to a fixed unit vector (a hash of its words): deterministic, no model."""

    identity = FakeIdentity()

    def encode_queries(self, texts):
        return np.stack([_vector(text) for text in texts])


def _vector(text: str) -> np.ndarray:
    vector = np.zeros(DIMENSION, np.float32)
    for word in text.split():
        generator = np.random.default_rng(zlib.crc32(word.encode()))
        vector += generator.standard_normal(DIMENSION).astype(np.float32)
    norm = np.linalg.norm(vector)
    return vector / norm if norm else vector


class PassageList:
    """A search source over (document row, text) pairs: legs, passages, no filters."""

    def __init__(self, document_rows: list[int], texts: list[str], bm25, vectors) -> None:
        self.rows = np.asarray(document_rows, np.int64)
        self.texts = texts
        self.bm25 = bm25
        self.vectors = vectors
        self.num_passages = len(texts)

    def allowed(self, flt):
        raise NotImplementedError("no metadata here")

    def document_rows_of(self, passage_ids):
        return self.rows[passage_ids]

    def passage_view(self, passage_id):
        row = int(self.rows[passage_id])
        return PassageView(f"doc-{row}", self.texts[passage_id], "", 0, 0, {})


def make_planner(num_documents: int = 60, seed: int = 0, passages_per_document=(1, 4)):
    """A planner over a random corpus whose documents have 1-3 passages of 3-12 words."""
    from hybridsearch.dense.segmented import DenseSegment, SegmentedVectors
    from hybridsearch.sparse.bm25 import BM25Settings
    from hybridsearch.sparse.postings import Postings
    from hybridsearch.sparse.segmented import SegmentedBM25, SparseSegment

    generator = np.random.default_rng(seed)
    rows, texts = [], []
    for row in range(num_documents):
        for _ in range(generator.integers(*passages_per_document)):
            # A small vocabulary with repeats makes BM25 and RRF ties common.
            words = generator.choice(WORDS, size=generator.integers(3, 12))
            rows.append(row)
            texts.append(" ".join(words))
    live = np.ones(len(texts), dtype=bool)
    postings = Postings.from_tokens([text.split() for text in texts])
    bm25 = SegmentedBM25([SparseSegment(postings, live)], BM25Settings())
    matrix = np.stack([_vector(text) for text in texts]).astype(np.float32)
    vectors = SegmentedVectors([DenseSegment(matrix, live)])
    return QueryPlanner(
        analyzer=str.split,
        encoder=HashingEncoder(),
        model_identity=FakeIdentity(),
        source=PassageList(rows, texts, bm25, vectors),
    )


def random_queries(count: int, seed: int = 1) -> list[str]:
    generator = np.random.default_rng(seed)
    return [" ".join(generator.choice(WORDS, size=generator.integers(1, 5))) for _ in range(count)]


@pytest.fixture(scope="module")
def planner():
    return make_planner()
