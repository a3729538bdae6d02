"""``hybridsearch compact``: one segment afterwards, and the same search results."""

from __future__ import annotations

import re
from pathlib import Path

from hybridsearch import HybridIndex
from hybridsearch.cli.main import main
from tests.cli.support import hit_ids, search_json, write_jsonl

QUERIES = ("ocean", "birds that hunt", "honey and insects", "mammals")


def _results(index: Path) -> list[list[tuple[str, float]]]:
    """Every query's passages in each mode and fusion, as a reader of the commit sees them."""
    loaded = HybridIndex.load(index)
    results = []
    for query in QUERIES:
        for options in ({"mode": "bm25"}, {"mode": "dense"}, {}, {"fusion": "convex"}):
            hits = loaded.search(query, 20, unit="passages", **options)
            results.append([(hit.doc_id, hit.score) for hit in hits])
    return results


def test_compact_leaves_one_segment_and_the_same_results(animals_copy, tmp_path, capsys):
    for number, (doc_id, text) in enumerate(
        [("whale", "Whales sing across the ocean."), ("wasp", "Wasps are insects that sting.")]
    ):
        corpus = write_jsonl(tmp_path / f"c{number}.jsonl", [(doc_id, text, {})])
        assert main(["add", "--index", str(animals_copy), str(corpus), "--no-progress"]) == 0
    assert main(["delete", "--index", str(animals_copy), "owl", "whale"]) == 0
    segments = HybridIndex.load(animals_copy).num_segments
    assert segments > 1
    before = _results(animals_copy)
    first = hit_ids(search_json(capsys, animals_copy, "insects", "-k", "3"))

    capsys.readouterr()
    assert main(["compact", "--index", str(animals_copy)]) == 0
    line = capsys.readouterr().err.strip().splitlines()[-1]
    assert re.match(
        rf"^compacted {segments} -> 1 segments: 6 documents, \d+ passages in 1 segment; "
        r"commit \d+ \(\d+\.\d s\)$",
        line,
    ), line
    loaded = HybridIndex.load(animals_copy)
    assert (loaded.num_segments, loaded.num_documents) == (1, 6)
    after = _results(animals_copy)
    assert len(after[0]) > 0
    for was, now in zip(before, after, strict=True):
        assert [doc_id for doc_id, _ in now] == [doc_id for doc_id, _ in was]
        for (_, old), (_, new) in zip(was, now, strict=True):
            assert abs(new - old) <= 1e-9 * max(1.0, abs(old))
    assert hit_ids(search_json(capsys, animals_copy, "insects", "-k", "3")) == first

    # Compacting a compact index changes nothing, and still commits.
    assert main(["compact", "--index", str(animals_copy)]) == 0
    assert "compacted 1 -> 1 segments" in capsys.readouterr().err
    assert _results(animals_copy) == after
