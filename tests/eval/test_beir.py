"""Tests for hybridsearch.eval.beir: loading a BEIR split, strictly."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hybridsearch.errors import CorpusFormatError, InvalidInputError
from hybridsearch.eval.beir import load_beir
from hybridsearch.eval.metrics import evaluate

BEIR_ROOT = Path(__file__).resolve().parents[3] / "shared" / "beir"


# --- load_beir -----------------------------------------------------------------------------


def make_beir(root: Path, qrels_text: str, split: str = "test") -> Path:
    (root / "qrels").mkdir(parents=True)
    (root / "corpus.jsonl").write_text(json.dumps({"_id": "d1", "text": "x"}) + "\n")
    queries = [
        {"_id": "q9", "text": "a train query"},
        {"_id": "q2", "text": "second"},
        {"_id": "q1", "text": "first", "metadata": {}},
        {"_id": 3, "text": "third"},
    ]
    (root / "queries.jsonl").write_text("".join(json.dumps(query) + "\n" for query in queries))
    (root / "qrels" / f"{split}.tsv").write_bytes(qrels_text.encode("utf-8"))
    (root / "qrels" / "train.tsv").write_bytes(b"query-id\tcorpus-id\tscore\r\nq9\td1\t1\r\n")
    return root


def test_load_beir_crlf_qrels(tmp_path: Path) -> None:
    qrels_text = "query-id\tcorpus-id\tscore\r\nq2\td1\t1\r\nq1\td5\t2\r\nq2\td7\t0\r\n3\td1\t1\r\n"
    dataset = load_beir(make_beir(tmp_path / "ds", qrels_text))
    assert dataset.corpus_path == tmp_path / "ds" / "corpus.jsonl"
    # only judged queries, in qrels order of first appearance; no "\r" left in ids or grades
    assert dataset.queries == {"q2": "second", "q1": "first", "3": "third"}
    assert list(dataset.queries) == ["q2", "q1", "3"]
    assert dataset.qrels == {"q2": {"d1": 1, "d7": 0}, "q1": {"d5": 2}, "3": {"d1": 1}}


def test_load_beir_malformed_qrels_line(tmp_path: Path) -> None:
    qrels_text = "query-id\tcorpus-id\tscore\r\nq1\td1\t1\r\nq2\td1\r\n"
    root = make_beir(tmp_path / "ds", qrels_text)
    with pytest.raises(CorpusFormatError, match=r"test\.tsv:3: found 2 tab-separated fields"):
        load_beir(root)


def test_load_beir_non_integer_score(tmp_path: Path) -> None:
    root = make_beir(tmp_path / "ds", "query-id\tcorpus-id\tscore\nq1\td1\thigh\n")
    with pytest.raises(CorpusFormatError, match=r"test\.tsv:2: score 'high' is not an integer"):
        load_beir(root)


def test_load_beir_query_missing_from_queries(tmp_path: Path) -> None:
    root = make_beir(tmp_path / "ds", "query-id\tcorpus-id\tscore\r\nq1\td1\t1\r\nq404\td1\t1\r\n")
    with pytest.raises(CorpusFormatError, match=r"test\.tsv:3: query id 'q404' is not in"):
        load_beir(root)


def test_load_beir_unknown_split_lists_present(tmp_path: Path) -> None:
    root = make_beir(tmp_path / "ds", "query-id\tcorpus-id\tscore\nq1\td1\t1\n", split="dev")
    with pytest.raises(
        InvalidInputError, match=r"split 'test' not found.*available splits: dev, train"
    ):
        load_beir(root)


def test_load_beir_missing_files(tmp_path: Path) -> None:
    with pytest.raises(CorpusFormatError, match="BEIR dataset not found"):
        load_beir(tmp_path / "absent")
    root = make_beir(tmp_path / "ds", "query-id\tcorpus-id\tscore\nq1\td1\t1\n")
    (root / "corpus.jsonl").unlink()
    with pytest.raises(CorpusFormatError, match=r"corpus\.jsonl: missing"):
        load_beir(root)


def test_load_beir_malformed_queries_line(tmp_path: Path) -> None:
    root = make_beir(tmp_path / "ds", "query-id\tcorpus-id\tscore\nq1\td1\t1\n")
    with (root / "queries.jsonl").open("a") as queries_file:
        queries_file.write('{"_id": "q5"}\n')
    with pytest.raises(CorpusFormatError, match=r"queries\.jsonl:5: query 'q5' has no text"):
        load_beir(root)


@pytest.mark.parametrize(
    ("bad_line", "message"),
    [
        ("{not json", r"queries\.jsonl:5: invalid JSON \(.* at column 2\); expected one JSON"),
        ("[1]", r"queries\.jsonl:5: found a JSON array; expected one JSON object"),
        ('{"text": "no id"}', r"queries\.jsonl:5: missing id"),
        ('{"_id": 1.5, "text": "t"}', r'queries\.jsonl:5: "_id" is a JSON number'),
        ('{"_id": "q5", "text": 3}', r"queries\.jsonl:5: query 'q5' has no text string"),
    ],
)
def test_load_beir_queries_errors_name_file_and_line(
    tmp_path: Path, bad_line: str, message: str
) -> None:
    root = make_beir(tmp_path / "ds", "query-id\tcorpus-id\tscore\nq1\td1\t1\n")
    with (root / "queries.jsonl").open("a") as queries_file:
        queries_file.write(bad_line + "\n")
    with pytest.raises(CorpusFormatError, match=message):
        load_beir(root)


def test_load_beir_queries_blank_lines_and_bom(tmp_path: Path) -> None:
    root = make_beir(tmp_path / "ds", "query-id\tcorpus-id\tscore\nq1\td1\t1\n")
    queries_path = root / "queries.jsonl"
    queries_path.write_bytes(
        b"\xef\xbb\xbf" + b'{"_id": "q1", "text": "first"}\n\n  \n{"_id": "q2", "text": "x"}\n'
    )
    assert load_beir(root).queries == {"q1": "first"}


# --- real data (skipped where ../shared/beir is absent) ------------------------------------


@pytest.mark.parametrize(
    ("name", "query_count", "judgement_count"),
    [("scifact", 300, 339), ("nfcorpus", 323, 12334)],
)
def test_load_real_beir(name: str, query_count: int, judgement_count: int) -> None:
    dataset_dir = BEIR_ROOT / name
    if not dataset_dir.is_dir():
        pytest.skip(f"BEIR {name} not available")
    dataset = load_beir(dataset_dir)
    assert len(dataset.queries) == query_count
    assert sum(len(judgements) for judgements in dataset.qrels.values()) == judgement_count
    assert list(dataset.queries) == list(dataset.qrels)
    # A run that returns exactly the judged documents, best grade first, is perfect on MRR.
    perfect_run = {
        query_id: {doc_id: float(grade) for doc_id, grade in judgements.items()}
        for query_id, judgements in dataset.qrels.items()
    }
    assert evaluate(perfect_run, dataset.qrels)["mrr@10"] == pytest.approx(1.0)
