"""MultipleNegativesRankingLoss: cross-entropy over scaled cosine similarities.

For a batch of n (query, positive[, negative]) triples, each query is scored against all n
positives and all n negatives; the right answer is its own positive, every other passage in
the batch is a negative (in-batch negatives), and the mined ones are harder negatives. This is
sentence-transformers' ``MultipleNegativesRankingLoss`` with its default scale of 20.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

__all__ = ["SCALE", "multiple_negatives_ranking_loss"]

#: Cosine similarities are multiplied by this before the softmax (sentence-transformers' 20).
SCALE = 20.0


def multiple_negatives_ranking_loss(
    query_vectors: torch.Tensor,
    positive_vectors: torch.Tensor,
    negative_vectors: torch.Tensor | None = None,
    *,
    scale: float = SCALE,
) -> torch.Tensor:
    """The mean cross-entropy of picking each query's own positive among all candidates.

    Args:
        query_vectors: (n, d) query embeddings.
        positive_vectors: (n, d) embeddings of each query's positive (row i goes with query i).
        negative_vectors: (m, d) extra negatives for every query (hard negatives), or None.
        scale: Multiplier of the cosine similarities (the inverse softmax temperature).

    Returns:
        A scalar tensor.
    """
    import torch

    candidates = positive_vectors
    if negative_vectors is not None and len(negative_vectors):
        candidates = torch.cat([positive_vectors, negative_vectors])
    queries = torch.nn.functional.normalize(query_vectors, p=2, dim=1)
    candidates = torch.nn.functional.normalize(candidates, p=2, dim=1)
    scores = queries @ candidates.T * scale
    labels = torch.arange(len(queries), device=scores.device)
    return torch.nn.functional.cross_entropy(scores, labels)
