"""Hard negatives mined with BM25: passages of other documents that share the query's words.

In-batch negatives (every other pair's positive) are easy: random passages rarely look
relevant. A BM25-mined negative looks relevant on the surface and is not, which is what makes
contrastive training learn more than word overlap. The top few BM25 hits of other documents
are skipped: on a small corpus they are often unlabelled relevant passages (false negatives),
which would teach the model the wrong thing.
"""

from __future__ import annotations

from collections.abc import Sequence

from hybridsearch.errors import InvalidInputError
from hybridsearch.sparse.analysis import Analyzer
from hybridsearch.sparse.bm25 import BM25Index
from hybridsearch.train.pairs import TrainingPair
from hybridsearch.validation import positive_int

__all__ = ["mine_bm25_negatives"]


def mine_bm25_negatives(
    pairs: Sequence[TrainingPair],
    passage_texts: Sequence[str],
    passage_doc_ids: Sequence[str],
    *,
    analyzer: Analyzer | None = None,
    skip: int = 3,
    depth: int = 30,
) -> list[TrainingPair]:
    """Give each pair one hard negative: a high BM25 passage of another document.

    Args:
        pairs: The pairs (their ``doc_id`` says which document is not a negative).
        passage_texts: The corpus's passages, as indexed.
        passage_doc_ids: The document of each passage.
        analyzer: How to tokenise for BM25 (default: the index's default analyzer).
        skip: Passages of other documents passed over first (likely false negatives).
        depth: How deep in BM25's ranking to look.

    Returns:
        The pairs, each with the passage ranked ``skip + 1``-th among other documents' (its
        ``negatives``), or without a negative where BM25 finds none that deep. A passage
        equal to the positive is never a negative.

    Raises:
        InvalidInputError: the passage lists differ in length, or ``skip >= depth``.
    """
    if len(passage_texts) != len(passage_doc_ids):
        raise InvalidInputError(
            f"passage_texts ({len(passage_texts)}) and passage_doc_ids "
            f"({len(passage_doc_ids)}) must have the same length"
        )
    depth = positive_int("depth", depth)
    if not 0 <= skip < depth:
        raise InvalidInputError(f"skip must be in [0, depth={depth}), got {skip}")
    if not pairs:
        return []
    analyzer = analyzer or Analyzer()
    bm25 = BM25Index.build(analyzer.analyze_many(passage_texts))
    mined: list[TrainingPair] = []
    for pair, (passage_ids, _) in zip(
        pairs,
        bm25.search_batch(analyzer.analyze_many([p.query for p in pairs]), depth),
        strict=True,
    ):
        others = [
            int(passage_id)
            for passage_id in passage_ids
            if passage_doc_ids[passage_id] != pair.doc_id
            and passage_texts[passage_id] != pair.positive
        ]
        mined.append(
            pair.with_negatives([passage_texts[others[skip]]]) if len(others) > skip else pair
        )
    return mined
