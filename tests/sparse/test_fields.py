"""BM25F's title field: the formula by hand, its indexed form (repeated title terms), the
setting's checks, and rank-bm25 as the oracle where it applies."""

from __future__ import annotations

import math
import random
from collections import Counter
from itertools import pairwise

import numpy as np
import pytest
import rank_bm25

from hybridsearch.errors import IndexFormatError, InvalidInputError
from hybridsearch.sparse.analysis import Analyzer
from hybridsearch.sparse.bm25 import BM25Index, BM25Settings
from hybridsearch.sparse.fields import bm25f_term_score, weighted_passage_tokens
from hybridsearch.sparse.postings import Postings
from hybridsearch.sparse.segmented import SegmentedBM25, SparseSegment

# Two passages: P0 carries the title "green tea"; P1 carries none.
TEXTS = ["green tea\ntea leaves brew", "coffee beans tea"]
TITLES = ["green tea", ""]


def _split(text: str) -> list[str]:
    return text.split()


def test_the_formula_by_hand():
    # Title weight 2. P0: tf~(tea) = 2*1 + 1 = 3, dl~ = 2*2 + 3 = 7; P1: tf 1, dl 3; avgdl~ 5.
    # Lucene idf(tea) = log(1 + 0.5 / 2.5) = log 1.2; k1 1.5, b 0.75.
    # P0: 3 / (3 + 1.5 * (0.25 + 0.75 * 7/5)) = 3 / 4.95; P1: 1 / (1 + 1.5 * 0.7) = 1 / 2.05.
    common = {"average_weighted_length": 5.0, "title_weight": 2, "k1": 1.5, "b": 0.75}
    p0 = bm25f_term_score(
        idf=math.log(1.2), title_tf=1, body_tf=1, title_length=2, body_length=3, **common
    )
    p1 = bm25f_term_score(
        idf=math.log(1.2), title_tf=0, body_tf=1, title_length=0, body_length=3, **common
    )
    assert p0 == pytest.approx(0.18232155679395462 * 3 / 4.95, rel=1e-15)
    assert p1 == pytest.approx(0.18232155679395462 / 2.05, rel=1e-15)


def test_repeated_title_terms_score_as_the_formula():
    tokens = weighted_passage_tokens(_split, TEXTS, TITLES, 2)
    assert Counter(tokens[0]) == {"green": 2, "tea": 3, "leaves": 1, "brew": 1}
    assert tokens[1] == ["coffee", "beans", "tea"]
    index = BM25Index.build(tokens)
    assert index.average_passage_length == 5.0
    np.testing.assert_allclose(
        index.get_scores(["tea"]), [math.log(1.2) * 3 / 4.95, math.log(1.2) / 2.05], rtol=1e-13
    )
    # "green" is in P0's title only: tf~ = 2, idf = log(1 + 1.5 / 1.5) = log 2.
    np.testing.assert_allclose(
        index.get_scores(["green"]), [math.log(2) * 2 / 3.95, 0.0], rtol=1e-13
    )


def _random_passages(seed: int) -> tuple[list[str], list[str], list[str]]:
    """(indexed texts, carried titles, bodies) of random passages, some without a title."""
    rng = random.Random(seed)
    words = [f"w{n}" for n in range(30)]
    texts, titles, bodies = [], [], []
    for _ in range(60):
        title = " ".join(rng.choices(words, k=rng.randint(1, 4))) if rng.random() < 0.7 else ""
        body = " ".join(rng.choices(words, k=rng.randint(0, 25)))
        texts.append(f"{title}\n{body}" if title else body)
        titles.append(title)
        bodies.append(body)
    return texts, titles, bodies


@pytest.mark.parametrize("title_weight", [1, 2, 3, 5])
def test_every_passage_gets_weight_times_title_plus_body(title_weight):
    texts, titles, bodies = _random_passages(title_weight)
    analyzer = Analyzer()
    weighted = weighted_passage_tokens(analyzer, texts, titles, title_weight)
    for terms, title, body in zip(weighted, titles, bodies, strict=True):
        want = Counter(analyzer(body))
        for term, count in Counter(analyzer(title)).items():
            want[term] += title_weight * count
        assert Counter(terms) == want
    if title_weight == 1:
        assert weighted == analyzer.analyze_many(texts)  # today's terms exactly


@pytest.mark.parametrize("title_weight", [1, 3])
@pytest.mark.parametrize(
    ("variant", "oracle"), [("okapi", rank_bm25.BM25Okapi), ("bm25plus", rank_bm25.BM25Plus)]
)
def test_rank_bm25_over_the_weighted_terms_is_the_oracle(title_weight, variant, oracle):
    texts, titles, _ = _random_passages(10 + title_weight)
    analyzer = Analyzer()
    weighted = weighted_passage_tokens(analyzer, texts, titles, title_weight)
    index = BM25Index.build(weighted, BM25Settings(variant=variant, title_weight=title_weight))
    reference = oracle(weighted)
    for query in (["w1"], ["w2", "w7", "w2"], ["w29", "nothing"]):
        np.testing.assert_allclose(
            index.get_scores(query), reference.get_scores(query), rtol=1e-12, atol=1e-12
        )


def test_the_setting_is_checked_and_written_only_when_not_one():
    assert "title_weight" not in BM25Settings().to_dict()  # today's manifests, bit for bit
    assert BM25Settings.from_dict(BM25Settings().to_dict()) == BM25Settings()
    three = BM25Settings(title_weight=3)
    assert three.to_dict()["title_weight"] == 3
    assert BM25Settings.from_dict(three.to_dict()) == three
    assert BM25Settings(title_weight=2.0).title_weight == 2
    assert type(BM25Settings(title_weight=2.0).title_weight) is int
    with pytest.raises(InvalidInputError, match="whole number"):
        BM25Settings(title_weight=1.5)
    with pytest.raises(InvalidInputError, match=">= 1, got 0"):
        BM25Settings(title_weight=0)
    with pytest.raises(InvalidInputError, match="int >= 1, got True"):
        BM25Settings(title_weight=True)
    with pytest.raises(InvalidInputError, match="does not apply to variant 'bm25l'"):
        BM25Settings(variant="bm25l", title_weight=2)
    assert BM25Settings(variant="bm25l", title_weight=1).title_weight == 1
    with pytest.raises(IndexFormatError, match=r"m: .*title_weight must be >= 1"):
        BM25Settings.from_dict({**three.to_dict(), "title_weight": -1}, where="m")


def test_mismatched_titles_are_refused():
    with pytest.raises(InvalidInputError, match="2 texts but 3 titles"):
        weighted_passage_tokens(_split, TEXTS, [*TITLES, ""], 2)
    with pytest.raises(InvalidInputError, match="more texts than the 1 titles"):
        weighted_passage_tokens(_split, TEXTS, TITLES[:1], 2)


@pytest.mark.parametrize("title_weight", [2, 3, 5])
def test_segments_with_deletes_score_the_live_passages_by_the_formula(title_weight):
    # A living index's BM25 (segments, dead rows) over weighted terms is BM25F over the live
    # passages: idf from live document frequencies, one average over live weighted lengths.
    rng = np.random.default_rng(title_weight)
    texts, titles, bodies = _random_passages(20 + title_weight)
    weighted = weighted_passage_tokens(_split, texts, titles, title_weight)
    cuts = [0, 15, 40, len(weighted)]
    live = rng.random(len(weighted)) >= 0.3
    segments = [
        SparseSegment(Postings.from_tokens(weighted[start:end]), live[start:end])
        for start, end in pairwise(cuts)
    ]
    settings = BM25Settings(title_weight=title_weight)
    index = SegmentedBM25(segments, settings)
    rows = np.flatnonzero(live)
    lengths = [title_weight * len(titles[r].split()) + len(bodies[r].split()) for r in rows]
    average = sum(lengths) / len(rows)
    for term in ("w0", "w5", "w17"):
        holders = [r for r in rows if term in titles[r].split() or term in bodies[r].split()]
        idf = math.log(1 + (len(rows) - len(holders) + 0.5) / (len(holders) + 0.5))
        want = {
            int(r): bm25f_term_score(
                idf=idf,
                title_tf=titles[r].split().count(term),
                body_tf=bodies[r].split().count(term),
                title_length=len(titles[r].split()),
                body_length=len(bodies[r].split()),
                average_weighted_length=average,
                title_weight=title_weight,
                k1=settings.k1,
                b=settings.b,
            )
            for r in holders
        }
        got_rows, got_scores = index.search([term], k=len(weighted))
        assert sorted(got_rows.tolist()) == sorted(want)
        np.testing.assert_allclose(got_scores, [want[int(r)] for r in got_rows], rtol=1e-12, atol=0)
