"""Tests of hybridsearch.sparse.english_stemmer: nltk's English Snowball stemmer, vendored.

The oracle is the installed nltk's ``SnowballStemmer("english")``: the vendored copy must
give the same output for every input. The words come from sources independent of both: this
repository's README, Python's own standard library (its help topics and module sources:
English prose in docstrings and comments, identifiers, a few non-ASCII words), seeded random
strings over the letters the algorithm treats specially, and hand-made edge cases.
"""

from __future__ import annotations

import random
import re
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from hybridsearch.sparse.english_stemmer import EnglishStemmer

REPO_ROOT = Path(__file__).resolve().parents[2]

# Words, apostrophes of all three kinds nltk maps to "'", and the case as written.
_WORD = re.compile(r"[\w'\u2019\u2018\u201b]+")
_MIN_WORDS = 30_000

#: Inputs chosen by hand for the branches of the algorithm.
EDGE_CASES = [
    # empty, short, apostrophes only
    "", "a", "y", "Y", "ab", "by", "ay", "yy", "yyy", "ayy", "ayyy", "'", "''", "'''", "'s",
    "s'", "'s'", "’", "‘’", "‛s",
    # nltk's special words, and their capitals
    "skis", "skies", "sky", "dying", "lying", "tying", "idly", "gently", "ugly", "early",
    "only", "singly", "news", "howe", "atlas", "cosmos", "bias", "andes", "inning", "innings",
    "outing", "outings", "canning", "cannings", "herring", "herrings", "earring", "earrings",
    "proceed", "proceeds", "proceeded", "proceeding", "exceed", "exceeds", "exceeded",
    "exceeding", "succeed", "succeeds", "succeeded", "succeeding", "SKIES", "Dying", "NEWS",
    "Gently",
    # 'y' as a consonant: word-initial, after a vowel, doubled
    "yes", "yelling", "YELLING", "yay", "sayyid", "toy", "toys", "eye", "eyes", "cry",
    "cries", "say", "saying", "buyer", "obeyed", "enjoyable", "yearly", "youth", "kayak",
    # step 0 and 1a
    "dog's", "dogs'", "dog’s", "dogs’", "’tis", "'twas", "caresses", "ties", "tied", "cries",
    "gas", "gaps", "kiwis", "us", "bus", "ss", "class",
    # R1 exceptions and step 1b
    "generate", "generously", "general", "communism", "community", "arsenal", "arsenic",
    "agreed", "feed", "agreedly", "luxuriating", "hopping", "hoping", "filing", "failing",
    "hoped", "tanned", "troubled", "sized", "bled", "sing", "hop", "fizzed", "conflated",
    # steps 2 to 5
    "conditional", "rational", "valenci", "hesitanci", "digitizer", "conformabli",
    "radicalli", "differentli", "vileli", "analogousli", "vietnamization", "predication",
    "operator", "feudalism", "decisiveness", "hopefulness", "callousness", "formaliti",
    "sensitiviti", "sensibiliti", "analogi", "ogi", "logi", "fruitfulli", "lessli",
    "triplicate", "formative", "formalize", "electriciti", "electrical", "hopeful",
    "goodness", "revival", "allowance", "inference", "airliner", "gyroscopic", "adjustable",
    "defensible", "irritant", "replacement", "adjustment", "dependent", "adoption",
    "homologous", "communication", "activate", "angulariti", "effective", "bowdlerize",
    "probate", "rate", "cease", "controll", "roll", "fully", "microstructural", "cerebral",
    # digits, underscores, mixed scripts, non-ASCII letters and case mappings
    "123", "1st", "x86_64", "__init__", "café", "café's", "naïve", "Zürich", "résumé",
    "façade", "coöperate", "señor", "mañana", "ñandú", "straße", "STRASSE", "İstanbul",
    "ΣΊΣΥΦΟΣ", "ﬁnancial", "ﬂying", "Ωmega", "пример", "日本語", "rock’n’roll",
]  # fmt: skip


def _oracle():
    from nltk.stem.snowball import SnowballStemmer

    return SnowballStemmer("english").stem


def _outcome(stem, word: str) -> tuple[str, str]:
    """The stem, or the exception's type: the copy must fail where nltk fails, too."""
    try:
        return ("stem", stem(word))
    except Exception as error:  # compared with nltk's, not swallowed
        return ("error", type(error).__name__)


def _stdlib_words() -> set[str]:
    """Distinct words of the README and the standard library, read in a fixed order until
    there are enough (so the test's cost does not grow with a bigger stdlib)."""
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    sources = [REPO_ROOT / "README.md", stdlib / "pydoc_data" / "topics.py"]
    sources += sorted(stdlib.glob("*.py")) + sorted(stdlib.glob("*/*.py"))
    words: set[str] = set()
    lowered: set[str] = set()
    for source in sources:
        if len(lowered) >= _MIN_WORDS:
            break
        found = set(_WORD.findall(source.read_text(encoding="utf-8", errors="replace")))
        words |= found
        lowered |= {word.lower() for word in found}
    return words


def _variants(words: list[str]) -> list[str]:
    """Non-ASCII and curly-apostrophe versions of some words (stdlib has few of either)."""
    accented = str.maketrans({"e": "é", "a": "à", "o": "ö", "u": "ü", "i": "ï", "y": "ÿ"})
    curly = str.maketrans({"'": "’"})
    sample = words[::25]
    return [word.translate(accented) for word in sample] + [
        word.translate(curly) for word in words if "'" in word
    ][:2_000]


def _random_words(count: int) -> list[str]:
    """Seeded strings over the letters the rules look at (vowels, y, doubles, apostrophes)."""
    generator = random.Random(10)
    alphabet = "aeiouybcdglnrstwxzY'’"
    return [
        "".join(generator.choice(alphabet) for _ in range(generator.randint(1, 11)))
        for _ in range(count)
    ]


@pytest.fixture(scope="module")
def word_list() -> list[str]:
    words = sorted(_stdlib_words())
    return sorted(set(words + _variants(words) + _random_words(4_000) + EDGE_CASES))


def test_word_list_is_large_and_varied(word_list):
    lowered = {word.lower() for word in word_list}
    assert len(lowered) >= _MIN_WORDS
    assert sum(not word.isascii() for word in word_list) >= 1_000
    assert sum("'" in word or "’" in word for word in word_list) >= 1_000
    assert sum(word != word.lower() for word in word_list) >= 1_000


def test_same_output_as_nltk_on_every_word(word_list):
    vendored = EnglishStemmer().stem
    oracle = _oracle()
    differences = [
        (word, ours, theirs)
        for word in word_list
        if (ours := _outcome(vendored, word)) != (theirs := _outcome(oracle, word))
    ]
    assert differences == [], f"{len(differences)} of {len(word_list)} differ: {differences[:20]}"


def test_hand_made_edge_cases_match_nltk():
    # Also fixed here, so a drift in nltk itself shows as a named failure.
    stem = EnglishStemmer().stem
    assert [stem(word) for word in EDGE_CASES] == [_oracle()(word) for word in EDGE_CASES]
    assert [stem(w) for w in ("skies", "dying", "news", "gently", "YELLING", "dog’s")] == [
        "sky", "die", "news", "gentl", "yell", "dog",
    ]  # fmt: skip


def test_stemmers_share_nothing():
    # No global state: two instances are independent and give the same answers.
    first, second = EnglishStemmer(), EnglishStemmer()
    assert first.stem("generously") == second.stem("generously") == "generous"
    assert first.stopwords == frozenset()


_LOAD_WITHOUT_NLTK = """
import sys
from hybridsearch import HybridIndex
index = HybridIndex.load(sys.argv[1], warm_up=False)
hits = index.search("green tea leaves", k=2, mode="bm25")
assert [hit.doc_id for hit in hits][:1] == ["tea"], [hit.doc_id for hit in hits]
hits = index.search("green tea leaves", k=2)
print(sorted(name for name in sys.modules if name == "nltk" or name.startswith("nltk.")))
"""


def test_loading_and_searching_an_index_does_not_import_nltk(encoder, tmp_path):
    from hybridsearch import Document, HybridIndex

    documents = [
        Document(id="tea", text="Green tea leaves are steamed and dried."),
        Document(id="bread", text="Knead the dough, let it rise, and bake the loaves."),
    ]
    path = tmp_path / "index"
    HybridIndex.build(documents, model=encoder).save(path)
    completed = subprocess.run(
        [sys.executable, "-c", _LOAD_WITHOUT_NLTK, str(path)],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        timeout=300,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert completed.stdout.strip() == "[]"


def test_other_languages_still_come_from_nltk():
    from nltk.stem.snowball import SnowballStemmer

    from hybridsearch.sparse.analysis import Analyzer

    analyzer = Analyzer(stemmer="german", stopwords=False)
    words = ["häuser", "katzen", "laufen"]
    assert analyzer(" ".join(words)) == [SnowballStemmer("german").stem(w) for w in words]
