"""Text analysis for the BM25 leg: tokenise, lowercase, drop stopwords, stem.

The same :class:`Analyzer` must process passages at index time and queries at search time, so
its :class:`AnalyzerSettings` are persisted with an index (``analyzer.settings.to_dict()``,
read back with :meth:`AnalyzerSettings.from_dict` and :meth:`Analyzer.from_settings`) and a
loaded index analyses queries exactly as it analysed its passages.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from hybridsearch.errors import InvalidInputError
from hybridsearch.settings import Settings
from hybridsearch.sparse.english_stemmer import EnglishStemmer
from hybridsearch.sparse.stopwords import LUCENE_ENGLISH_STOPWORDS, QUESTION_WORDS, stopword_tuple
from hybridsearch.validation import check_choice

__all__ = [
    "DEFAULT_TOKEN_PATTERN",
    "LUCENE_ENGLISH_STOPWORDS",
    "Analyzer",
    "AnalyzerSettings",
    "WordTerms",
]

#: Words of two or more word characters, as scikit-learn's and bm25s's default tokenisers.
#: Single characters ("a", "x", "2") carry little for ranking and are dropped.
DEFAULT_TOKEN_PATTERN = r"(?u)\b\w\w+\b"

#: Words :meth:`Analyzer.analyze_word` remembers at most: with each term's words
#: (:class:`WordTerms`), ~72 MB when full of distinct random words; nfcorpus's 30k words take
#: 10 MB (tracemalloc, one-off script).
WORD_CACHE_SIZE = 200_000

# nltk 3's Snowball stemmer names, so settings validate without importing nltk (about 2 s);
# a name outside this list is looked up in the installed nltk, which may know more.
_SNOWBALL_LANGUAGES = (
    "arabic", "danish", "dutch", "english", "finnish", "french", "german", "hungarian",
    "italian", "norwegian", "porter", "portuguese", "romanian", "russian", "spanish", "swedish",
)  # fmt: skip
_TOKENIZERS = ("regex", "custom")


@dataclass(frozen=True)
class AnalyzerSettings(Settings):
    """How text becomes BM25 terms (validated when made; see :class:`Analyzer`).

    Attributes:
        tokenizer: ``"regex"`` (split with ``token_pattern``) or ``"custom"`` (a callable that
            cannot be written to disk: pass it again to :meth:`Analyzer.from_settings`).
        token_pattern: The regex whose matches are the tokens; None with a custom tokenizer.
        lowercase: Lowercase the text before tokenising.
        stopwords: The stopwords removed, as a sorted tuple of lowercase words (empty: none).
            Written out in full, so an index keeps analysing queries as it analysed its
            passages even if a later release changes the default list. ``True`` (Lucene's
            English list), ``False``, a list's name (``"lucene"``, ``"full"``, see
            :mod:`hybridsearch.sparse.stopwords`) or any iterable of words are accepted and
            normalised.
        query_stopwords: Words removed from queries only, after ``stopwords`` (passages keep
            them): ``True`` or ``"questions"`` for
            :data:`~hybridsearch.sparse.stopwords.QUESTION_WORDS` ("how", "what", "do", ...),
            ``False`` or an empty list for none (the default), or any iterable of words. An
            index written before this field existed reads as none.
        stemmer: A Snowball language name (``"english"``, ``"porter"``, ``"german"``, ...),
            or None for no stemming.
    """

    tokenizer: str = "regex"
    token_pattern: str | None = DEFAULT_TOKEN_PATTERN
    lowercase: bool = True
    stopwords: tuple[str, ...] = tuple(sorted(LUCENE_ENGLISH_STOPWORDS))
    stemmer: str | None = "english"
    query_stopwords: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(
            self,
            "stopwords",
            stopword_tuple(self.stopwords, "stopwords", default=LUCENE_ENGLISH_STOPWORDS),
        )
        object.__setattr__(
            self,
            "query_stopwords",
            stopword_tuple(self.query_stopwords, "query_stopwords", default=QUESTION_WORDS),
        )
        super().__post_init__()

    @classmethod
    def from_dict(cls, data: Any, *, where: str = "settings") -> AnalyzerSettings:
        """Read settings written by :meth:`to_dict`, strictly, as the base class does; a
        manifest written before ``query_stopwords`` existed reads as none (what it did)."""
        if isinstance(data, Mapping) and "query_stopwords" not in data:
            data = {**data, "query_stopwords": []}
        return super().from_dict(data, where=where)

    def validate(self) -> None:
        """Raise :class:`~hybridsearch.errors.InvalidInputError` naming a bad field."""
        check_choice("analyzer tokenizer", self.tokenizer, _TOKENIZERS)
        if self.tokenizer == "custom" and self.token_pattern is not None:
            raise InvalidInputError("token_pattern must be None with a custom tokenizer")
        if self.tokenizer == "regex":
            _check_pattern(self.token_pattern)
        if not isinstance(self.lowercase, bool):
            raise InvalidInputError(
                f"lowercase must be a bool, got {type(self.lowercase).__name__}"
            )
        _check_stemmer(self.stemmer)


class Analyzer:
    """Turns text into the terms the BM25 index stores and matches.

    Steps, in order: lowercase (optional), tokenise (a regex, :data:`DEFAULT_TOKEN_PATTERN` by
    default, or a caller's callable), drop stopwords, stem with nltk's Snowball stemmer
    (English: nltk's code, vendored in :mod:`hybridsearch.sparse.english_stemmer`, so
    nothing imports nltk).
    Stopwords are removed before stemming (as Lucene's analysis chain does) and matched
    case-insensitively.

    Corpora repeat words, so each distinct token is stemmed once and remembered in a cache
    owned by this instance (no global state; two analyzers never share a cache).

    Note that nltk's Snowball stemmers lowercase their output, so ``lowercase=False`` only
    keeps case when ``stemmer=None``.

    Args:
        stemmer: A Snowball language name (``"english"``, ``"porter"``, ``"german"``, ... any
            name in ``nltk.stem.snowball.SnowballStemmer.languages``), or ``None`` for no
            stemming.
        stopwords: ``True`` for :data:`LUCENE_ENGLISH_STOPWORDS`, ``False`` for none, a list's
            name (``"lucene"``, ``"full"``), or an iterable of custom stopwords
            (case-insensitive).
        query_stopwords: Words :meth:`analyze_query` also drops (queries only): ``True`` or
            ``"questions"`` for the question words, ``False`` (default) for none, or words.
        tokenizer: A callable from text to a list of tokens, used instead of the regex. It
            receives the text after lowercasing (when ``lowercase`` is on).
        lowercase: Lowercase the text before tokenising.
        token_pattern: The tokenising regex (with the built-in tokenizer only).

    Raises:
        InvalidInputError: An unknown stemmer name or an argument of the wrong type.
    """

    def __init__(
        self,
        *,
        stemmer: str | None = "english",
        stopwords: bool | str | Iterable[str] = True,
        query_stopwords: bool | str | Iterable[str] = False,
        tokenizer: Callable[[str], list[str]] | None = None,
        lowercase: bool = True,
        token_pattern: str = DEFAULT_TOKEN_PATTERN,
    ) -> None:
        if tokenizer is not None and token_pattern != DEFAULT_TOKEN_PATTERN:
            raise InvalidInputError("pass a tokenizer or a token_pattern, not both")
        settings = AnalyzerSettings(
            tokenizer="regex" if tokenizer is None else "custom",
            token_pattern=token_pattern if tokenizer is None else None,
            lowercase=lowercase,
            stopwords=stopwords,  # type: ignore[arg-type]  # normalised by the settings
            stemmer=stemmer,
            query_stopwords=query_stopwords,  # type: ignore[arg-type]  # normalised too
        )
        self._configure(settings, tokenizer)

    @classmethod
    def from_settings(
        cls,
        settings: AnalyzerSettings | Mapping[str, Any] | None,
        *,
        tokenizer: Callable[[str], list[str]] | None = None,
    ) -> Analyzer:
        """An analyzer for ``settings`` (an instance, a mapping of some fields, or None).

        Args:
            settings: What to build; read a manifest's with :meth:`AnalyzerSettings.from_dict`.
            tokenizer: The custom tokenizer, required when the settings say ``"custom"`` and
                refused otherwise (a different tokenizer would silently change the terms).

        Raises:
            InvalidInputError: Bad settings, or a tokenizer argument that does not match them.
        """
        settings = AnalyzerSettings.coerce(settings, "settings")
        if settings.tokenizer == "custom" and tokenizer is None:
            raise InvalidInputError(
                "the analyzer settings say a custom tokenizer was used; pass it again with "
                "Analyzer.from_settings(settings, tokenizer=...)"
            )
        if settings.tokenizer == "regex" and tokenizer is not None:
            raise InvalidInputError(
                "the analyzer settings use the built-in regex tokenizer; a tokenizer argument "
                "would change the terms, so it is refused"
            )
        analyzer = cls.__new__(cls)
        analyzer._configure(settings, tokenizer)
        return analyzer

    def _configure(
        self, settings: AnalyzerSettings, tokenizer: Callable[[str], list[str]] | None
    ) -> None:
        if tokenizer is not None and not callable(tokenizer):
            raise InvalidInputError(
                f"tokenizer must be a callable str -> list[str] or None, "
                f"got {type(tokenizer).__name__}"
            )
        self._settings = settings
        self._lowercase = settings.lowercase
        self._custom_tokenizer = tokenizer
        self._stopwords = frozenset(settings.stopwords)
        self._query_stopwords = frozenset(settings.query_stopwords) - self._stopwords
        self._stem = _make_stemmer(settings.stemmer)
        # token -> stem; filled lazily. Bounded by the vocabulary of what was analysed.
        self._stem_cache: dict[str, str] = {}
        # word -> its terms, for highlighters and snippets (:meth:`analyze_word`).
        self._word_terms = WordTerms(self._analyze)
        self._split = (
            tokenizer if tokenizer is not None else re.compile(str(settings.token_pattern)).findall
        )

    # -- analysis -----------------------------------------------------------------------

    def __call__(self, text: str) -> list[str]:
        """Analyse one text into its list of terms (in text order, repeats kept).

        Raises:
            InvalidInputError: ``text`` is not a str, or a custom tokenizer returned something
                other than a list of str.
        """
        if not isinstance(text, str):
            raise InvalidInputError(f"Analyzer expects a str, got {type(text).__name__}")
        return self._analyze(text)

    def analyze_query(self, text: str) -> list[str]:
        """Analyse a query: as :meth:`__call__`, then drop the ``query_stopwords`` too.

        Passages are analysed with :meth:`__call__`. A query made only of such words ("how
        do I") keeps them, rather than searching for nothing.

        Raises:
            InvalidInputError: ``text`` is not a str.
        """
        if not isinstance(text, str):
            raise InvalidInputError(f"Analyzer expects a str, got {type(text).__name__}")
        if not self._query_stopwords:
            return self._analyze(text)
        return self._analyze(text, self._query_stopwords) or self._analyze(text)

    def analyze_many(self, texts: Iterable[str]) -> list[list[str]]:
        """Analyse many texts; the stem cache is shared across them, which is what makes it fast.

        Raises:
            InvalidInputError: ``texts`` is a single str, or one element is not a str (the
                message gives its position).
        """
        if isinstance(texts, str):
            raise InvalidInputError(
                "analyze_many expects an iterable of texts, got a single str; use analyzer(text)"
            )
        # Consumed as it comes (not listed first), so a progress bar around texts stays true.
        analyzed: list[list[str]] = []
        for position, text in enumerate(texts):
            if not isinstance(text, str):
                raise InvalidInputError(
                    f"analyze_many: texts[{position}] is {type(text).__name__}, expected str"
                )
            analyzed.append(self._analyze(text))
        return analyzed

    def analyze_word(self, word: str) -> tuple[str, ...]:
        """The terms of one word, as :meth:`__call__` gives them, remembered per word.

        Snippets and highlighting match every word of the passages they show to the query's
        terms; the same words come back in every search of a corpus, so each is analysed
        once per analyzer. The cache holds at most :data:`WORD_CACHE_SIZE` words (then it
        starts again empty), so a server that shows a large corpus for months stays bounded.
        Unlike :meth:`__call__`, ``word`` is not type-checked: callers pass regex matches.
        """
        return self._word_terms(word)

    @property
    def word_terms(self) -> WordTerms:
        """The remembered terms of single words (:meth:`analyze_word` is its call), with
        :meth:`WordTerms.match` for a passage's words at once: what snippets use."""
        return self._word_terms

    def _analyze(self, text: str, extra_stopwords: frozenset[str] = frozenset()) -> list[str]:
        if self._lowercase:
            text = text.lower()
        tokens = self._split(text)
        if self._custom_tokenizer is not None:
            _check_custom_tokens(tokens)
        stopwords = self._stopwords | extra_stopwords if extra_stopwords else self._stopwords
        if stopwords and not self._lowercase:
            tokens = [token for token in tokens if token.lower() not in stopwords]
        elif stopwords:
            tokens = [token for token in tokens if token not in stopwords]
        if self._stem is None:
            return tokens
        cache = self._stem_cache
        stem = self._stem
        terms = []
        for token in tokens:
            term = cache.get(token)
            if term is None:
                term = cache[token] = stem(token)
            terms.append(term)
        return terms

    # -- inspection ---------------------------------------------------------------------

    @property
    def settings(self) -> AnalyzerSettings:
        """What this analyzer does, as written to an index manifest."""
        return self._settings

    @property
    def stemmer(self) -> str | None:
        """The Snowball language name, or None when stemming is off."""
        return self._settings.stemmer

    @property
    def stopwords(self) -> frozenset[str]:
        """The stopwords removed (lowercase); empty when stopwords are off."""
        return self._stopwords

    @property
    def query_stopwords(self) -> frozenset[str]:
        """The words only queries drop (besides :attr:`stopwords`); empty when off."""
        return self._query_stopwords

    @property
    def lowercase(self) -> bool:
        """Whether text is lowercased before tokenising."""
        return self._lowercase

    @property
    def stem_cache_size(self) -> int:
        """How many distinct tokens have been stemmed so far."""
        return len(self._stem_cache)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Analyzer):
            return NotImplemented
        return (
            self._settings == other._settings
            and self._custom_tokenizer is other._custom_tokenizer
        )

    __hash__ = None  # type: ignore[assignment]  # mutable cache inside; equality is by settings

    def __repr__(self) -> str:
        stopwords = (
            "default"
            if self._stopwords == LUCENE_ENGLISH_STOPWORDS
            else (f"{len(self._stopwords)} custom" if self._stopwords else "off")
        )
        query_only = f", query_stopwords={len(self._query_stopwords)}" * bool(self._query_stopwords)
        return (
            f"Analyzer(stemmer={self.stemmer!r}, stopwords={stopwords}{query_only}, "
            f"tokenizer={self._settings.tokenizer}, lowercase={self._lowercase})"
        )


def _check_pattern(pattern: object) -> None:
    if not isinstance(pattern, str):
        raise InvalidInputError(
            f"token_pattern must be a regex str with the regex tokenizer, got {pattern!r}"
        )
    try:
        compiled = re.compile(pattern)
    except re.error as error:
        message = f"token_pattern {pattern!r} is not a valid regex: {error}"
        raise InvalidInputError(message) from None
    if compiled.groups:  # findall would return the groups, not the tokens
        raise InvalidInputError(
            f"token_pattern {pattern!r} has capturing groups; write them as (?:...)"
        )


def _snowball_languages() -> tuple[str, ...]:
    """The stemmer names nltk's Snowball accepts (imported lazily: nltk is slow to load)."""
    from nltk.stem.snowball import SnowballStemmer

    return tuple(SnowballStemmer.languages)


def _check_stemmer(stemmer: object) -> None:
    if stemmer is None or stemmer in _SNOWBALL_LANGUAGES:
        return
    if not isinstance(stemmer, str):
        raise InvalidInputError(
            f"stemmer must be a Snowball language name or None, got {type(stemmer).__name__}"
        )
    languages = _snowball_languages()
    if stemmer not in languages:
        raise InvalidInputError(
            f"unknown stemmer {stemmer!r}; expected one of {', '.join(languages)} or None"
        )


def _make_stemmer(stemmer: str | None) -> Callable[[str], str] | None:
    """The stem function of a validated stemmer name (None when off).

    English, the default, is nltk's Snowball code vendored in
    :mod:`hybridsearch.sparse.english_stemmer` (same output, no nltk import); other languages
    import nltk here, on first use.
    """
    if stemmer is None:
        return None
    if stemmer == "english":
        # nltk's own code, vendored: importing nltk costs more than a whole index load.
        return EnglishStemmer().stem
    from nltk.stem.snowball import SnowballStemmer

    try:
        return SnowballStemmer(stemmer).stem
    except ValueError as error:  # a name this nltk does not know
        raise InvalidInputError(f"stemmer {stemmer!r}: {error}") from error


def _check_custom_tokens(tokens: object) -> None:
    """Make a faulty custom tokenizer fail here, with a message, not deep in the index."""
    if not isinstance(tokens, list):
        raise InvalidInputError(
            f"custom tokenizer must return a list of str, returned {type(tokens).__name__}"
        )
    for position, token in enumerate(tokens):
        if not isinstance(token, str):
            raise InvalidInputError(
                f"custom tokenizer returned {type(token).__name__} at position {position}; "
                "expected str"
            )


class WordTerms:
    """The terms of single words as an analyzer gives them, remembered per word.

    Snippets and highlighting match every word of the passages they show to a query's terms.
    Calling this gives one word's terms (analysed once, then looked up); :meth:`match` takes
    a passage's distinct words at once and finds the matching ones with set operations, from
    each term's words seen so far, rather than a Python step per word: the snippets of a
    10-hit response took 1.54 -> 1.11 ms of CPU per scifact query (best of 40 rounds over 40
    queries, one-off script). At most :data:`WORD_CACHE_SIZE` words are remembered (then it
    starts again empty).

    Args:
        analyze: The analyzer's text -> terms function.
    """

    __slots__ = ("_analyze", "_restarts", "_terms", "_words_by_term")

    def __init__(self, analyze: Callable[[str], list[str]]) -> None:
        self._analyze = analyze
        self._terms: dict[str, tuple[str, ...]] = {}
        # term -> the words seen that give it (lists: most terms have one word, and a set
        # costs 216 bytes to a list's 64)
        self._words_by_term: dict[str, list[str]] = {}
        self._restarts = 0

    def __call__(self, word: str) -> tuple[str, ...]:
        """The terms of ``word`` (not type-checked: callers pass regex matches)."""
        terms = self._terms.get(word)
        if terms is None:
            if len(self._terms) >= WORD_CACHE_SIZE:
                self._restarts += 1  # before the clearing: match() checks it after
                self._terms.clear()
                self._words_by_term.clear()
            terms = self._terms[word] = tuple(self._analyze(word))
            for term in terms:
                self._words_by_term.setdefault(term, []).append(word)
        return terms

    def __len__(self) -> int:
        """Words remembered."""
        return len(self._terms)

    def match(self, words: set[str], terms: frozenset[str]) -> dict[str, str]:
        """Which of ``words`` give one of ``terms``, each with the first of its terms that is
        one (what calling this word by word and testing each term gives)."""
        restarts = self._restarts
        # Only the words not seen before (set.difference with a dict looks each word up;
        # ``words - keys()`` would walk the whole memory).
        for word in words.difference(self._terms):
            self(word)
        found: set[str] = set()
        for term in terms:
            seen = self._words_by_term.get(term)
            if seen:
                found.update(words.intersection(seen))
        if self._restarts != restarts:
            # The memory started again meanwhile (here or in another thread), so some of
            # these words may be missing from it: look each one up instead.
            matched = ((word, _first_of(self(word), terms)) for word in words)
            return {word: term for word, term in matched if term is not None}
        return {word: _first_of(self(word), terms) for word in found}  # type: ignore[misc]


def _first_of(word_terms: tuple[str, ...], terms: frozenset[str]) -> str | None:
    """The first of a word's terms that is in ``terms``, or None."""
    for term in word_terms:
        if term in terms:
            return term
    return None
