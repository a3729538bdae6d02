"""HybridIndex end to end: build, search in every mode and unit, explain, save and load."""

from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest

from hybridsearch.corpus.documents import Document
from hybridsearch.errors import (
    ChecksumError,
    DuplicateDocumentError,
    EmptyCorpusError,
    IndexFormatError,
    IndexVersionError,
    InvalidInputError,
    ModelMismatchError,
)
from hybridsearch.index import storage
from hybridsearch.index.hybrid_index import HybridIndex

TOPICS = {
    "python-exceptions": (
        "Handling errors in Python",
        "Use a try statement with several except clauses to catch exceptions. A tuple of "
        "exception classes in one except clause catches any of them. The finally clause runs "
        "whether or not an exception occurred.",
    ),
    "python-loops": (
        "Loops in Python",
        "A for loop iterates over the items of any sequence. The while loop repeats as long "
        "as its condition is true. Use break to leave a loop early and continue to skip ahead.",
    ),
    "coffee": (
        "Brewing coffee",
        "Grind the beans just before brewing. Water slightly below boiling extracts the best "
        "flavour. A French press needs a coarse grind and four minutes of steeping.",
    ),
    "tea": (
        "Green tea",
        "Green tea is brewed with water around eighty degrees. Steep the leaves for two "
        "minutes; longer makes the cup bitter.",
    ),
    "volcano": (
        "Volcanoes",
        "Magma rises through the crust and erupts as lava. Explosive eruptions throw ash high "
        "into the atmosphere, and pyroclastic flows race down the slopes.",
    ),
    "photosynthesis": (
        "Photosynthesis",
        "Plants turn sunlight, water and carbon dioxide into glucose and oxygen. Chlorophyll "
        "in the chloroplasts absorbs the light.",
    ),
    "football": (
        "Association football",
        "Two teams of eleven players try to score by kicking the ball into the opposing goal. "
        "Only the goalkeeper may handle the ball inside the penalty area.",
    ),
    "bread": (
        "Baking bread",
        "Knead the dough until it is elastic, let it rise until doubled, shape the loaf and "
        "bake it in a hot oven until the crust is brown.",
    ),
}


def _long_document() -> Document:
    sentences = [
        f"Section {number} describes the migration of arctic terns across the ocean and the "
        f"distance of {number * 1000} kilometres they fly each year."
        for number in range(120)
    ]
    return Document(id="terns", title="Arctic terns", text=" ".join(sentences))


def _documents() -> list[Document]:
    documents = [
        Document(id=doc_id, title=title, text=text, metadata={"topic": doc_id})
        for doc_id, (title, text) in TOPICS.items()
    ]
    documents.append(_long_document())
    documents.append(Document(id="empty", text=""))
    return documents


@pytest.fixture(scope="module")
def index(encoder) -> HybridIndex:
    return HybridIndex.build(_documents(), model=encoder)


@pytest.fixture(scope="module")
def saved_index(index, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("saved") / "index"
    index.save(path)
    return path


def test_build_counts_and_chunking_report(index):
    assert index.num_documents == 10
    report = index.build_info.chunking_report
    assert report.documents == 10
    assert report.documents_split == 1  # only the long document
    assert report.tokens_over_limit > 0
    assert index.num_passages == report.passages
    assert index.num_passages > 10
    assert sum(len(segment.vectors) for segment in index.snapshot.segments) == index.num_passages
    assert index.snapshot.bm25.num_live_passages == index.num_passages


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("how do I catch several exceptions at once", "python-exceptions"),
        ("steeping time for green tea leaves", "tea"),
        ("lava and ash from an eruption", "volcano"),
    ],
)
@pytest.mark.parametrize("mode", ["hybrid", "bm25", "dense"])
def test_finds_the_right_document(index, query, expected, mode):
    hits = index.search(query, k=3, mode=mode)
    assert hits[0].doc_id == expected
    assert [hit.rank for hit in hits] == list(range(1, len(hits) + 1))


def test_dense_finds_paraphrase_bm25_cannot(index):
    # No word in common with the tea document except through meaning.
    query = "infusing leaves in hot water"
    dense = index.search(query, k=2, mode="dense")
    assert dense[0].doc_id == "tea"


def test_hit_breakdown_matches_the_legs(index):
    query = "water for brewing"
    bm25 = index.search(query, k=1000, mode="bm25", unit="passages")
    dense = index.search(query, k=1000, mode="dense", unit="passages")
    bm25_by_passage = {hit.passage_id: hit for hit in bm25}
    dense_by_passage = {hit.passage_id: hit for hit in dense}
    # RRF over the legs' passage rankings, computed by hand, then each document's best.
    fused: dict[int, float] = {}
    for ranking in (bm25, dense):
        for hit in ranking:
            fused[hit.passage_id] = fused.get(hit.passage_id, 0.0) + 1 / (60 + hit.rank)
    expected_docs, seen = [], set()
    for passage_id in sorted(fused, key=lambda p: -fused[p]):
        doc_id = index.passage(passage_id).doc_id
        if doc_id not in seen:
            seen.add(doc_id)
            expected_docs.append((doc_id, passage_id))

    hybrid = index.search(query, k=5)
    assert [(hit.doc_id, hit.passage_id) for hit in hybrid] == expected_docs[:5]
    for hit in hybrid:
        assert hit.score == pytest.approx(fused[hit.passage_id])
        in_bm25 = bm25_by_passage.get(hit.passage_id)
        if in_bm25 is None:
            assert hit.bm25_rank is None and hit.bm25_score is None
        else:
            assert hit.bm25_rank == in_bm25.rank
            assert hit.bm25_score == pytest.approx(in_bm25.score)
        assert hit.dense_rank == dense_by_passage[hit.passage_id].rank
        assert hit.dense_score == pytest.approx(dense_by_passage[hit.passage_id].score)
        rrf_by_hand = sum(1 / (60 + r) for r in (hit.bm25_rank, hit.dense_rank) if r)
        assert hit.score == pytest.approx(rrf_by_hand)
        assert 0 <= hit.start <= hit.end
        assert hit.text == index.document(hit.doc_id).text[hit.start : hit.end]


def test_single_leg_hits_have_no_other_leg(index):
    for hit in index.search("coffee beans", k=3, mode="bm25"):
        assert hit.dense_rank is None and hit.dense_score is None
        assert hit.score == hit.bm25_score
    for hit in index.search("coffee beans", k=3, mode="dense"):
        assert hit.bm25_rank is None and hit.bm25_score is None
        assert hit.score == hit.dense_score


def test_documents_unit_lists_each_document_once(index):
    hits = index.search("arctic terns migration distance", k=8, unit="documents")
    doc_ids = [hit.doc_id for hit in hits]
    assert len(doc_ids) == len(set(doc_ids))
    passages = index.search("arctic terns migration distance", k=8, unit="passages")
    passage_doc_ids = [hit.doc_id for hit in passages]
    assert passage_doc_ids.count("terns") > 1  # several passages of the long document
    assert len({hit.passage_id for hit in passages}) == len(passages)


def test_k_larger_than_the_corpus(index):
    hits = index.search("water", k=1000, mode="dense")
    assert len(hits) == index.num_documents
    passages = index.search("water", k=1000, mode="dense", unit="passages")
    assert len(passages) == index.num_passages


def test_unknown_terms_run_dense_only(index):
    plan = index.search("zxqv wqpl").plan
    assert plan.legs == ("dense",)
    assert plan.fusion is None
    assert any("dense only" in note for note in plan.notes)
    hits = index.search("zxqv wqpl", k=3)
    assert len(hits) == 3
    assert all(hit.bm25_rank is None for hit in hits)
    assert index.search("zxqv wqpl", k=3, mode="bm25") == []


def test_explain_returns_plan_and_timings(index):
    explanation = index.explain("green tea", k=2)
    plan = explanation.plan
    assert explanation.depth == plan.depth
    assert plan.legs == ("bm25", "dense")
    assert plan.depth == min(100, index.num_passages)
    assert plan.fusion == "rrf" and plan.fusion_params["k"] == 60
    assert plan.query_terms == ("green", "tea")
    assert {"bm25", "dense", "encode", "fusion", "total"} <= set(explanation.timings)
    text = explanation.describe()
    assert "bm25 + dense" in text and "green tea" in text
    json.dumps(plan.to_dict())


def test_weights_and_convex_fusion(index):
    query = "water for brewing"
    dense_heavy = index.search(query, k=5, weights={"bm25": 0.0, "dense": 1.0})
    dense = index.search(query, k=5, mode="dense")
    assert [h.doc_id for h in dense_heavy] == [h.doc_id for h in dense]
    convex = index.search(query, k=5, fusion="convex", normalization="zscore")
    assert convex.plan.fusion == "convex"
    assert len(convex) == 5


BATCH_QUERIES = [
    "tea",
    "green tea",
    "how long should green tea steep",
    "football goalkeeper",
    "who may handle the ball inside the penalty area in association football",
    "bread dough",
    "knead the dough until elastic then let it rise and bake the loaf until brown",
    "catch several exceptions at once",
    "how do I catch several exceptions at once in python with one except clause",
    "loops",
    "break out of a for loop early",
    "volcano ash",
    "what happens when magma rises through the crust and erupts",
    "photosynthesis",
    "how do plants turn sunlight into glucose",
    "coffee grind",
    "french press steeping time for coarse ground coffee beans",
    "arctic terns",
    "how far do arctic terns migrate each year across the ocean",
    "finally clause",
    "eleven players",
    "the",
    "tuple of exception classes",
    "distance kilometres",
]


@pytest.mark.parametrize("mode", ["hybrid", "bm25", "dense"])
def test_search_batch_equals_single_searches_bit_for_bit(index, mode):
    """Issue 14 item 4: 32 of 46 queries differed, and ranks 3 and 4 swapped for one."""
    batch = index.search_batch(BATCH_QUERIES, k=5, mode=mode, unit="passages")
    assert len(batch) == len(BATCH_QUERIES)
    for query, hits in zip(BATCH_QUERIES, batch, strict=True):
        single = index.search(query, k=5, mode=mode, unit="passages")
        assert [
            (h.passage_id, h.score, h.bm25_score, h.dense_score, h.bm25_rank, h.dense_rank)
            for h in hits
        ] == [
            (h.passage_id, h.score, h.bm25_score, h.dense_score, h.bm25_rank, h.dense_rank)
            for h in single
        ], query



def test_search_each_yields_search_batch_one_query_at_a_time(index, monkeypatch):
    """What a server renders from while the next query's legs run: the same hits, each
    query's legs run only when its hits are asked for, bad input refused before any."""
    batch = index.search_batch(BATCH_QUERIES, k=5)
    _, planner = index._view
    legs_run = []
    run_plan = planner._run_plan

    def recorded(plan, *rest):
        legs_run.append(plan.query)
        return run_plan(plan, *rest)

    monkeypatch.setattr(planner, "_run_plan", recorded)
    each = index.search_each(BATCH_QUERIES, k=5)
    first = next(each)
    assert legs_run == BATCH_QUERIES[:1]
    rest = list(each)
    assert legs_run == BATCH_QUERIES
    assert [hits.to_dicts() for hits in [first, *rest]] == [hits.to_dicts() for hits in batch]
    bad = index.search_each(["fine", " "], k=5)
    with pytest.raises(InvalidInputError):
        next(bad)
    assert legs_run == BATCH_QUERIES  # nothing ran for the batch with a bad query

def test_load_warms_the_encoder_unless_told_not_to(saved_index):
    from hybridsearch.dense.encoder import Encoder

    cold = HybridIndex.load(saved_index, model=Encoder(bf16=False), warm_up=False)
    assert not cold.encoder.is_warm
    hits = cold.search("green tea", k=1)
    assert "warm-up wait" not in hits.timings and cold.encoder.is_warm
    warmed = HybridIndex.load(saved_index, model=Encoder(bf16=False))
    hits = warmed.search("green tea", k=1)  # waits for the warm-up if it is still running
    assert warmed.encoder.is_warm
    assert set(hits.timings) - {"warm-up wait"} == {"encode", "bm25", "dense", "fusion", "total"}
    assert hits.timings.get("warm-up wait", 0.0) >= 0.0


def test_very_long_query_is_truncated_with_a_warning(index):
    query = "green tea " * 400
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        hits = index.search(query, k=2)
    assert hits[0].doc_id == "tea"
    assert any("truncat" in str(warning.message).lower() for warning in caught)


@pytest.mark.parametrize(
    ("query", "options"),
    [
        ("", {}),
        ("   \n\t", {}),
        (None, {}),
        ("tea", {"k": 0}),
        ("tea", {"k": -3}),
        ("tea", {"k": 2.5}),
        ("tea", {"k": "10"}),
        ("tea", {"k": True}),
        ("tea", {"mode": "sparse"}),
        ("tea", {"fusion": "borda"}),
        ("tea", {"unit": "sentences"}),
        ("tea", {"weights": {"bm25": -1.0}}),
        ("tea", {"weights": {"colbert": 1.0}}),
        ("tea", {"normalization": "softmax", "fusion": "convex"}),
    ],
)
def test_bad_search_arguments(index, query, options):
    with pytest.raises(InvalidInputError) as error:
        index.search(query, **options)
    assert "expected" in str(error.value) or "must be" in str(error.value)


def test_bad_corpora(encoder):
    with pytest.raises(EmptyCorpusError):
        HybridIndex.build([], model=encoder)
    with pytest.raises(DuplicateDocumentError, match="'a'"):
        HybridIndex.build(
            [Document(id="a", text="one"), Document(id="a", text="two")], model=encoder
        )
    with pytest.raises(InvalidInputError, match="text must be a str"):
        Document(id="x", text=42)  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match=r"documents\[1\]"):
        HybridIndex.build([Document(id="a", text="one"), {"id": "b"}], model=encoder)


def test_save_load_round_trip(index, saved_index, encoder):
    loaded = HybridIndex.load(saved_index, model=encoder)
    assert loaded.num_documents == index.num_documents
    assert [loaded.passage(p).indexed_text for p in range(loaded.num_passages)] == [
        index.passage(p).indexed_text for p in range(index.num_passages)
    ]
    for query in ["green tea", "arctic tern distance", "zxqv", "catch exceptions"]:
        for mode in ("hybrid", "bm25", "dense"):
            for unit in ("documents", "passages"):
                original = index.search(query, k=5, mode=mode, unit=unit)
                again = loaded.search(query, k=5, mode=mode, unit=unit)
                assert [h.to_dict() for h in again] == [h.to_dict() for h in original]
    manifest = json.loads((saved_index / "manifest.json").read_text())
    assert manifest["model"]["weights_digest"] == encoder.identity.weights_digest
    (commit_file,) = saved_index.glob("commit_*.json")
    commit = json.loads(commit_file.read_text())
    assert sum(entry["live_documents"] for entry in commit["segments"]) == 10
    assert not list(saved_index.rglob("*.pkl"))


def test_load_without_model_uses_the_recorded_one(saved_index, index):
    loaded = HybridIndex.load(saved_index)
    assert loaded.model_identity.same_model_as(index.model_identity)
    assert loaded.search("tea", k=1)[0].doc_id == "tea"


def test_not_an_index(tmp_path, encoder):
    with pytest.raises(IndexFormatError, match="not a hybridsearch index"):
        HybridIndex.load(tmp_path, model=encoder)
    with pytest.raises(IndexFormatError):
        HybridIndex.load(tmp_path / "missing", model=encoder)


def _copy(saved_index: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "copy"
    shutil.copytree(saved_index, copy)
    return copy


def _rewrite_manifest(index_dir: Path, **fields: object) -> None:
    """Set fields of the index's manifest.json (its format version, say)."""
    manifest_path = index_dir / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest.update(fields)
    manifest_path.write_text(json.dumps(manifest))


def _file_bytes(directory: Path) -> dict[Path, bytes]:
    return {path: path.read_bytes() for path in sorted(directory.rglob("*")) if path.is_file()}


def test_truncated_file_is_detected(saved_index, tmp_path, encoder):
    copy = _copy(saved_index, tmp_path)
    (vectors_file,) = copy.glob("segments/*/vectors.npy")
    vectors_file.write_bytes(vectors_file.read_bytes()[:-100])
    with pytest.raises(ChecksumError, match=r"vectors\.npy"):
        HybridIndex.load(copy, model=encoder)


def test_altered_file_is_detected(saved_index, tmp_path, encoder):
    copy = _copy(saved_index, tmp_path)
    (documents_file,) = copy.glob("segments/*/documents.jsonl")
    documents_file.write_text(documents_file.read_text().replace("Green tea", "Black tea"))
    with pytest.raises(ChecksumError, match=r"documents\.jsonl"):
        HybridIndex.load(copy, model=encoder)


def test_unknown_format_version(saved_index, tmp_path, encoder):
    copy = _copy(saved_index, tmp_path)
    _rewrite_manifest(copy, format_version=99)
    with pytest.raises(IndexVersionError, match="99"):
        HybridIndex.load(copy, model=encoder)
    # An index of the first format (settings written in five styles) is refused with the
    # command that rebuilds it from its recorded corpus.
    _rewrite_manifest(copy, format_version=1, source={"path": "/data/corpus.jsonl"})
    with pytest.raises(IndexVersionError, match=r"hybridsearch build /data/corpus\.jsonl --index"):
        HybridIndex.load(copy, model=encoder)


def test_a_newer_format_version_names_the_versions_read_and_what_to_do(saved_index, tmp_path):
    copy = _copy(saved_index, tmp_path)
    _rewrite_manifest(copy, format_version=storage.FORMAT_VERSION + 1)
    with pytest.raises(IndexVersionError) as refused:
        HybridIndex.load(copy)
    message = str(refused.value)
    assert f"format version {storage.FORMAT_VERSION + 1}" in message
    assert "newer hybridsearch" in message
    assert "reads versions 2 and 3" in message
    assert "pip install -U hybridsearch" in message
    assert f"--index {copy}" in message  # or rebuild it with this release


def test_saving_over_a_newer_format_index_leaves_it_and_says_so(saved_index, tmp_path):
    copy = _copy(saved_index, tmp_path)
    _rewrite_manifest(copy, format_version=storage.FORMAT_VERSION + 1)
    before = _file_bytes(copy)
    index = HybridIndex.load(saved_index)
    with pytest.raises(IndexVersionError) as refused:
        index.save(copy)
    message = str(refused.value)
    assert f"{copy} holds an index of format version {storage.FORMAT_VERSION + 1}" in message
    assert "will not replace it" in message
    after = _file_bytes(copy)
    after.pop(copy / "write.lock")  # the lock the save took (and released) to look
    assert after == before
    # An older version's index is still replaced (no release reads it any more).
    _rewrite_manifest(copy, format_version=1)
    index.save(copy)
    assert HybridIndex.load(copy).num_documents == index.num_documents


def _ranking(index: HybridIndex, query: str) -> list[tuple[str, float]]:
    return [(hit.doc_id, hit.score) for hit in index.search(query, k=5)]


def test_an_index_of_the_previous_format_version_loads_and_is_upgraded_by_a_commit(
    index, tmp_path, encoder, monkeypatch
):
    """Version 2 reads as before; a commit records version 3, the other fields kept, so a
    version-2 release refuses it once commits may carry what that release would ignore."""
    previous = tmp_path / "previous"
    with monkeypatch.context() as patched:  # what this code wrote before the bump
        patched.setattr(storage, "FORMAT_VERSION", 2)
        index.save(previous)
    manifest_path = previous / "manifest.json"
    written = json.loads(manifest_path.read_text())
    assert written["format_version"] == 2
    # Commits of releases before the commit held the manifest fields: read from manifest.json.
    (commit_path,) = previous.glob("commit_*.json")
    commit = json.loads(commit_path.read_text())
    assert commit.pop("manifest") is not None
    commit_path.write_text(json.dumps(commit))

    query = "catch several exceptions in one clause"
    assert _ranking(HybridIndex.load(previous, model=encoder), query) == _ranking(index, query)
    with HybridIndex.open(previous, model=encoder) as opened:
        opened.commit()
    upgraded = json.loads(manifest_path.read_text())
    assert upgraded["format_version"] == storage.FORMAT_VERSION == 3
    assert {**upgraded, "format_version": 2} == written
    assert _ranking(HybridIndex.load(previous, model=encoder), query) == _ranking(index, query)


def test_model_mismatch_is_refused(saved_index, tmp_path, model_path, index):
    from hybridsearch.dense.encoder import Encoder

    # The same weights with CLS pooling: a different model as far as vectors go.
    other = tmp_path / "cls-model"
    other.mkdir()
    for item in Path(model_path).iterdir():
        if item.name != "1_Pooling":
            (other / item.name).symlink_to(item)
    (other / "1_Pooling").mkdir()
    pooling = json.loads((Path(model_path) / "1_Pooling" / "config.json").read_text())
    pooling.update(pooling_mode_mean_tokens=False, pooling_mode_cls_token=True)
    (other / "1_Pooling" / "config.json").write_text(json.dumps(pooling))
    other_encoder = Encoder(other)
    with pytest.raises(ModelMismatchError) as error:
        HybridIndex.load(saved_index, model=other_encoder)
    message = str(error.value)
    assert "cls" in message and "mean" in message
    # Swapping the encoder of a loaded index is refused at query time too.
    loaded = HybridIndex.load(saved_index, model=index.encoder)
    loaded.encoder = other_encoder
    with pytest.raises(ModelMismatchError):
        loaded.search("tea")
    assert loaded.search("tea", mode="bm25")  # BM25 alone needs no vectors


def test_save_refuses_a_directory_that_is_not_an_index(index, tmp_path):
    target = tmp_path / "notes"
    target.mkdir()
    (target / "todo.txt").write_text("keep me")
    with pytest.raises(IndexFormatError):
        index.save(target)
    assert (target / "todo.txt").read_text() == "keep me"


def test_documents_unit_searches_deeper_when_one_document_crowds_the_candidates(index):
    # The long document has many passages about terns; with 3 passages per leg, fewer than
    # 4 documents come out, so the planner goes deeper and says so.
    hits = index.search("arctic terns migration distance", k=4, depth=3)
    assert len(hits) == 4
    assert len({hit.doc_id for hit in hits}) == 4
    assert hits.plan.depth == 4  # max(k, depth): the plan is never rewritten
    assert hits.depth > 4  # the run went deeper, as the plan's rule says
    assert f"searched {hits.depth} passages each" in hits.describe()
    # Passages need no deepening: k passages fit in the candidates.
    passages = index.search("arctic terns migration distance", k=3, depth=3, unit="passages")
    assert passages.plan.depth == passages.depth == 3


def test_index_remembers_its_model_folder(tmp_path, model_path):
    from hybridsearch.errors import ModelLoadError

    folder = tmp_path / "my-model"
    shutil.copytree(model_path, folder, symlinks=True)
    documents = [Document(id=doc_id, text=text) for doc_id, (_, text) in TOPICS.items()]
    built = HybridIndex.build(documents, model=str(folder))
    built.save(tmp_path / "index")
    loaded = HybridIndex.load(tmp_path / "index")  # reopens the recorded folder
    assert loaded.build_info.model_source == str(folder.resolve())
    assert loaded.search("green tea", k=1)[0].doc_id == "tea"
    shutil.rmtree(folder)
    with pytest.raises(ModelLoadError, match="pass the model folder"):
        HybridIndex.load(tmp_path / "index")
    # Another copy of the same weights is the same model.
    assert HybridIndex.load(tmp_path / "index", model=model_path).search("tea", k=1)


def test_a_weighted_title_counts_the_carried_title_that_often(saved_index, encoder, tmp_path):
    # BM25F (bm25 title_weight=3): each passage's length is 3 * its carried title's terms +
    # its body's; the weight is recorded, and only when it is not 1 (today's manifests).
    from hybridsearch.sparse.analysis import Analyzer

    plain = json.loads((saved_index / "manifest.json").read_text())
    assert "title_weight" not in plain["settings"]["bm25"]
    weighted = HybridIndex.build(_documents(), model=encoder, bm25={"title_weight": 3})
    analyzer = Analyzer()
    bm25 = weighted.snapshot.bm25
    passages = [weighted.passage(p) for p in range(weighted.num_passages)]
    assert any(p.title for p in passages) and not all(p.title for p in passages)
    want = [len(analyzer(p.indexed_text)) + 2 * len(analyzer(p.title)) for p in passages]
    assert bm25.passage_lengths(np.arange(len(passages))).tolist() == want
    weighted.save(tmp_path / "weighted")
    manifest = json.loads((tmp_path / "weighted" / "manifest.json").read_text())
    assert manifest["settings"]["bm25"]["title_weight"] == 3
    loaded = HybridIndex.load(tmp_path / "weighted", model=encoder)
    assert loaded.settings.bm25.title_weight == 3
    for query in ("green tea", "python loops", "volcano ash"):
        want_hits = weighted.search(query, k=5, mode="bm25")
        assert [h.to_dict() for h in loaded.search(query, k=5, mode="bm25")] == [
            h.to_dict() for h in want_hits
        ]
