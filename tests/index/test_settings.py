"""IndexSettings: the manifest maps component -> settings, read strictly."""

from __future__ import annotations

import pytest

from hybridsearch.errors import IndexFormatError, InvalidInputError
from hybridsearch.index.settings import IndexSettings


def test_round_trip_and_one_entry_per_component():
    settings = IndexSettings.coerce(bm25={"k1": 1.2}, vectors={"kind": "hnsw"})
    data = settings.to_dict()
    assert set(data) == {"chunking", "analyzer", "bm25", "vectors"}
    assert data["bm25"]["k1"] == 1.2 and data["vectors"]["kind"] == "hnsw"
    assert IndexSettings.from_dict(data, where="manifest.json: settings") == settings


def test_unknown_or_missing_component_or_key_is_named():
    data = IndexSettings().to_dict()
    with pytest.raises(IndexFormatError, match="unknown components \\['colbert'\\]"):
        IndexSettings.from_dict({**data, "colbert": {}}, where="m")
    without = {key: value for key, value in data.items() if key != "bm25"}
    with pytest.raises(IndexFormatError, match="missing components \\['bm25'\\]"):
        IndexSettings.from_dict(without, where="m")
    data["bm25"] = {**data["bm25"], "k3": 1}
    with pytest.raises(IndexFormatError, match=r"m\.bm25: unknown BM25Settings key 'k3'"):
        IndexSettings.from_dict(data, where="m")


def test_coerce_refuses_unknown_fields_and_bad_values():
    with pytest.raises(InvalidInputError, match="unknown BM25Settings field 'k'"):
        IndexSettings.coerce(bm25={"k": 1})
    with pytest.raises(InvalidInputError):
        IndexSettings.coerce(vectors={"kind": "ivf-magic"})


def test_differences_name_the_component():
    base = IndexSettings()
    changed = IndexSettings.coerce(chunking={"overlap": 0})
    (difference,) = changed.differences(base)
    assert difference.startswith("chunking:")


def test_a_title_weight_needs_carried_titles():
    # BM25F's title field is the carried title line: without one the weight would do nothing.
    with pytest.raises(InvalidInputError, match=r"title_weight=2 .* carry_title is False"):
        IndexSettings.coerce(chunking={"carry_title": False}, bm25={"title_weight": 2})
    assert IndexSettings.coerce(bm25={"title_weight": 2}).bm25.title_weight == 2
    assert "title_weight" not in IndexSettings().to_dict()["bm25"]  # today's manifests
