"""Tests of hybridsearch.sparse.analysis: Analyzer and AnalyzerSettings."""

from __future__ import annotations

import json

import pytest

from hybridsearch.errors import IndexFormatError, InvalidInputError
from hybridsearch.sparse.analysis import (
    DEFAULT_TOKEN_PATTERN,
    LUCENE_ENGLISH_STOPWORDS,
    Analyzer,
    AnalyzerSettings,
)


@pytest.fixture(scope="module")
def analyzer() -> Analyzer:
    return Analyzer()


def test_default_pipeline_lowercases_removes_stopwords_and_stems(analyzer):
    assert analyzer("The Cats are Running into the gardens") == ["cat", "run", "garden"]


def test_single_characters_are_not_tokens(analyzer):
    # The default pattern needs two word characters, as scikit-learn's and bm25s's.
    assert analyzer("a b c x2 7") == ["x2"]


def test_lucene_stopword_list_is_the_33_words():
    assert len(LUCENE_ENGLISH_STOPWORDS) == 33
    assert {"the", "not", "with", "into", "such"} <= LUCENE_ENGLISH_STOPWORDS
    assert "between" not in LUCENE_ENGLISH_STOPWORDS


def test_stemmer_matches_nltk_snowball_english(analyzer):
    from nltk.stem.snowball import SnowballStemmer

    words = ["running", "generously", "flies", "studies", "microstructural", "cerebral"]
    oracle = SnowballStemmer("english")
    assert analyzer(" ".join(words)) == [oracle.stem(word) for word in words]


def test_each_distinct_word_is_stemmed_once():
    analyzer = Analyzer()
    stemmed: list[str] = []
    original = analyzer._stem

    def counting_stem(word: str) -> str:
        stemmed.append(word)
        return original(word)

    analyzer._stem = counting_stem
    terms = analyzer.analyze_many(["running dogs running", "dogs running fast", "fast dogs"])
    assert terms == [["run", "dog", "run"], ["dog", "run", "fast"], ["fast", "dog"]]
    assert sorted(stemmed) == ["dogs", "fast", "running"]
    assert analyzer.stem_cache_size == 3


def test_caches_are_per_instance():
    first, second = Analyzer(), Analyzer()
    first("running")
    assert first.stem_cache_size == 1
    assert second.stem_cache_size == 0


def test_stemmer_off_keeps_words():
    assert Analyzer(stemmer=None)("Running dogs") == ["running", "dogs"]


def test_other_snowball_language():
    assert Analyzer(stemmer="german", stopwords=False)("Häuser") == ["haus"]


def test_unknown_stemmer_is_refused():
    with pytest.raises(InvalidInputError, match="klingon"):
        Analyzer(stemmer="klingon")


def test_stopwords_off_keeps_them():
    assert Analyzer(stopwords=False, stemmer=None)("the cat is here") == [
        "the",
        "cat",
        "is",
        "here",
    ]


def test_custom_stopwords_replace_the_default_list_case_insensitively():
    analyzer = Analyzer(stopwords=["Cat", "here"], stemmer=None)
    assert analyzer("the cat is here") == ["the", "is"]
    assert analyzer.stopwords == frozenset({"cat", "here"})


def test_stopwords_are_matched_case_insensitively_without_lowercasing():
    analyzer = Analyzer(lowercase=False, stemmer=None)
    assert analyzer("The Cat is HERE") == ["Cat", "HERE"]


def test_a_single_string_as_stopwords_is_refused():
    with pytest.raises(InvalidInputError, match="stopwords"):
        Analyzer(stopwords="the")


def test_custom_tokenizer_receives_lowercased_text():
    seen: list[str] = []

    def split_on_commas(text: str) -> list[str]:
        seen.append(text)
        return [part.strip() for part in text.split(",") if part.strip()]

    analyzer = Analyzer(tokenizer=split_on_commas, stemmer=None)
    assert analyzer("New York, The, a b") == ["new york", "a b"]
    assert seen == ["new york, the, a b"]


def test_custom_tokenizer_returning_non_str_is_reported():
    analyzer = Analyzer(tokenizer=lambda text: [1, 2])
    with pytest.raises(InvalidInputError, match="custom tokenizer"):
        analyzer("anything")


@pytest.mark.parametrize(
    "text",
    [
        "東京タワーは高い",
        "Привет, мир! Бегущие собаки",
        "café naïve ÉTÉ straße",
        "emoji 😀 party 🎉🎉 ok",
        "ﬁsh İstanbul ǅemal x² ½",
        "ٱلْعَرَبِيَّة עברית हिन्दी",
        "",
        "   \n\t ",
    ],
)
@pytest.mark.parametrize("stemmer", ["english", "russian", "porter", None])
def test_non_english_text_does_not_crash(text, stemmer):
    terms = Analyzer(stemmer=stemmer)(text)
    assert all(isinstance(term, str) and term for term in terms)


def test_non_english_words_survive(analyzer):
    terms = analyzer("東京タワー привет café")
    assert "東京タワー" in terms
    assert "привет" in terms
    assert "café" in terms


@pytest.mark.parametrize("bad", [None, 3, b"bytes", ["a list"]])
def test_non_str_is_refused(analyzer, bad):
    with pytest.raises(InvalidInputError, match="expects a str"):
        analyzer(bad)


def test_analyze_many_names_the_bad_position(analyzer):
    with pytest.raises(InvalidInputError, match=r"texts\[1\]"):
        analyzer.analyze_many(["fine", 7])
    with pytest.raises(InvalidInputError, match="single str"):
        analyzer.analyze_many("not a list")


def test_analyze_many_equals_one_by_one(analyzer):
    texts = ["Running dogs", "The cat", "", "Studies of studies"]
    assert analyzer.analyze_many(texts) == [analyzer(text) for text in texts]
    assert analyzer.analyze_many(iter(texts)) == [analyzer(text) for text in texts]


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"stemmer": None},
        {"stemmer": "porter", "stopwords": False},
        {"stopwords": ["foo", "bar"], "lowercase": False},
        {"token_pattern": r"\w+", "stemmer": None},
    ],
)
def test_settings_round_trip_through_json(kwargs):
    analyzer = Analyzer(**kwargs)
    data = json.loads(json.dumps(analyzer.settings.to_dict()))
    settings = AnalyzerSettings.from_dict(data)
    assert settings == analyzer.settings
    rebuilt = Analyzer.from_settings(settings)
    assert rebuilt == analyzer
    text = "The Foo runs, BAR cats running 東京 a b"
    assert rebuilt(text) == analyzer(text)


def test_settings_record_the_full_stopword_list_and_pattern():
    data = Analyzer().settings.to_dict()
    assert data == {
        "tokenizer": "regex",
        "token_pattern": DEFAULT_TOKEN_PATTERN,
        "lowercase": True,
        "stopwords": sorted(LUCENE_ENGLISH_STOPWORDS),
        "stemmer": "english",
        "query_stopwords": [],
    }
    assert AnalyzerSettings() == Analyzer().settings


def test_stopwords_are_normalised_to_a_sorted_lowercase_tuple():
    assert AnalyzerSettings(stopwords=["The", "an", "the"]).stopwords == ("an", "the")
    assert AnalyzerSettings(stopwords=False).stopwords == ()
    assert AnalyzerSettings(stopwords=True) == AnalyzerSettings()
    assert Analyzer(stopwords=["Cat"]).settings.stopwords == ("cat",)


def test_a_token_pattern_is_used():
    analyzer = Analyzer(token_pattern=r"[a-z]+", stemmer=None, stopwords=False)
    assert analyzer("x2 and a-b") == ["x", "and", "a", "b"]
    assert Analyzer.from_settings({"token_pattern": r"[a-z]+", "stemmer": None})("x2") == ["x"]


def test_from_settings_takes_a_mapping_or_none():
    assert Analyzer.from_settings(None) == Analyzer()
    assert Analyzer.from_settings({"stemmer": None}) == Analyzer(stemmer=None)


def test_custom_tokenizer_must_be_passed_again():
    def tokenizer(text: str) -> list[str]:
        return text.split()

    data = json.loads(json.dumps(Analyzer(tokenizer=tokenizer).settings.to_dict()))
    assert data["tokenizer"] == "custom"
    assert data["token_pattern"] is None
    settings = AnalyzerSettings.from_dict(data)
    with pytest.raises(InvalidInputError, match="custom tokenizer"):
        Analyzer.from_settings(settings)
    rebuilt = Analyzer.from_settings(settings, tokenizer=tokenizer)
    assert rebuilt("New-York rocks") == ["new-york", "rock"]


def test_tokenizer_for_regex_settings_is_refused():
    with pytest.raises(InvalidInputError, match="refused"):
        Analyzer.from_settings(AnalyzerSettings(), tokenizer=str.split)
    with pytest.raises(InvalidInputError, match="not both"):
        Analyzer(tokenizer=str.split, token_pattern=r"\w+")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"stemmer": "klingon"}, "klingon"),
        ({"stemmer": 3}, "stemmer must be"),
        ({"tokenizer": "whitespace"}, "tokenizer"),
        ({"token_pattern": "(unclosed"}, "not a valid regex"),
        ({"token_pattern": None}, "token_pattern"),
        ({"token_pattern": r"(\w)\w+"}, "capturing groups"),
        ({"tokenizer": "custom"}, "token_pattern must be None"),
        ({"stopwords": "the"}, "stopwords"),
        ({"stopwords": ["the", 3]}, r"stopwords\[1\]"),
        ({"lowercase": "yes"}, "lowercase"),
    ],
)
def test_bad_settings_are_refused(change, message):
    with pytest.raises(InvalidInputError, match=message):
        AnalyzerSettings(**change)
    data = {**AnalyzerSettings().to_dict(), **change}
    with pytest.raises(IndexFormatError, match=message):
        AnalyzerSettings.from_dict(data, where="manifest.json analyzer")


def test_from_dict_is_strict():
    data = AnalyzerSettings().to_dict()
    with pytest.raises(IndexFormatError, match="unknown AnalyzerSettings key 'config_version'"):
        AnalyzerSettings.from_dict({**data, "config_version": 1})
    del data["stemmer"]
    with pytest.raises(IndexFormatError, match="AnalyzerSettings key 'stemmer' is missing"):
        AnalyzerSettings.from_dict(data)


def test_known_stemmer_names_are_nltks():
    # Settings check names against this list without importing nltk; it must not drift.
    from nltk.stem.snowball import SnowballStemmer

    from hybridsearch.sparse.analysis import _SNOWBALL_LANGUAGES

    assert set(_SNOWBALL_LANGUAGES) <= set(SnowballStemmer.languages)


def test_scifact_is_analysed_quickly():
    import time
    from pathlib import Path

    corpus = Path(__file__).resolve().parents[2].parent / "shared" / "beir" / "scifact"
    corpus_file = corpus / "corpus.jsonl"
    if not corpus_file.is_file():
        pytest.skip("BEIR scifact is not available")
    records = [json.loads(line) for line in corpus_file.read_text(encoding="utf-8").splitlines()]
    texts = [record["title"] + " " + record["text"] for record in records]
    analyzer = Analyzer()
    started = time.perf_counter()
    analyzed = analyzer.analyze_many(texts)
    elapsed = time.perf_counter() - started
    assert len(analyzed) == 5183
    # About 0.5 s on the development machine; generous for a shared, noisy CI box.
    assert elapsed < 10


def test_query_stopwords_drop_words_from_queries_only():
    analyzer = Analyzer(query_stopwords=True)
    question = "How do I catch several exceptions at once?"
    assert analyzer(question) == ["how", "do", "catch", "sever", "except", "onc"]
    assert analyzer.analyze_query(question) == ["catch", "sever", "except", "onc"]
    # Passages keep them: "do" and "how" stay terms of the text an index stores.
    assert analyzer.analyze_many(["How to do it"]) == [["how", "do"]]
    # Without query stopwords a query is analysed as a passage is.
    assert Analyzer().analyze_query(question) == Analyzer()(question)


def test_a_query_of_question_words_only_keeps_them():
    analyzer = Analyzer(query_stopwords=["how", "do"])
    assert analyzer.analyze_query("How do?") == ["how", "do"]
    assert analyzer.analyze_query("how do sets") == ["set"]


def test_stopword_lists_by_name():
    full = AnalyzerSettings(stopwords="full")
    assert len(full.stopwords) == 153 and {"how", "do", "once", "between"} <= set(full.stopwords)
    assert set(LUCENE_ENGLISH_STOPWORDS) <= set(full.stopwords)
    assert not any("'" in word for word in full.stopwords)
    assert AnalyzerSettings(stopwords="lucene") == AnalyzerSettings()
    assert AnalyzerSettings(query_stopwords="questions") == AnalyzerSettings(query_stopwords=True)
    assert "how" in AnalyzerSettings(query_stopwords=True).query_stopwords
    assert Analyzer(stopwords="full")("how do I catch it at once") == ["catch"]
    with pytest.raises(InvalidInputError, match="query_stopwords: unknown stopword list 'nltk'"):
        AnalyzerSettings(query_stopwords="nltk")


def test_query_stopwords_round_trip_and_old_manifests_read_as_none():
    settings = AnalyzerSettings(query_stopwords=["Why", "how"])
    data = json.loads(json.dumps(settings.to_dict()))
    assert data["query_stopwords"] == ["how", "why"]
    assert AnalyzerSettings.from_dict(data) == settings
    # A manifest written before the field existed: queries were analysed as passages.
    del data["query_stopwords"]
    assert AnalyzerSettings.from_dict(data).query_stopwords == ()


def test_analyze_word_equals_the_analyzer_and_remembers_each_word():
    analyzer = Analyzer()
    words = ["Running", "the", "runs", "dying", "skies", "Exceptions", "x", "e2e"]
    assert [analyzer.analyze_word(word) for word in words] == [
        tuple(Analyzer()(word)) for word in words
    ]
    assert analyzer.analyze_word("the") == ()  # a stopword has no terms
    assert analyzer.analyze_word("Running") is analyzer.analyze_word("Running")  # remembered


def test_the_word_cache_starts_again_when_full(monkeypatch):
    from hybridsearch.sparse import analysis

    monkeypatch.setattr(analysis, "WORD_CACHE_SIZE", 3)
    analyzer = Analyzer()
    for word in ["cats", "dogs", "owls", "bees"]:
        assert analyzer.analyze_word(word) == tuple(analyzer(word))
    assert len(analyzer.word_terms) == 1  # cleared at the fourth word, then "bees" added


WORDS_OF_PASSAGES = [
    "Cells", "cell", "cellular", "running", "Runs", "the", "proteins", "protein's", "x",
    "e2e", "Über", "über", "naïve", "naive", "caffeine", "_id", "tea", "teas", "TEA", "ran",
]  # fmt: skip


def test_word_terms_match_equals_looking_each_word_up():
    # The oracle: each word's terms, one word at a time, the first that is a query term.
    import random

    rng = random.Random(11)
    analyzer = Analyzer()
    for _ in range(300):
        words = set(rng.sample(WORDS_OF_PASSAGES, rng.randint(0, 12)))
        terms = frozenset(rng.sample([*Analyzer()(" ".join(WORDS_OF_PASSAGES)), "absent"], 4))
        expected = {}
        for word in words:
            for term in Analyzer()(word):
                if term in terms:
                    expected[word] = term
                    break
        assert analyzer.word_terms.match(words, terms) == expected


def test_word_terms_match_while_the_memory_starts_again(monkeypatch):
    from hybridsearch.sparse import analysis

    monkeypatch.setattr(analysis, "WORD_CACHE_SIZE", 4)
    analyzer = Analyzer()
    words = {"cells", "tea", "teas", "running", "proteins", "owls"}
    found = analyzer.word_terms.match(words, frozenset({"cell", "tea", "owl"}))
    assert found == {"cells": "cell", "tea": "tea", "teas": "tea", "owls": "owl"}
    assert len(analyzer.word_terms) <= 4
    # and again, from what the memory holds now
    assert analyzer.word_terms.match(words, frozenset({"tea"})) == {"tea": "tea", "teas": "tea"}
