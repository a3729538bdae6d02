"""Comparing a sharded search with one index's: what must be equal, and how."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any


class MemoQueryEncoder:
    """A query encoder that encodes each query text once (tests search the same few queries
    hundreds of times); both sides of a comparison use it, so they get the same vectors."""

    def __init__(self, encoder: Any) -> None:
        self._encoder = encoder
        self.identity = encoder.identity
        self._vectors: dict[str, Any] = {}

    def encode_queries(self, texts: Sequence[str]) -> Any:
        import numpy as np

        for text in texts:
            if text not in self._vectors:
                self._vectors[text] = self._encoder.encode_queries([text])[0]
        return np.stack([self._vectors[text] for text in texts])


#: Every combination of mode, fusion and unit a search can run.
SEARCH_SHAPES: tuple[dict[str, Any], ...] = tuple(
    {"mode": mode, "unit": unit, **({"fusion": fusion} if fusion else {})}
    for mode, fusion in (("bm25", None), ("dense", None), ("hybrid", "rrf"), ("hybrid", "convex"))
    for unit in ("documents", "passages")
)


def comparable(hits: Iterable[Any]) -> list[tuple]:
    """What a sharded and a single index agree on: document, span, ranks (ids differ)."""
    return [
        (hit.rank, hit.doc_id, hit.start, hit.end, hit.bm25_rank, hit.dense_rank) for hit in hits
    ]


def scores(hits: Iterable[Any]) -> list[tuple[float | None, ...]]:
    """Each hit's fused score and the legs' raw scores."""
    return [(hit.score, hit.bm25_score, hit.dense_score) for hit in hits]


def assert_same_results(expected: Sequence[Any], got: Sequence[Any], what: str) -> None:
    """Same documents, spans, order and per-leg ranks; scores equal to 1e-9 relative."""
    assert comparable(got) == comparable(expected), what
    for position, (want, have) in enumerate(zip(scores(expected), scores(got), strict=True)):
        for a, b in zip(want, have, strict=True):
            assert (a is None) == (b is None), f"{what}: hit {position + 1}"
            if a is not None:
                assert math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12), (
                    f"{what}: hit {position + 1}: {a} != {b}"
                )
    assert [hit.metadata for hit in got] == [hit.metadata for hit in expected], what
