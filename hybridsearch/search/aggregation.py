"""From fused passages to the result unit.

Both legs rank passages, and fusion ranks passages; a user asking for documents gets each
document once, at the position of its best fused passage, with that passage shown. Passage
results are the fused list itself.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["best_passage_per_document", "to_unit"]


def best_passage_per_document(
    fused: Sequence[tuple[int, float]], document_rows: np.ndarray
) -> list[tuple[int, float]]:
    """Keep each document's first (best) passage of a fused list, order kept.

    Args:
        fused: ``(passage id, fused score)`` pairs, best first.
        document_rows: The document row of each passage in ``fused``, same order.

    Returns:
        The pairs whose passage is its document's best, best first.
    """
    if not fused:
        return []
    _, first_positions = np.unique(np.asarray(document_rows), return_index=True)
    return [fused[position] for position in np.sort(first_positions).tolist()]


def to_unit(
    fused: Sequence[tuple[int, float]], unit: str, document_rows: np.ndarray
) -> list[tuple[int, float]]:
    """The fused passages in the result unit (``documents`` or ``passages``)."""
    if unit == "passages":
        return list(fused)
    return best_passage_per_document(fused, document_rows)
