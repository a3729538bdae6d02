"""``hybridsearch evaluate``: metrics per mode checked against ranks read by hand."""

from __future__ import annotations

import json
import math

import pytest

from hybridsearch.cli.evaluate import metrics_table
from tests.cli.support import QUERIES, assert_one_line_error, run_cli, run_here


def test_metrics_table():
    results = {
        "bm25": {"ndcg@10": 0.5, "recall@100": 1.0},
        "hybrid": {"ndcg@10": 0.123456, "recall@100": 0.75},
    }
    assert metrics_table(results).splitlines() == [
        "mode         ndcg@10  recall@100",
        "bm25          0.5000      1.0000",
        "hybrid        0.1235      0.7500",
    ]


def test_evaluate_matches_ranks_by_hand(built_index, beir_folder, capsys, encoder):
    from hybridsearch import HybridIndex

    index, _ = built_index
    result = run_here(
        capsys, "evaluate", "--index", str(index), "--beir", str(beir_folder), "--json"
    )
    assert result.returncode == 0, result.stderr
    payload = json.loads(result.stdout)
    assert payload["queries"] == 3 and payload["split"] == "test"
    metrics = payload["metrics"]
    assert set(metrics) == {"bm25", "dense", "hybrid"}
    loaded = HybridIndex.load(index, model=encoder)
    for mode, values in metrics.items():
        # One relevant document per query: nDCG@10 = 1/log2(rank + 1), MRR@10 = 1/rank,
        # with the rank read from a plain search.
        ndcg, mrr, found = [], [], []
        for query, relevant in QUERIES.values():
            ranked = [hit.doc_id for hit in loaded.search(query, 10, mode=mode)]
            rank = ranked.index(relevant) + 1 if relevant in ranked else None
            ndcg.append(1 / math.log2(rank + 1) if rank else 0.0)
            mrr.append(1 / rank if rank else 0.0)
            found.append(1.0 if rank else 0.0)
        assert values["ndcg@10"] == pytest.approx(sum(ndcg) / 3)
        assert values["mrr@10"] == pytest.approx(sum(mrr) / 3)
        assert values["recall@100"] == pytest.approx(sum(found) / 3)
    text = run_here(
        capsys,
        "evaluate",
        "--index",
        str(index),
        "--beir",
        str(beir_folder),
        "--modes",
        "hybrid",
    )
    assert text.returncode == 0, text.stderr
    assert text.stdout.splitlines()[0] == f"3 queries (test split of {beir_folder})"
    assert "ndcg@10" in text.stdout and "hybrid" in text.stdout


def test_not_a_beir_folder(built_index, tmp_path):
    index, _ = built_index
    result = run_cli("evaluate", "--index", str(index), "--beir", str(tmp_path), cwd=tmp_path)
    assert_one_line_error(result, "corpus.jsonl")
