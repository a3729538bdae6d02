"""Pair mining from documents: sentence splitting, title -> text, sentence -> rest, capping."""

from __future__ import annotations

import pytest

from hybridsearch.corpus.documents import Document
from hybridsearch.errors import InvalidInputError
from hybridsearch.train.pairs import (
    TrainingPair,
    cap_pairs,
    document_text,
    mine_pairs,
    sentence_pairs,
    split_sentences,
    title_pairs,
)

ESSAY = Document(
    "essay",
    "Proteins fold into three dimensional shapes. Misfolded proteins cause several diseases "
    "in humans! Can chaperones help? Yes.",
    title="Protein folding",
)


def test_split_sentences_cuts_at_end_marks_before_a_capital_or_digit() -> None:
    assert split_sentences("One two. Three four! Five? 6 is a number. e.g. lower stays.") == [
        "One two.",
        "Three four!",
        "Five?",
        "6 is a number. e.g. lower stays.",
    ]
    assert split_sentences("   ") == []


def test_title_pairs_pair_each_title_with_its_text_only() -> None:
    untitled = Document("plain", "No title here.")
    empty = Document("empty", " ", title="Lonely title")
    assert title_pairs([ESSAY, untitled, empty]) == [
        TrainingPair("Protein folding", ESSAY.text, "essay")
    ]


def test_sentence_pairs_take_a_long_enough_sentence_and_the_rest_in_order() -> None:
    pairs = sentence_pairs([ESSAY], per_document=3, min_words=5, seed=1)
    sentences = split_sentences(ESSAY.text)
    # Only the two sentences of >= 5 words can be queries; "Yes." never is.
    assert [pair.query for pair in pairs] == [sentences[0], sentences[1]]
    for pair in pairs:
        rest = [sentence for sentence in sentences if sentence != pair.query]
        assert pair.positive == " ".join(rest)
        assert pair.doc_id == "essay"


def test_sentence_pairs_are_seeded_and_skip_one_sentence_documents() -> None:
    documents = [ESSAY, Document("short", "Only one sentence in this document here.")]
    first = sentence_pairs(documents, seed=7)
    assert first == sentence_pairs(documents, seed=7)
    assert len(first) == 1 and first[0].doc_id == "essay"
    seen = {sentence_pairs(documents, seed=seed)[0].query for seed in range(20)}
    assert len(seen) == 2  # both eligible sentences get drawn across seeds


def test_mine_pairs_concatenates_sources_and_refuses_unknown_ones() -> None:
    pairs = mine_pairs([ESSAY], ["title", "sentence"])
    assert pairs[0].query == "Protein folding" and len(pairs) == 2
    with pytest.raises(InvalidInputError, match="'keywords' is unknown"):
        mine_pairs([ESSAY], ["keywords"])
    with pytest.raises(InvalidInputError, match="at least one"):
        mine_pairs([ESSAY], [])


def test_cap_pairs_keeps_a_seeded_sample_in_order() -> None:
    pairs = [TrainingPair(f"q{number}", f"p{number}") for number in range(50)]
    capped = cap_pairs(pairs, 10, seed=3)
    assert len(capped) == 10 and capped == cap_pairs(pairs, 10, seed=3)
    positions = [pairs.index(pair) for pair in capped]
    assert positions == sorted(positions)
    assert cap_pairs(pairs, None) == pairs and cap_pairs(pairs, 99) == pairs


def test_document_text_puts_the_title_line_first() -> None:
    assert document_text(ESSAY) == "Protein folding\n" + ESSAY.text
    assert document_text(Document("x", "body")) == "body"
