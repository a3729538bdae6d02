"""Tests for hybridsearch.corpus.readers: JSONL, text-folder and BEIR corpus readers."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from hybridsearch.corpus.documents import Document, check_unique_ids
from hybridsearch.corpus.readers import (
    document_from_record,
    read_beir_corpus,
    read_corpus,
    read_jsonl,
    read_text_folder,
)
from hybridsearch.errors import CorpusFormatError, DuplicateDocumentError, IndexFormatError

BEIR_SCIFACT = Path(__file__).resolve().parents[3] / "shared" / "beir" / "scifact"


def write_lines(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


# --- read_jsonl ----------------------------------------------------------------------------


def test_read_jsonl_id_forms_title_metadata_and_blank_lines(tmp_path: Path) -> None:
    corpus = write_lines(
        tmp_path / "corpus.jsonl",
        [
            json.dumps({"_id": "a", "title": "Title A", "text": "alpha", "metadata": {"k": 1}}),
            "",
            "   ",
            json.dumps({"id": 42, "text": "beta"}),
            json.dumps({"id": "c", "text": "gamma", "title": None, "extra": "ignored"}),
        ],
    )
    documents = list(read_jsonl(corpus))
    assert documents == [
        Document(id="a", text="alpha", title="Title A", metadata={"k": 1}),
        Document(id="42", text="beta"),
        Document(id="c", text="gamma"),
    ]
    assert documents[0].metadata == {"k": 1}


@pytest.mark.parametrize(
    ("bad_line", "message"),
    [
        ("{not json", r"invalid JSON"),
        ("[1, 2]", r"found a JSON array; expected one JSON object"),
        (json.dumps({"text": "no id"}), r'missing id; expected an "id" or "_id" field'),
        (json.dumps({"_id": "x"}), r"has no \"text\""),
        (json.dumps({"_id": "x", "text": 3}), r'"text" is a JSON number; expected a string'),
        (json.dumps({"_id": "x", "text": "t", "metadata": [1]}), r'"metadata" is a JSON array'),
        (json.dumps({"_id": 1.5, "text": "t"}), r"expected a string or an integer"),
        (json.dumps({"_id": "", "text": "t"}), r"is empty"),
        (json.dumps({"_id": "x", "text": "t", "title": 7}), r'"title" is a JSON number'),
        (json.dumps({"_id": "x", "id": "y", "text": "t"}), r"disagree"),
    ],
)
def test_read_jsonl_malformed_line_names_file_and_line(
    tmp_path: Path, bad_line: str, message: str
) -> None:
    # The bad record is on line 4 (line 2 is blank and must still be counted).
    corpus = write_lines(
        tmp_path / "c.jsonl",
        [
            json.dumps({"_id": "1", "text": "one"}),
            "",
            json.dumps({"_id": "2", "text": "two"}),
            bad_line,
            json.dumps({"_id": "5", "text": "five"}),
        ],
    )
    with pytest.raises(CorpusFormatError, match=message) as excinfo:
        list(read_jsonl(corpus))
    assert str(excinfo.value).startswith(f"{corpus}:4: ")
    assert "expected" in str(excinfo.value)


def test_read_jsonl_invalid_utf8_names_line(tmp_path: Path) -> None:
    corpus = tmp_path / "c.jsonl"
    corpus.write_bytes(b'{"_id": "1", "text": "ok"}\n{"_id": "2", "text": "\xff"}\n')
    with pytest.raises(CorpusFormatError, match=r"c\.jsonl:2: not valid UTF-8"):
        list(read_jsonl(corpus))


def test_read_jsonl_duplicate_ids_name_both_lines(tmp_path: Path) -> None:
    corpus = write_lines(
        tmp_path / "c.jsonl",
        [
            json.dumps({"_id": "a", "text": "1"}),
            json.dumps({"_id": "b", "text": "2"}),
            json.dumps({"id": "a", "text": "3"}),
        ],
    )
    with pytest.raises(
        DuplicateDocumentError, match=r"c\.jsonl:3: document id 'a' already used on line 1"
    ):
        list(read_jsonl(corpus))


def test_read_jsonl_int_and_str_ids_collide(tmp_path: Path) -> None:
    # 7 and "7" become the same str id, so they are duplicates.
    corpus = write_lines(
        tmp_path / "c.jsonl",
        [json.dumps({"_id": 7, "text": "1"}), json.dumps({"_id": "7", "text": "2"})],
    )
    with pytest.raises(DuplicateDocumentError, match="'7'"):
        list(read_jsonl(corpus))


def test_read_jsonl_missing_path_fails_at_call(tmp_path: Path) -> None:
    # Raised when called, before any iteration.
    with pytest.raises(CorpusFormatError, match="corpus not found"):
        read_jsonl(tmp_path / "absent.jsonl")


# --- read_text_folder ----------------------------------------------------------------------


def make_text_folder(root: Path) -> Path:
    (root / "sub" / "deeper").mkdir(parents=True)
    (root / ".hidden").mkdir()
    (root / "b.txt").write_text("bee", encoding="utf-8")
    (root / "a.md").write_text("# A\nalpha", encoding="utf-8")
    (root / "sub" / "c.TXT").write_text("sea", encoding="utf-8")
    (root / "sub" / "deeper" / "d.md").write_text("dee", encoding="utf-8")
    (root / "sub" / "ignored.json").write_text("{}", encoding="utf-8")
    (root / "notes.rst").write_text("ignored", encoding="utf-8")
    (root / ".hidden" / "e.txt").write_text("hidden", encoding="utf-8")
    (root / ".dotfile.txt").write_text("hidden", encoding="utf-8")
    return root


def test_read_text_folder_recursive_sorted_relative_ids(tmp_path: Path) -> None:
    folder = make_text_folder(tmp_path / "docs")
    documents = list(read_text_folder(folder))
    assert [document.id for document in documents] == [
        "a.md",
        "b.txt",
        "sub/c.TXT",
        "sub/deeper/d.md",
    ]
    assert [document.title for document in documents] == ["a", "b", "c", "d"]
    assert documents[0].text == "# A\nalpha"
    assert documents[3].text == "dee"


def test_read_text_folder_invalid_utf8_names_file(tmp_path: Path) -> None:
    (tmp_path / "good.txt").write_text("fine", encoding="utf-8")
    (tmp_path / "bad.txt").write_bytes(b"caf\xe9")
    with pytest.raises(CorpusFormatError, match=r"bad\.txt: not valid UTF-8"):
        list(read_text_folder(tmp_path))


def test_read_text_folder_rejects_file_and_missing(tmp_path: Path) -> None:
    file_path = tmp_path / "x.txt"
    file_path.write_text("x", encoding="utf-8")
    with pytest.raises(CorpusFormatError, match="is not a folder"):
        read_text_folder(file_path)
    with pytest.raises(CorpusFormatError, match="corpus not found"):
        read_text_folder(tmp_path / "nope")


# --- read_beir_corpus and read_corpus ------------------------------------------------------


def make_beir_folder(root: Path) -> Path:
    root.mkdir()
    write_lines(
        root / "corpus.jsonl",
        [json.dumps({"_id": "d1", "title": "T", "text": "beir text", "metadata": {}})],
    )
    # A stray text file must not make the folder read as a text folder.
    (root / "README.md").write_text("not a document", encoding="utf-8")
    return root


def test_read_beir_corpus(tmp_path: Path) -> None:
    folder = make_beir_folder(tmp_path / "beir")
    assert list(read_beir_corpus(folder)) == [Document(id="d1", text="beir text", title="T")]
    with pytest.raises(CorpusFormatError, match=r"no corpus\.jsonl"):
        read_beir_corpus(tmp_path)


def test_read_corpus_dispatches_three_cases(tmp_path: Path) -> None:
    jsonl = write_lines(tmp_path / "one.jsonl", [json.dumps({"id": "j", "text": "jsonl"})])
    beir = make_beir_folder(tmp_path / "beir")
    texts = make_text_folder(tmp_path / "texts")

    assert [document.id for document in read_corpus(jsonl)] == ["j"]
    assert [document.id for document in read_corpus(beir)] == ["d1"]
    assert [document.id for document in read_corpus(str(texts))][:2] == ["a.md", "b.txt"]


def test_read_corpus_missing_and_unsupported(tmp_path: Path) -> None:
    missing = tmp_path / "missing"
    with pytest.raises(CorpusFormatError, match=re.escape(f"corpus not found: {missing}")):
        read_corpus(missing)
    other = tmp_path / "corpus.csv"
    other.write_text("id,text\n", encoding="utf-8")
    with pytest.raises(CorpusFormatError, match="unsupported corpus file"):
        read_corpus(other)


def test_read_corpus_empty_file_yields_nothing(tmp_path: Path) -> None:
    empty = tmp_path / "empty.jsonl"
    empty.write_text("", encoding="utf-8")
    assert list(read_corpus(empty)) == []


# --- document_from_record (the index reads its own documents file with it) ---------------


def test_document_from_record_raises_the_given_error() -> None:
    record = {"id": "a", "text": "body", "title": "T", "metadata": {"k": 1}}
    assert document_from_record(record, "f:1") == Document(
        id="a", text="body", title="T", metadata={"k": 1}
    )
    with pytest.raises(IndexFormatError, match=r'^docs\.jsonl:7: document \'a\' has no "text"'):
        document_from_record({"id": "a"}, "docs.jsonl:7", error=IndexFormatError)
    with pytest.raises(IndexFormatError, match=r"^docs\.jsonl:2: missing id"):
        document_from_record({"text": "x"}, "docs.jsonl:2", error=IndexFormatError)


# --- real data (skipped where ../shared/beir is absent) ------------------------------------


@pytest.mark.skipif(not BEIR_SCIFACT.is_dir(), reason="BEIR scifact not available")
def test_read_real_scifact_corpus() -> None:
    documents = check_unique_ids(read_corpus(BEIR_SCIFACT))
    assert len(documents) == 5183
    assert all(document.text for document in documents)


# --- issue 14: lone surrogates, symlinks out of a text folder, a BEIR folder without corpus ---


def test_read_jsonl_lone_surrogate_names_file_line_and_id(tmp_path: Path) -> None:
    corpus = write_lines(
        tmp_path / "corpus.jsonl",
        [
            json.dumps({"id": "fine", "text": "ok"}),
            '{"id": "bad-1", "text": "broken \\ud800 text"}',  # valid JSON, not valid Unicode
        ],
    )
    with pytest.raises(CorpusFormatError) as caught:
        list(read_jsonl(corpus))
    message = str(caught.value)
    assert message.startswith(f"{corpus}:2: ") and "'bad-1'" in message, message
    assert "text holds a lone surrogate (U+D800)" in message, message


def test_read_text_folder_undecodable_file_name_names_the_file(tmp_path: Path) -> None:
    import os

    folder = tmp_path / "texts"
    folder.mkdir()
    (folder / "good.txt").write_text("fine", encoding="utf-8")
    try:
        (Path(os.fsdecode(bytes(folder) + b"/bad-\xff.txt"))).write_text("x", encoding="utf-8")
    except (OSError, UnicodeEncodeError):
        pytest.skip("this filesystem refuses a file name that is not UTF-8")
    with pytest.raises(CorpusFormatError, match=r"bad-\\udcff\.txt.*lone surrogate"):
        list(read_text_folder(folder))


def test_read_text_folder_skips_symlinks_that_leave_the_folder(tmp_path: Path) -> None:
    outside = tmp_path / "secret.txt"
    outside.write_text("outside the folder", encoding="utf-8")
    folder = tmp_path / "texts"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.txt").write_text("inside", encoding="utf-8")
    (folder / "leak.txt").symlink_to(outside)
    (folder / "sub" / "leak2.md").symlink_to("../../secret.txt")
    (folder / "sub" / "alias.txt").symlink_to("../a.txt")  # stays inside: read
    (folder / "dangling.txt").symlink_to(tmp_path / "nowhere.txt")
    documents = list(read_text_folder(folder))
    assert [d.id for d in documents] == ["a.txt", "sub/alias.txt"]
    assert all(d.text == "inside" for d in documents)
    followed = list(read_text_folder(folder, follow_symlinks=True))
    assert [d.id for d in followed] == ["a.txt", "leak.txt", "sub/alias.txt", "sub/leak2.md"]
    assert followed[1].text == "outside the folder"


def test_read_corpus_beir_folder_without_corpus_says_so(tmp_path: Path) -> None:
    folder = make_beir_folder(tmp_path / "beir")
    (folder / "corpus.jsonl").unlink()
    write_lines(folder / "queries.jsonl", [json.dumps({"_id": "q1", "text": "a query"})])
    (folder / "qrels").mkdir()
    with pytest.raises(CorpusFormatError, match=r"no corpus\.jsonl.*queries\.jsonl and qrels"):
        read_corpus(folder)
    (folder / "queries.jsonl").unlink()
    with pytest.raises(CorpusFormatError, match=r"no corpus\.jsonl.*qrels"):
        read_corpus(folder)
