"""MultipleNegativesRankingLoss against a hand-computed cross-entropy (numpy)."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from hybridsearch.train.loss import multiple_negatives_ranking_loss  # noqa: E402


def _oracle(queries: np.ndarray, candidates: np.ndarray, scale: float) -> float:
    queries = queries / np.linalg.norm(queries, axis=1, keepdims=True)
    candidates = candidates / np.linalg.norm(candidates, axis=1, keepdims=True)
    logits = scale * queries @ candidates.T
    log_softmax = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    return float(-np.mean([log_softmax[row, row] for row in range(len(queries))]))


def test_in_batch_and_hard_negatives_match_the_hand_computed_loss() -> None:
    rng = np.random.default_rng(0)
    queries, positives, negatives = (rng.normal(size=(n, 8)) for n in (4, 4, 3))
    got = multiple_negatives_ranking_loss(
        torch.tensor(queries), torch.tensor(positives), torch.tensor(negatives), scale=20.0
    )
    expected = _oracle(queries, np.concatenate([positives, negatives]), 20.0)
    assert float(got) == pytest.approx(expected, rel=1e-9)
    in_batch = multiple_negatives_ranking_loss(torch.tensor(queries), torch.tensor(positives))
    assert float(in_batch) == pytest.approx(_oracle(queries, positives, 20.0), rel=1e-9)


def test_a_query_equal_to_its_positive_and_far_from_the_rest_costs_almost_nothing() -> None:
    identity = torch.eye(3, dtype=torch.float64)
    assert float(multiple_negatives_ranking_loss(identity, identity)) < 1e-7
    assert float(multiple_negatives_ranking_loss(identity, identity.roll(1, 0))) > 19
