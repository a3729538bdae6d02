"""``hybridsearch adapt`` and ``hybridsearch finetune``, end to end on a tiny corpus (a couple
of training steps on CPU), run in this process."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from hybridsearch.cli.main import main
from tests.cli.support import ANIMALS, QUERIES, assert_failed

TINY = ["--max-pairs", "6", "--batch-size", "3", "--max-seq-length", "32", "--quiet"]


@pytest.fixture(scope="module")
def animals_index(beir_folder, tmp_path_factory) -> Path:
    """An index of the tiny BEIR corpus (titled documents), built in this process."""
    index = tmp_path_factory.mktemp("adapt-cli") / "animals"
    assert main(["build", str(beir_folder), "--index", str(index), "--no-progress"]) == 0
    return index


def test_adapt_writes_a_model_and_an_index_encoded_by_it(animals_index, tmp_path, capsys):
    from hybridsearch import HybridIndex
    from hybridsearch.dense.encoder import Encoder

    output, model = tmp_path / "adapted", tmp_path / "model"
    status = main(
        ["adapt", "--index", str(animals_index), "--output", str(output),
         "--model-output", str(model), "--sources", "title", *TINY]
    )  # fmt: skip
    err = capsys.readouterr().err
    assert status == 0, err
    assert "trained queries and passages on 6 pairs" in err
    assert "nothing checked it" in err
    index = HybridIndex.load(output)
    assert Path(index.model_identity.name).resolve() == model.resolve()
    assert index.query_model_identity is None
    # Re-encoded: the stored vectors are the new model's vectors of the passages.
    passages = [index.passage(number).indexed_text for number in range(index.num_passages)]
    stored = np.concatenate([segment.vectors for segment in index.snapshot.segments])
    np.testing.assert_allclose(stored, Encoder(model).encode_passages(passages), atol=1e-5)
    assert index.num_documents == len(ANIMALS)
    assert index.search("which animal makes honey", k=3)  # searchable as any index


def test_finetune_query_only_with_dev_labels_keeps_it_only_if_it_wins(
    animals_index, beir_folder, tmp_path, capsys
):
    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text(
        "".join(
            json.dumps({"query": text, "doc_id": doc_id}) + "\n"
            for text, doc_id in QUERIES.values()
        )
        + json.dumps({"query": "a pet that purrs", "passage": ANIMALS["cat"]})
        + "\n"
    )
    output, model = tmp_path / "paired", tmp_path / "query-model"
    status = main(
        ["finetune", "--pairs", str(pairs), "--index", str(animals_index),
         "--output", str(output), "--model-output", str(model), "--query-only",
         "--dev-queries", str(beir_folder / "queries.jsonl"),
         "--dev-qrels", str(beir_folder / "qrels" / "test.tsv"), *TINY]
    )  # fmt: skip
    err = capsys.readouterr().err
    assert status == 0, err
    assert "trained the query side only on 4 pairs" in err
    assert "dev hybrid ndcg@10 on 3 queries: base" in err
    if "adapted model kept" in err:
        manifest = json.loads((output / "manifest.json").read_text())
        assert Path(manifest["query_model_source"]) == model.resolve()
    else:
        assert "discarded (not better on dev)" in err
        assert not output.exists() and not model.exists()


def test_bad_options_fail_in_one_line_before_training(animals_index, tmp_path, capsys):
    common = ["--index", str(animals_index), "--output", str(tmp_path / "o"),
              "--model-output", str(tmp_path / "m")]  # fmt: skip
    status = main(["adapt", *common, "--dev-queries", "q.jsonl"])
    assert_failed(status, capsys.readouterr().err, "--dev-qrels go together")
    status = main(["finetune", "--pairs", str(tmp_path / "none.jsonl"), *common])
    assert_failed(status, capsys.readouterr().err, "none.jsonl: no such file")
    status = main(["adapt", *common, "--sources", "sentence"])  # one-sentence documents
    assert_failed(status, capsys.readouterr().err, "only 0 training pairs")
    assert not (tmp_path / "m").exists()
