"""Text analysis for the BM25 leg: tokenise, lowercase, drop stopwords, stem.

The same :class:`Analyzer` must process passages at index time and queries at search time, so
its settings are persisted with an index (:meth:`Analyzer.to_config` /
:meth:`Analyzer.from_config`) and a loaded index analyses queries exactly as it analysed its
passages.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from hybridsearch.errors import InvalidInputError

__all__ = ["DEFAULT_TOKEN_PATTERN", "LUCENE_ENGLISH_STOPWORDS", "Analyzer"]

#: Words of two or more word characters, as scikit-learn's and bm25s's default tokenisers.
#: Single characters ("a", "x", "2") carry little for ranking and are dropped.
DEFAULT_TOKEN_PATTERN = r"(?u)\b\w\w+\b"

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

# Version of the dictionary written by to_config, so a later release can read older configs.
_CONFIG_VERSION = 1
_CONFIG_KEYS = frozenset(
    {"config_version", "tokenizer", "token_pattern", "lowercase", "stopwords", "stemmer"}
)


def _snowball_languages() -> tuple[str, ...]:
    """Return the stemmer names nltk's Snowball accepts (imported lazily: nltk is slow to load)."""
    from nltk.stem.snowball import SnowballStemmer

    return tuple(SnowballStemmer.languages)


class Analyzer:
    """Turns text into the terms the BM25 index stores and matches.

    Steps, in order: lowercase (optional), tokenise (regex ``DEFAULT_TOKEN_PATTERN`` or a
    caller's callable), drop stopwords, stem with nltk's Snowball stemmer. Stopwords are
    removed before stemming (as Lucene's analysis chain does) and matched case-insensitively.

    Corpora repeat words, so each distinct token is stemmed once and remembered in a cache
    owned by this instance (no global state; two analyzers never share a cache).

    Note that nltk's Snowball stemmers lowercase their output, so ``lowercase=False`` only
    keeps case when ``stemmer=None``.

    Args:
        stemmer: A Snowball language name (``"english"``, ``"porter"``, ``"german"``, ... any
            name in ``nltk.stem.snowball.SnowballStemmer.languages``), or ``None`` for no
            stemming.
        stopwords: ``True`` for :data:`LUCENE_ENGLISH_STOPWORDS`, ``False`` for none, or an
            iterable of custom stopwords (case-insensitive).
        tokenizer: A callable from text to a list of tokens, used instead of the regex. It
            receives the text after lowercasing (when ``lowercase`` is on).
        lowercase: Lowercase the text before tokenising.

    Raises:
        InvalidInputError: An unknown stemmer name or an argument of the wrong type.
    """

    def __init__(
        self,
        *,
        stemmer: str | None = "english",
        stopwords: bool | Iterable[str] = True,
        tokenizer: Callable[[str], list[str]] | None = None,
        lowercase: bool = True,
    ) -> None:
        if not isinstance(lowercase, bool):
            raise InvalidInputError(f"lowercase must be a bool, got {type(lowercase).__name__}")
        if tokenizer is not None and not callable(tokenizer):
            raise InvalidInputError(
                f"tokenizer must be a callable str -> list[str] or None, "
                f"got {type(tokenizer).__name__}"
            )
        self._lowercase = lowercase
        self._custom_tokenizer = tokenizer
        self._stopwords = _normalise_stopwords(stopwords)
        self._stemmer_name, self._stem = _make_stemmer(stemmer)
        # token -> stem; filled lazily. Bounded by the vocabulary of what was analysed.
        self._stem_cache: dict[str, str] = {}
        self._split = (
            tokenizer if tokenizer is not None else re.compile(DEFAULT_TOKEN_PATTERN).findall
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
        analyzed: list[list[str]] = []
        for position, text in enumerate(texts):
            if not isinstance(text, str):
                raise InvalidInputError(
                    f"analyze_many: texts[{position}] is {type(text).__name__}, expected str"
                )
            analyzed.append(self._analyze(text))
        return analyzed

    def _analyze(self, text: str) -> list[str]:
        if self._lowercase:
            text = text.lower()
        tokens = self._split(text)
        if self._custom_tokenizer is not None:
            _check_custom_tokens(tokens)
        stopwords = self._stopwords
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

    # -- inspection and persistence -----------------------------------------------------

    @property
    def stemmer(self) -> str | None:
        """The Snowball language name, or None when stemming is off."""
        return self._stemmer_name

    @property
    def stopwords(self) -> frozenset[str]:
        """The stopwords removed (lowercase); empty when stopwords are off."""
        return self._stopwords

    @property
    def lowercase(self) -> bool:
        """Whether text is lowercased before tokenising."""
        return self._lowercase

    @property
    def stem_cache_size(self) -> int:
        """How many distinct tokens have been stemmed so far."""
        return len(self._stem_cache)

    def to_config(self) -> dict[str, Any]:
        """Describe this analyzer as a JSON-serialisable dict (stored in an index manifest).

        The stopword list is written out in full (sorted) rather than as ``True``, so an index
        keeps analysing queries as it analysed its passages even if a later release changes the
        default list. A custom tokenizer cannot be serialised: it is recorded as ``"custom"``
        and must be passed again to :meth:`from_config`.
        """
        return {
            "config_version": _CONFIG_VERSION,
            "tokenizer": "custom" if self._custom_tokenizer is not None else "regex",
            "token_pattern": None if self._custom_tokenizer is not None else DEFAULT_TOKEN_PATTERN,
            "lowercase": self._lowercase,
            "stopwords": sorted(self._stopwords),
            "stemmer": self._stemmer_name,
        }

    @classmethod
    def from_config(
        cls,
        config: Mapping[str, Any],
        *,
        tokenizer: Callable[[str], list[str]] | None = None,
    ) -> Analyzer:
        """Rebuild an analyzer from :meth:`to_config`'s dict.

        Args:
            config: The dict :meth:`to_config` returned (for example read back from JSON).
            tokenizer: The custom tokenizer, required when the config says ``"custom"`` and
                refused otherwise (a different tokenizer would silently change the terms).

        Raises:
            InvalidInputError: The config is malformed, names an unknown version or stemmer, or
                the tokenizer argument does not match what the config records.
        """
        if not isinstance(config, Mapping):
            raise InvalidInputError(
                f"analyzer config must be a mapping, got {type(config).__name__}"
            )
        missing = sorted(_CONFIG_KEYS - set(config))
        if missing:
            raise InvalidInputError(f"analyzer config lacks the keys {missing}")
        unknown = sorted(set(config) - _CONFIG_KEYS)
        if unknown:
            raise InvalidInputError(f"analyzer config has unknown keys {unknown}")
        if config["config_version"] != _CONFIG_VERSION:
            raise InvalidInputError(
                f"analyzer config_version is {config['config_version']!r}; "
                f"this release reads version {_CONFIG_VERSION}"
            )
        tokenizer_kind = config["tokenizer"]
        if tokenizer_kind == "custom":
            if tokenizer is None:
                raise InvalidInputError(
                    "analyzer config was built with a custom tokenizer; pass it again with "
                    "from_config(config, tokenizer=...)"
                )
        elif tokenizer_kind == "regex":
            if config["token_pattern"] != DEFAULT_TOKEN_PATTERN:
                raise InvalidInputError(
                    f"analyzer config token_pattern {config['token_pattern']!r} is not the "
                    f"supported pattern {DEFAULT_TOKEN_PATTERN!r}"
                )
            if tokenizer is not None:
                raise InvalidInputError(
                    "analyzer config uses the built-in regex tokenizer; a tokenizer argument "
                    "would change the terms, so it is refused"
                )
        else:
            raise InvalidInputError(
                f"analyzer config tokenizer must be 'regex' or 'custom', got {tokenizer_kind!r}"
            )
        stopwords = config["stopwords"]
        if not isinstance(stopwords, list | tuple | bool):
            raise InvalidInputError(
                f"analyzer config stopwords must be a list of str or a bool, "
                f"got {type(stopwords).__name__}"
            )
        return cls(
            stemmer=config["stemmer"],
            stopwords=stopwords,
            tokenizer=tokenizer,
            lowercase=config["lowercase"],
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Analyzer):
            return NotImplemented
        return (
            self.to_config() == other.to_config()
            and self._custom_tokenizer is other._custom_tokenizer
        )

    __hash__ = None  # type: ignore[assignment]  # mutable cache inside; equality is by config

    def __repr__(self) -> str:
        stopwords = (
            "default"
            if self._stopwords == LUCENE_ENGLISH_STOPWORDS
            else (f"{len(self._stopwords)} custom" if self._stopwords else "off")
        )
        tokenizer = "custom" if self._custom_tokenizer is not None else "regex"
        return (
            f"Analyzer(stemmer={self._stemmer_name!r}, stopwords={stopwords}, "
            f"tokenizer={tokenizer}, lowercase={self._lowercase})"
        )


def _normalise_stopwords(stopwords: bool | Iterable[str]) -> frozenset[str]:
    """Turn the ``stopwords`` argument into a lowercase frozenset (empty when off)."""
    if stopwords is True:
        return LUCENE_ENGLISH_STOPWORDS
    if stopwords is False:
        return frozenset()
    if isinstance(stopwords, str) or not isinstance(stopwords, Iterable):
        raise InvalidInputError(
            "stopwords must be True, False or an iterable of words (a single str is refused: "
            f"it would be read as letters), got {type(stopwords).__name__}"
        )
    words = list(stopwords)
    for position, word in enumerate(words):
        if not isinstance(word, str):
            raise InvalidInputError(f"stopwords[{position}] is {type(word).__name__}, expected str")
    return frozenset(word.lower() for word in words)


def _make_stemmer(stemmer: str | None) -> tuple[str | None, Callable[[str], str] | None]:
    """Validate the stemmer name and return it with its stem function (None when off)."""
    if stemmer is None:
        return None, None
    if not isinstance(stemmer, str):
        raise InvalidInputError(
            f"stemmer must be a Snowball language name or None, got {type(stemmer).__name__}"
        )
    languages = _snowball_languages()
    if stemmer not in languages:
        raise InvalidInputError(
            f"unknown stemmer {stemmer!r}; expected one of {', '.join(languages)} or None"
        )
    from nltk.stem.snowball import SnowballStemmer

    return stemmer, SnowballStemmer(stemmer).stem


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
