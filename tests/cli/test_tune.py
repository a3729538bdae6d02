"""``hybridsearch tune``: fits the fusion on labelled queries, commits it as the default, and
the next search's plan says so."""

from __future__ import annotations

import json

from tests.cli.support import assert_failed, search_json


def test_tune_commits_the_fusion_and_search_uses_it(animals_copy, beir_folder, capsys):
    from hybridsearch.cli.main import main

    args = ["tune", "--index", str(animals_copy), "--queries", str(beir_folder / "queries.jsonl")]
    args += ["--qrels", str(beir_folder / "qrels" / "test.tsv"), "--folds", "3"]
    assert main([*args, "--dry-run"]) == 0
    captured = capsys.readouterr()
    assert "bm25 alone" in captured.out and "dense alone" in captured.out
    assert "fused, tuned (CV)" in captured.out
    assert "dry run: nothing committed" in captured.err
    assert "bm25+rm3 alone" in captured.out  # tried by default

    assert main([*args, "--json", "--no-rm3"]) == 0
    payload = json.loads(capsys.readouterr().out)
    # The dry run committed nothing: this commit is the second, after the build's.
    assert payload["queries"] == 3 and payload["folds"] == 3 and payload["commit"] == 2
    assert set(payload["leg_estimates"]) == {"bm25", "dense"}
    stored = payload["stored"]
    plan = search_json(capsys, animals_copy, "honey", "--explain")["plan"]
    assert plan["fusion"] == stored["fusion"]
    assert plan["fusion_params"]["weights"] == stored["weights"]
    assert any("fusion tuned on 3 queries" in note for note in plan["notes"])


def test_tune_names_a_missing_qrels_file(animals_copy, beir_folder, tmp_path, capsys):
    from hybridsearch.cli.main import main

    missing = tmp_path / "nope.tsv"
    status = main(
        ["tune", "--index", str(animals_copy), "--queries", str(beir_folder / "queries.jsonl"),
         "--qrels", str(missing)]
    )  # fmt: skip
    assert_failed(status, capsys.readouterr().err, str(missing), "no such qrels file")
