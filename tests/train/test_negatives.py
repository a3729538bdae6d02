"""BM25 hard negatives: a high-ranked passage of another document, past the skipped head."""

from __future__ import annotations

import pytest

from hybridsearch.errors import InvalidInputError
from hybridsearch.sparse.analysis import Analyzer
from hybridsearch.sparse.bm25 import BM25Index
from hybridsearch.train.negatives import mine_bm25_negatives
from hybridsearch.train.pairs import TrainingPair

TEXTS = [
    "honey bees make honey in hives",  # 0: the pair's own document
    "honey bees collect nectar from flowers",  # 1
    "wild bees nest in the ground",  # 2
    "honey is sweet and sticky",  # 3
    "sharks hunt fish in the ocean",  # 4: shares no word with the query
]
DOC_IDS = ["bee", "bee-2", "wild", "honey", "shark"]
PAIR = TrainingPair("honey bees", TEXTS[0], "bee")


def _others_by_bm25(query: str) -> list[int]:
    """The oracle: BM25's own ranking, the pair's document removed."""
    analyzer = Analyzer()
    ids, _ = BM25Index.build(analyzer.analyze_many(TEXTS)).search(analyzer(query), 10)
    return [int(passage) for passage in ids if DOC_IDS[passage] != "bee"]


@pytest.mark.parametrize("skip", [0, 1, 2])
def test_the_negative_is_the_first_passage_of_another_document_past_skip(skip: int) -> None:
    (mined,) = mine_bm25_negatives([PAIR], TEXTS, DOC_IDS, skip=skip, depth=10)
    assert mined.negatives == (TEXTS[_others_by_bm25("honey bees")[skip]],)
    assert mined.query == PAIR.query and mined.positive == PAIR.positive


def test_no_negative_when_bm25_finds_none_that_deep() -> None:
    # Three other passages hold "honey" or "bees": skipping three leaves none.
    (mined,) = mine_bm25_negatives([PAIR], TEXTS, DOC_IDS, skip=3, depth=10)
    assert mined.negatives == ()


def test_a_passage_equal_to_the_positive_is_never_a_negative() -> None:
    pair = TrainingPair("honey bees", TEXTS[1], "")  # no document id: its text still excluded
    (mined,) = mine_bm25_negatives([pair], TEXTS, DOC_IDS, skip=0, depth=10)
    assert mined.negatives and mined.negatives[0] != TEXTS[1]


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(InvalidInputError, match="same length"):
        mine_bm25_negatives([PAIR], TEXTS, DOC_IDS[:2])
    with pytest.raises(InvalidInputError, match="skip"):
        mine_bm25_negatives([PAIR], TEXTS, DOC_IDS, skip=5, depth=5)
    assert mine_bm25_negatives([], TEXTS, DOC_IDS) == []
