"""Chunker invariants: no passage over the limit, spans map back, overlap, titles, reports."""

from __future__ import annotations

import itertools
import random
from types import SimpleNamespace

import pytest

from hybridsearch.corpus.chunking import Chunker, ChunkingReport, ChunkingSettings
from hybridsearch.corpus.documents import TITLE_SEPARATOR, Document
from hybridsearch.errors import IndexFormatError, InvalidInputError

MAX_LENGTH = 256


def _words(count: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    vocabulary = [
        "protein",
        "cells",
        "expression",
        "increased",
        "patients",
        "receptor",
        "signalling",
        "mitochondrial",
        "inflammation",
        "cohort",
        "randomised",
        "trial",
        "outcome",
        "significantly",
        "hypothesis",
        "β-catenin",
        "naïve",
        "über",
        "電子",
        "42",
        "IL-6",
    ]
    return [rng.choice(vocabulary) for _ in range(count)]


def _sentences(word_count: int, seed: int = 0) -> str:
    """Text of sentences 5-30 words long, capitalised, ending in full stops."""
    rng = random.Random(seed)
    words = _words(word_count, seed)
    sentences = []
    position = 0
    while position < len(words):
        length = rng.randint(5, 30)
        sentence = words[position : position + length]
        sentences.append(sentence[0].capitalize() + " " + " ".join(sentence[1:]) + ".")
        position += length
    return " ".join(sentences)


def _check_invariants(chunker: Chunker, document: Document, passages) -> None:
    for passage in passages:
        assert chunker.count_tokens(passage.indexed_text) <= chunker.passage_tokens
        body = document.text[passage.start : passage.end]
        prefix = passage.title + TITLE_SEPARATOR if passage.title else ""
        assert passage.indexed_text == prefix + body
        assert passage.doc_id == document.id
    # Every non-space character of the document is in some passage.
    covered = [False] * len(document.text)
    for passage in passages:
        for position in range(passage.start, passage.end):
            covered[position] = True
    missed = [
        c for c, hit in zip(document.text, covered, strict=True) if not hit and not c.isspace()
    ]
    assert missed == []
    # Passages come in document order.
    starts = [passage.start for passage in passages]
    assert starts == sorted(starts)


@pytest.fixture(scope="module")
def chunker(tokenizer) -> Chunker:
    return Chunker(tokenizer, max_seq_length=MAX_LENGTH)


def test_short_document_stays_whole(chunker):
    document = Document(id="d1", title="A title", text="One short sentence. And another.")
    passages, report = chunker.chunk([document])
    assert len(passages) == 1
    assert passages[0].start == 0 and passages[0].end == len(document.text)
    assert passages[0].indexed_text == "A title" + TITLE_SEPARATOR + document.text
    assert report.documents == 1 and report.documents_split == 0
    assert report.tokens_over_limit == 0


def test_ten_thousand_word_document(chunker):
    text = _sentences(10_000, seed=1)
    document = Document(id="long", title="Long document", text=text)
    passages, report = chunker.chunk([document], first_passage_id=7)
    _check_invariants(chunker, document, passages)
    assert [p.passage_id for p in passages] == list(range(7, 7 + len(passages)))
    assert report.documents_split == 1
    whole = chunker.count_tokens("Long document" + TITLE_SEPARATOR + text)
    assert report.tokens_over_limit == whole - MAX_LENGTH
    # Passages are reasonably full: not a passage per sentence.
    assert len(passages) < whole / (MAX_LENGTH / 2)


def test_cuts_at_sentence_boundaries(chunker):
    text = _sentences(2_000, seed=2)
    document = Document(id="d", text=text)
    passages, _ = chunker.chunk([document])
    assert len(passages) > 2
    for passage in passages:
        assert (
            passage.indexed_text[0].isupper()
            or passage.indexed_text[0].isdigit()
            or not passage.indexed_text[0].isascii()
        )
        assert passage.indexed_text.endswith(".")


def test_sentence_longer_than_limit_is_split_at_tokens(tokenizer):
    chunker = Chunker(tokenizer, max_seq_length=MAX_LENGTH, settings=ChunkingSettings(overlap=16))
    text = " ".join(_words(3_000, seed=3))  # one huge sentence, no full stop
    document = Document(id="run-on", text=text)
    passages, _report = chunker.chunk([document])
    _check_invariants(chunker, document, passages)
    assert len(passages) > 5
    # Token windows overlap by (about) the configured number of tokens.
    for before, after in itertools.pairwise(passages):
        assert after.start < before.end


def test_overlap_respected(tokenizer):
    overlap = 40
    chunker = Chunker(
        tokenizer, max_seq_length=MAX_LENGTH, settings=ChunkingSettings(overlap=overlap)
    )
    document = Document(id="d", text=_sentences(3_000, seed=4))
    passages, _ = chunker.chunk([document])
    _check_invariants(chunker, document, passages)
    shared_any = False
    for before, after in itertools.pairwise(passages):
        if after.start < before.end:
            shared_any = True
            shared = document.text[after.start : before.end]
            assert len(tokenizer(shared, add_special_tokens=False)["input_ids"]) <= overlap
    assert shared_any, "some consecutive passages should share a sentence"

    no_overlap = Chunker(tokenizer, max_seq_length=MAX_LENGTH, settings=ChunkingSettings(overlap=0))
    passages, _ = no_overlap.chunk([document])
    for before, after in itertools.pairwise(passages):
        assert after.start >= before.end


def test_prompt_and_passage_tokens_count_against_limit(tokenizer):
    chunker = Chunker(
        tokenizer,
        max_seq_length=MAX_LENGTH,
        prompt="passage: ",
        settings=ChunkingSettings(passage_tokens=128, overlap=0),
    )
    document = Document(id="d", title="Title words here", text=_sentences(1_500, seed=5))
    passages, _ = chunker.chunk([document])
    for passage in passages:
        assert len(tokenizer("passage: " + passage.indexed_text)["input_ids"]) <= 128
    _check_invariants(chunker, document, passages)


def test_title_too_long_is_not_carried(tokenizer):
    chunker = Chunker(tokenizer, max_seq_length=64, settings=ChunkingSettings(overlap=0))
    document = Document(id="d", title=" ".join(_words(60)), text=_sentences(300, seed=6))
    passages, report = chunker.chunk([document])
    assert report.titles_not_carried == 1
    assert all(passage.title == "" for passage in passages)
    _check_invariants(chunker, document, passages)


def test_empty_and_non_english_documents(chunker):
    documents = [
        Document(id="empty", text=""),
        Document(id="cjk", text="電子計算機は計算を行う。" * 200),
        Document(id="emoji", text="🙂 " * 600),
    ]
    passages, report = chunker.chunk(documents)
    assert report.documents == 3
    by_doc = {}
    for passage in passages:
        by_doc.setdefault(passage.doc_id, []).append(passage)
    assert len(by_doc["empty"]) == 1 and by_doc["empty"][0].indexed_text == ""
    for document in documents[1:]:
        _check_invariants(chunker, document, by_doc[document.id])


def test_report_counts_over_many_documents(chunker):
    documents = [Document(id=f"d{i}", text=_sentences(40 + 120 * i, seed=i)) for i in range(6)]
    passages, report = chunker.chunk(documents)
    assert report.documents == 6
    assert report.passages == len(passages)
    split = sum(1 for d in documents if chunker.count_tokens(d.text) > MAX_LENGTH)
    assert report.documents_split == split


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (ChunkingSettings(passage_tokens=1000), r"passage_tokens=1000 exceeds the model's max"),
        (
            ChunkingSettings(passage_tokens=4, overlap=0),
            r"passage_tokens=4 leaves fewer than 8 tokens",
        ),
        # Half of passage_tokens is only known once the model gives max_seq_length.
        (ChunkingSettings(overlap=200), r"overlap must be at most half of passage_tokens \(128\)"),
        ({"overlap": 200}, r"overlap must be at most half"),
        ({"overlap": 0, "typo": 1}, r"chunking: unknown ChunkingSettings field 'typo'"),
    ],
)
def test_settings_that_do_not_fit_the_model_are_refused(tokenizer, settings, message):
    with pytest.raises(InvalidInputError, match=message):
        Chunker(tokenizer, max_seq_length=MAX_LENGTH, settings=settings)


# --- ChunkingSettings and ChunkingReport ---------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"passage_tokens": 0}, r"^passage_tokens must be a positive integer, got 0$"),
        ({"passage_tokens": 1.5}, r"^passage_tokens must be a positive integer, got 1\.5$"),
        ({"passage_tokens": True}, r"^passage_tokens must be a positive integer"),
        ({"overlap": -1}, r"^overlap must be a non-negative integer, got -1$"),
        ({"overlap": "8"}, r"^overlap must be a non-negative integer, got '8'$"),
        ({"passage_tokens": 64, "overlap": 33}, r"^overlap must be at most half of passage_tokens"),
        ({"carry_title": "yes"}, r"^carry_title must be True or False, got 'yes'$"),
    ],
)
def test_chunking_settings_validated_when_made(fields, message):
    with pytest.raises(InvalidInputError, match=message):
        ChunkingSettings(**fields)


def test_chunking_settings_defaults_and_round_trip():
    import numpy as np

    settings = ChunkingSettings()
    assert settings.to_dict() == {"passage_tokens": None, "overlap": 32, "carry_title": True}
    custom = ChunkingSettings(passage_tokens=np.int64(128), overlap=0, carry_title=False)
    # numpy integers are stored as int, so the manifest can be written with json.
    assert type(custom.passage_tokens) is int
    assert ChunkingSettings.from_dict(custom.to_dict()) == custom
    with pytest.raises(AttributeError):
        settings.overlap = 0  # type: ignore[misc]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            {"passage_tokens": None, "overlap": 32, "carry_title": True, "stride": 4},
            r"manifest\.json chunking: unknown ChunkingSettings key 'stride'",
        ),
        (
            {"passage_tokens": None, "overlap": 32},
            r"manifest\.json chunking: ChunkingSettings key 'carry_title' is missing",
        ),
        (
            {"passage_tokens": None, "overlap": -3, "carry_title": True},
            r"manifest\.json chunking: overlap must be a non-negative integer, got -3",
        ),
        ([1, 2], r"manifest\.json chunking: expected an object of ChunkingSettings fields"),
    ],
)
def test_chunking_settings_from_dict_is_strict(data, message):
    with pytest.raises(IndexFormatError, match=message):
        ChunkingSettings.from_dict(data, where="manifest.json chunking")


def test_chunking_report_is_frozen_strict_and_adds_up(chunker):
    documents = [Document(id=f"d{i}", text=_sentences(40 + 200 * i, seed=i)) for i in range(4)]
    _, whole = chunker.chunk(documents)
    _, first = chunker.chunk(documents[:2])
    _, rest = chunker.chunk(documents[2:], first_passage_id=first.passages)
    assert first + rest == whole
    assert ChunkingReport.from_dict(whole.to_dict()) == whole
    with pytest.raises(AttributeError):
        whole.documents = 0  # type: ignore[misc]
    with pytest.raises(IndexFormatError, match=r"unknown ChunkingReport key 'split'"):
        ChunkingReport.from_dict({**whole.to_dict(), "split": 1})
    with pytest.raises(IndexFormatError, match=r"ChunkingReport key 'passages' is missing"):
        ChunkingReport.from_dict({k: v for k, v in whole.to_dict().items() if k != "passages"})
    with pytest.raises(InvalidInputError, match=r"^documents must be a non-negative integer"):
        ChunkingReport(documents=-1)


def test_chunk_document_reports_one_document(chunker):
    document = Document(id="d", title="T", text=_sentences(1_000, seed=9))
    passages, report = chunker.chunk_document(document, first_passage_id=3)
    assert passages[0].passage_id == 3
    assert report == ChunkingReport(
        documents=1,
        passages=len(passages),
        documents_split=1,
        tokens_over_limit=report.tokens_over_limit,
        titles_not_carried=0,
    )
    assert report.tokens_over_limit > 0


def test_for_encoder_takes_settings(tokenizer):
    # The parts of an Encoder that for_encoder reads (loading the model is not needed).
    encoder = SimpleNamespace(tokenizer=tokenizer, max_seq_length=200, passage_prompt="passage: ")
    chunker = Chunker.for_encoder(encoder, ChunkingSettings(passage_tokens=64, overlap=8))
    assert (chunker.passage_tokens, chunker.settings.overlap) == (64, 8)
    assert (chunker.max_seq_length, chunker.prompt) == (200, "passage: ")
    assert Chunker.for_encoder(encoder).passage_tokens == 200
    assert Chunker.for_encoder(encoder, {"overlap": 0}).settings == ChunkingSettings(overlap=0)
