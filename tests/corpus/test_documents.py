"""Tests for hybridsearch.corpus.documents: Document and Passage validation, typed metadata,
unique ids."""

from __future__ import annotations

import datetime
import json

import numpy as np
import pytest

from hybridsearch.corpus.documents import (
    FIELD_TYPES,
    TITLE_SEPARATOR,
    Document,
    Passage,
    check_metadata_value,
    check_unique_ids,
    metadata_type,
)
from hybridsearch.errors import DuplicateDocumentError, InvalidInputError

# --- Document and Passage -------------------------------------------------------------------


def test_document_defaults_and_hashable() -> None:
    document = Document(id="d1", text="body")
    assert document.title == ""
    assert dict(document.metadata) == {}
    # metadata is excluded from the hash, so a document with a dict is still hashable
    assert hash(Document(id="d1", text="body", metadata={"a": 1})) == hash(document)


@pytest.mark.parametrize("bad_id", ["", 3, None])
def test_document_rejects_bad_id(bad_id: object) -> None:
    with pytest.raises(InvalidInputError, match="id must be a non-empty str"):
        Document(id=bad_id, text="x")  # type: ignore[arg-type]


def test_document_non_str_text_names_id_and_type() -> None:
    with pytest.raises(InvalidInputError, match=r"Document 'doc-7': text must be a str, got list"):
        Document(id="doc-7", text=["a", "b"])  # type: ignore[arg-type]


def test_document_non_str_title() -> None:
    with pytest.raises(InvalidInputError, match="title must be a str, got int"):
        Document(id="d", text="x", title=5)  # type: ignore[arg-type]


def test_passage_span_and_validation() -> None:
    document = Document(id="d", text="Hello world. Second sentence.")
    passage = Passage(
        passage_id=0, doc_id="d", indexed_text="T\nHello world.", start=0, end=12, title="T"
    )
    assert document.text[passage.start : passage.end] == "Hello world."
    with pytest.raises(InvalidInputError, match="0 <= start <= end"):
        Passage(passage_id=1, doc_id="d", indexed_text="x", start=5, end=2)
    with pytest.raises(InvalidInputError, match="passage_id"):
        Passage(passage_id=-1, doc_id="d", indexed_text="x", start=0, end=1)
    with pytest.raises(InvalidInputError, match="passage_id"):
        Passage(passage_id=True, doc_id="d", indexed_text="x", start=0, end=1)


# --- check_unique_ids ----------------------------------------------------------------------


def test_check_unique_ids() -> None:
    documents = [Document(id="a", text="1"), Document(id="b", text="2")]
    assert check_unique_ids(iter(documents)) == documents
    with pytest.raises(DuplicateDocumentError, match=r"'a' at positions 0 and 2"):
        check_unique_ids([*documents, Document(id="a", text="3")])
    with pytest.raises(InvalidInputError, match=r"documents\[1\] is a dict"):
        check_unique_ids([documents[0], {"id": "x", "text": "y"}])  # type: ignore[list-item]


def test_passage_indexed_text_must_be_str() -> None:
    with pytest.raises(InvalidInputError, match=r"Passage 3: indexed_text must be a str, got int"):
        Passage(passage_id=3, doc_id="d", indexed_text=5, start=0, end=1)  # type: ignore[arg-type]


def test_passage_from_span_carries_title_or_not() -> None:
    document = Document(id="d", title="Title", text="First part. Second part.")
    carried = Passage.from_span(document, 4, 12, 24, carry_title=True)
    assert carried == Passage(
        passage_id=4,
        doc_id="d",
        indexed_text="Title" + TITLE_SEPARATOR + "Second part.",
        start=12,
        end=24,
        title="Title",
    )
    bare = Passage.from_span(document, 0, 0, 11, carry_title=False)
    assert (bare.indexed_text, bare.title) == ("First part.", "")
    # No title to carry: the body alone, whatever carry_title says.
    untitled = Document(id="u", text="Body.")
    assert Passage.from_span(untitled, 0, 0, 5, carry_title=True).indexed_text == "Body."


# --- typed metadata ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (datetime.date(2024, 1, 2), r"is a date \(datetime.date\(2024, 1, 2\)\)"),
        ({"a", "b"}, "is a set"),
        ({"nested": 1}, "is a dict"),
        (float("nan"), "is nan; expected a finite number"),
        (np.float32("inf"), "is inf; expected a finite number"),
        ([1, 2], "is a list whose item 0 is a int"),
        (["ok", None], "is a list whose item 1 is a NoneType"),
        (2**53 + 1, "is the integer 9007199254740993, beyond"),
        (b"bytes", "is a bytes"),
    ],
)
def test_document_refuses_untyped_metadata_naming_id_and_key(value: object, message: str) -> None:
    with pytest.raises(InvalidInputError, match=r"Document 'doc-1': metadata 'key' " + message):
        Document(id="doc-1", text="x", metadata={"fine": "yes", "key": value})


@pytest.mark.parametrize("key", ["", 3, None])
def test_document_refuses_metadata_keys_that_are_not_non_empty_str(key: object) -> None:
    with pytest.raises(InvalidInputError, match=r"Document 'd': metadata key .* non-empty str"):
        Document(id="d", text="x", metadata={key: "v"})


def test_document_metadata_must_be_a_mapping() -> None:
    with pytest.raises(
        InvalidInputError, match="Document 'd': metadata must be a mapping, got list"
    ):
        Document(id="d", text="x", metadata=[("a", 1)])  # type: ignore[arg-type]


def test_document_metadata_typed_values_kept_and_converted() -> None:
    given = {
        "lang": "en",
        "year": 2020,
        "score": 0.5,
        "open": True,
        "tags": ("a", "b"),
        "doi": None,
        "count": np.int64(7),
        "ratio": np.float32(0.25),
        "flag": np.bool_(False),
        "name": np.str_("x"),
        "edge": -(2**53),
    }
    metadata = Document(id="d", text="x", metadata=given).metadata
    assert metadata == {
        "lang": "en",
        "year": 2020,
        "score": 0.5,
        "open": True,
        "tags": ["a", "b"],
        "doi": None,
        "count": 7,
        "ratio": 0.25,
        "flag": False,
        "name": "x",
        "edge": -(2**53),
    }
    assert [type(metadata[k]) for k in ("count", "ratio", "flag", "name", "tags")] == [
        int,
        float,
        bool,
        str,
        list,
    ]
    # A checked copy: changing the caller's mapping afterwards cannot smuggle in a bad value.
    given["lang"] = datetime.date.today()
    assert metadata["lang"] == "en"
    assert json.loads(json.dumps(dict(metadata))) == metadata


def test_metadata_type_names_each_value() -> None:
    assert [metadata_type(v) for v in (None, "s", 1, 1.5, True, [])] == [
        None,
        "string",
        "number",
        "number",
        "bool",
        "string_list",
    ]
    assert set(FIELD_TYPES) == {"string", "number", "bool", "string_list"}
    with pytest.raises(InvalidInputError, match="is a complex"):
        check_metadata_value(1j)


# -- issue 14 items 2 and 3: what JSON and UTF-8 cannot hold is refused when made ------------


@pytest.mark.parametrize("field", ["id", "text", "title"])
def test_document_refuses_a_lone_surrogate_naming_the_field(field: str) -> None:
    fields = {"id": "doc-1", "text": "some text", "title": "a title"}
    position = len(fields[field])
    fields[field] += "\udcff"  # what an undecodable byte becomes (surrogateescape)
    with pytest.raises(InvalidInputError) as caught:
        Document(**fields)
    message = str(caught.value)
    assert f"{field} holds a lone surrogate (U+DCFF) at character {position}" in message, message
    message.encode("utf-8")  # the message itself can be printed and logged


@pytest.mark.parametrize(
    ("metadata", "message"),
    [
        ({"key": "caf\ud800"}, r"metadata 'key' holds a lone surrogate \(U\+D800\)"),
        ({"key": ["ok", "\udc80"]}, r"metadata 'key' item 1 holds a lone surrogate"),
        ({"k\udcffey": "v"}, r"metadata key 'k\\udcffey' holds a lone surrogate"),
    ],
)
def test_document_refuses_metadata_json_cannot_store_naming_id_and_key(
    metadata: dict, message: str
) -> None:
    with pytest.raises(InvalidInputError, match=r"Document 'doc-1': " + message):
        Document(id="doc-1", text="x", metadata=metadata)


def test_document_metadata_str_subclasses_keep_their_value() -> None:
    import enum

    class Colour(str, enum.Enum):  # noqa: UP042 - a str mixin, as older code writes it
        RED = "red"

    document = Document(id="d", text="x", metadata={"c": Colour.RED, "l": [Colour.RED]})
    assert document.metadata == {"c": "red", "l": ["red"]}
    assert type(document.metadata["c"]) is str and type(document.metadata["l"][0]) is str
    json.dumps(dict(document.metadata), ensure_ascii=False).encode("utf-8")
