"""Training pairs mined from a corpus with no labels: title -> text, sentence -> rest of it.

Each miner is a pure function of the documents (and a seed), so the pairs a run trains on can
be reproduced and tested without a model. A pair remembers the document its positive came
from, so hard negatives can be taken from other documents only.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

from hybridsearch.corpus.documents import TITLE_SEPARATOR, Document
from hybridsearch.errors import InvalidInputError
from hybridsearch.validation import positive_int

__all__ = [
    "PAIR_SOURCES",
    "TrainingPair",
    "cap_pairs",
    "document_text",
    "mine_pairs",
    "sentence_pairs",
    "split_sentences",
    "title_pairs",
]

#: The unsupervised pair miners, by the name the command line uses.
PAIR_SOURCES = ("title", "sentence")

# A sentence ends at . ! or ? followed by white space and an upper-case letter, a digit or an
# opening bracket/quote. Simple on purpose: abbreviations ("e.g. the") rarely start a capital,
# and a missed boundary only makes one pair's query longer.
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9(\[\"'])")


@dataclass(frozen=True)
class TrainingPair:
    """A (query, relevant passage) pair, with hard negatives once mined.

    Attributes:
        query: The query side (a title, a sentence, a user's query).
        positive: Text relevant to the query.
        doc_id: The document the positive comes from ("" when unknown), never a negative.
        negatives: Texts not relevant to the query (BM25-mined hard negatives).
    """

    query: str
    positive: str
    doc_id: str = ""
    negatives: tuple[str, ...] = ()

    def with_negatives(self, negatives: Sequence[str]) -> TrainingPair:
        """A copy with these hard negatives."""
        return replace(self, negatives=tuple(negatives))


def document_text(document: Document) -> str:
    """What the index encodes for a whole document: the title line (if any), then the text."""
    if document.title:
        return f"{document.title}{TITLE_SEPARATOR}{document.text}"
    return document.text


def split_sentences(text: str) -> list[str]:
    """Split text into sentences (stripped, empty ones dropped); see ``_SENTENCE_END``."""
    return [sentence.strip() for sentence in _SENTENCE_END.split(text) if sentence.strip()]


def title_pairs(documents: Iterable[Document]) -> list[TrainingPair]:
    """One pair per titled document: its title -> its text (title not repeated in the text).

    Documents without a title, or whose text is empty, give none.
    """
    return [
        TrainingPair(document.title.strip(), document.text.strip(), document.id)
        for document in documents
        if document.title.strip() and document.text.strip()
    ]


def sentence_pairs(
    documents: Iterable[Document],
    *,
    per_document: int = 1,
    min_words: int = 5,
    seed: int = 0,
) -> list[TrainingPair]:
    """Sentence -> the rest of its document (the inverse-cloze task), chosen at random.

    Args:
        documents: The corpus.
        per_document: Sentences drawn per document (fewer where it has fewer).
        min_words: A sentence shorter than this is never a query (headings, "See above.").
        seed: The draw's seed: the same documents and seed give the same pairs.

    Returns:
        Pairs whose query is one sentence and whose positive is the document's other
        sentences, in order, joined by spaces. Documents of one sentence give none.
    """
    per_document = positive_int("per_document", per_document)
    min_words = positive_int("min_words", min_words)
    rng = random.Random(seed)
    pairs: list[TrainingPair] = []
    for document in documents:
        sentences = split_sentences(document.text)
        if len(sentences) < 2:
            continue
        candidates = [
            number
            for number, sentence in enumerate(sentences)
            if len(sentence.split()) >= min_words
        ]
        chosen = sorted(rng.sample(candidates, min(per_document, len(candidates))))
        for number in chosen:
            rest = " ".join(sentences[:number] + sentences[number + 1 :])
            pairs.append(TrainingPair(sentences[number], rest, document.id))
    return pairs


def mine_pairs(
    documents: Sequence[Document], sources: Sequence[str], *, seed: int = 0
) -> list[TrainingPair]:
    """The pairs of each named source (:data:`PAIR_SOURCES`), in that order.

    Raises:
        InvalidInputError: an unknown source, or none.
    """
    if not sources:
        raise InvalidInputError(f"pair sources: expected at least one of {PAIR_SOURCES}")
    pairs: list[TrainingPair] = []
    for source in sources:
        if source == "title":
            pairs += title_pairs(documents)
        elif source == "sentence":
            pairs += sentence_pairs(documents, seed=seed)
        else:
            raise InvalidInputError(
                f"pair source {source!r} is unknown; expected one of {PAIR_SOURCES}"
            )
    return pairs


def cap_pairs(pairs: Sequence[TrainingPair], max_pairs: int | None, *, seed: int = 0) -> list:
    """At most ``max_pairs`` pairs, a seeded random sample in their original order.

    None keeps all. Capping is what keeps a CPU run within minutes.
    """
    if max_pairs is None or len(pairs) <= max_pairs:
        return list(pairs)
    max_pairs = positive_int("max_pairs", max_pairs)
    kept = sorted(random.Random(seed).sample(range(len(pairs)), max_pairs))
    return [pairs[number] for number in kept]
