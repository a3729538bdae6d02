"""Stopword lists the analyzer offers by name, and how a ``stopwords`` or ``query_stopwords``
argument (a name, True/False, or words) becomes the sorted tuple an index stores.

Three lists, measured against each other in ``benchmarks/stopwords.py`` (results in
``benchmarks/results/stopwords.md``):

- ``"lucene"``: Lucene's short English set (33 words), the default for passages and queries;
- ``"full"``: NLTK's English list (the Snowball list), 153 words once the forms with an
  apostrophe are left out (the default tokenizer never produces them); it also removes words
  such as "not", "between", "after" or "more" that can matter in a scientific query;
- ``"questions"``: the words that make a sentence a question ("how", "what", "do", "does",
  "I", ...), meant for queries only (``query_stopwords``): passages keep them, a question
  typed as a query loses them.
"""

from __future__ import annotations

from collections.abc import Iterable

from hybridsearch.errors import InvalidInputError
from hybridsearch.validation import string_list

__all__ = [
    "FULL_ENGLISH_STOPWORDS",
    "LUCENE_ENGLISH_STOPWORDS",
    "QUESTION_WORDS",
    "STOPWORD_LISTS",
    "stopword_tuple",
]

#: Lucene's English stopword set (``EnglishAnalyzer.ENGLISH_STOP_WORDS_SET``), also bm25s's
#: ``"en"`` list. Kept short on purpose: longer lists remove words such as "not" or "between"
#: that matter for scientific and medical queries.
LUCENE_ENGLISH_STOPWORDS: frozenset[str] = frozenset(
    {
        "a", "an", "and", "are", "as", "at", "be", "but", "by", "for", "if", "in", "into",
        "is", "it", "no", "not", "of", "on", "or", "such", "that", "the", "their", "then",
        "there", "these", "they", "this", "to", "was", "will", "with",
    }
)  # fmt: skip

#: NLTK's English stopwords (``nltk.corpus.stopwords.words("english")``, the Snowball list)
#: without the forms holding an apostrophe, which the default tokenizer splits apart.
FULL_ENGLISH_STOPWORDS: frozenset[str] = frozenset(
    {
        "i", "me", "my", "myself", "we", "our", "ours", "ourselves", "you", "your", "yours",
        "yourself", "yourselves", "he", "him", "his", "himself", "she", "her", "hers",
        "herself", "it", "its", "itself", "they", "them", "their", "theirs", "themselves",
        "what", "which", "who", "whom", "this", "that", "these", "those", "am", "is", "are",
        "was", "were", "be", "been", "being", "have", "has", "had", "having", "do", "does",
        "did", "doing", "a", "an", "the", "and", "but", "if", "or", "because", "as", "until",
        "while", "of", "at", "by", "for", "with", "about", "against", "between", "into",
        "through", "during", "before", "after", "above", "below", "to", "from", "up", "down",
        "in", "out", "on", "off", "over", "under", "again", "further", "then", "once", "here",
        "there", "when", "where", "why", "how", "all", "any", "both", "each", "few", "more",
        "most", "other", "some", "such", "no", "nor", "not", "only", "own", "same", "so",
        "than", "too", "very", "s", "t", "can", "will", "just", "don", "should", "now", "d",
        "ll", "m", "o", "re", "ve", "y", "ain", "aren", "couldn", "didn", "doesn", "hadn",
        "hasn", "haven", "isn", "ma", "mightn", "mustn", "needn", "shan", "shouldn", "wasn",
        "weren", "won", "wouldn",
    }
)  # fmt: skip

#: Words that make a question of a query ("how do I ...", "what does ... do"): interrogatives,
#: the auxiliaries that open questions, and the asker's pronouns. For ``query_stopwords``.
QUESTION_WORDS: frozenset[str] = frozenset(
    {
        "how", "what", "why", "when", "where", "which", "who", "whom", "whose", "whether",
        "do", "does", "did", "can", "could", "should", "would", "i", "me", "my", "we", "you",
    }
)  # fmt: skip

#: The lists a settings field may name.
STOPWORD_LISTS: dict[str, frozenset[str]] = {
    "lucene": LUCENE_ENGLISH_STOPWORDS,
    "full": FULL_ENGLISH_STOPWORDS,
    "questions": QUESTION_WORDS,
}


def stopword_tuple(
    value: bool | str | Iterable[str], field: str, *, default: frozenset[str]
) -> tuple[str, ...]:
    """A ``stopwords``-like argument as a sorted tuple of distinct lowercase words.

    Args:
        value: ``True`` (``default``), ``False`` (none), a list's name from
            :data:`STOPWORD_LISTS`, or an iterable of words.
        field: The settings field, for the error message.
        default: The list ``True`` stands for.

    Raises:
        InvalidInputError: an unknown list name, or something other than words.
    """
    if value is True:
        return tuple(sorted(default))
    if value is False:
        return ()
    if isinstance(value, str):
        if value not in STOPWORD_LISTS:
            raise InvalidInputError(
                f"{field}: unknown stopword list {value!r}; expected one of "
                f"{', '.join(STOPWORD_LISTS)}, True, False or a list of words"
            )
        return tuple(sorted(STOPWORD_LISTS[value]))
    words = string_list(field, value, what="words (or a list's name, True, or False)")
    return tuple(sorted({word.lower() for word in words}))
