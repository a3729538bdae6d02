"""Tests for hybridsearch.corpus.metadata: typed columns built, queried, saved, merged.

Random documents are checked against plain Python over their metadata dicts (the oracle).
:func:`random_metadatas` is also used by the filter tests in tests/search.
"""

from __future__ import annotations

import datetime
import json
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from hybridsearch.corpus.metadata import METADATA_FILE, MetadataColumns
from hybridsearch.corpus.metadata_arrays import Vocabulary
from hybridsearch.errors import IndexFormatError, IndexVersionError, InvalidInputError

# Awkward strings on purpose: empty, non-ASCII, astral, a NUL byte, a trailing space, shared
# prefixes (binary search must tell them apart). Not a lone surrogate: documents refuse it
# (issue 14; JSON's UTF-8 cannot hold it), see test_documents.
STRINGS = ("en", "en ", "e", "de", "", "é", "zh-猫", "a\x00", "\U0001f600")
TAGS = ("biology", "bio", "physics", "", "x\x00", "ü")
NUMBERS = (2019.5, 0.0, -0.0, -1.25, 1e300, -(2**53), 2**53, 7)
FIELDS = {
    "lang": "string",
    "year": "number",
    "open": "bool",
    "tags": "string_list",
    "doi": "string",
}


def random_value(rng: random.Random, field_type: str) -> Any:
    """A value of ``field_type`` drawn from small pools, so equal values recur across rows."""
    if field_type == "string":
        return rng.choice(STRINGS)
    if field_type == "number":
        return rng.randint(2015, 2025) if rng.random() < 0.7 else rng.choice(NUMBERS)
    if field_type == "bool":
        return rng.random() < 0.5
    return rng.sample(TAGS, rng.randint(0, 3))


def random_metadatas(
    rng: random.Random, count: int, fields: dict[str, str] = FIELDS
) -> list[dict[str, Any]]:
    """``count`` metadata dicts; each field missing, ``None`` or a value of its type."""
    metadatas = []
    for _ in range(count):
        metadata: dict[str, Any] = {}
        for field, field_type in fields.items():
            draw = rng.random()
            if draw < 0.25:
                continue
            metadata[field] = None if draw < 0.35 else random_value(rng, field_type)
        metadatas.append(metadata)
    return metadatas


def expected_value(metadata: dict[str, Any], field: str) -> Any:
    """What MetadataColumns.value gives back: numbers as float, bools as bool."""
    value = metadata.get(field)
    return float(value) if isinstance(value, int) and not isinstance(value, bool) else value


def assert_same_rows(columns: MetadataColumns, metadatas: list[dict[str, Any]]) -> None:
    assert columns.num_rows == len(metadatas)
    for row, metadata in enumerate(metadatas):
        for field in {*columns.field_types, *metadata}:
            got, want = columns.value(row, field), expected_value(metadata, field)
            assert got == want and type(got) is type(want), (row, field, got, want)


# --- building and reading back --------------------------------------------------------------


def test_from_documents_infers_one_type_per_field() -> None:
    columns = MetadataColumns.from_documents(
        [
            {"lang": "en", "year": 2020, "open": True, "tags": ["a"], "doi": None},
            {"year": 2021.5, "tags": []},
            {},
        ]
    )
    assert columns.num_rows == 3
    # doi only ever None: no column, absent everywhere.
    assert columns.field_types == {
        "lang": "string",
        "year": "number",
        "open": "bool",
        "tags": "string_list",
    }
    assert [columns.value(1, "tags"), columns.value(2, "tags")] == [[], None]
    assert columns.exists("tags").tolist() == [True, True, False]
    assert columns.exists("doi").tolist() == [False] * 3


@pytest.mark.parametrize("seed", range(20))
def test_values_round_trip(seed: int) -> None:
    rng = random.Random(seed)
    metadatas = random_metadatas(rng, rng.randint(0, 40))
    assert_same_rows(MetadataColumns.from_documents(metadatas), metadatas)


@pytest.mark.parametrize(
    ("metadatas", "message"),
    [
        (
            [{"year": 2020}, {"year": 2021.5}, {"year": "2022"}],
            r"field 'year' holds number values \(first in document row 0\) and a string value "
            r"in document row 2",
        ),
        (
            [{}, {"x": True}, {"x": 1}],
            r"field 'x' holds bool values \(first in document row 1\) and a number value in "
            r"document row 2",
        ),
        ([{"t": ["a"]}, {"t": "a"}], "holds string_list values .* and a string value"),
        ([{"a": datetime.datetime(2024, 1, 1)}], "document row 0: metadata 'a' is a datetime"),
        ([{"a": [1]}], "document row 0: metadata 'a' is a list whose item 0 is a int"),
    ],
)
def test_from_documents_refuses_mixed_or_untyped_values(
    metadatas: list[dict[str, Any]], message: str
) -> None:
    with pytest.raises(InvalidInputError, match=message):
        MetadataColumns.from_documents(metadatas)


def test_from_documents_names_ids_and_keeps_known_types() -> None:
    with pytest.raises(InvalidInputError, match=r"and a string value in document 'b' \(row 1\)"):
        MetadataColumns.from_documents([{"y": 1}, {"y": "1"}], ids=["a", "b"])
    with pytest.raises(
        InvalidInputError,
        match=r"holds number values \(first in this index's other segments\) and a string value "
        r"in document row 0",
    ):
        MetadataColumns.from_documents([{"y": "1"}], known_types={"y": "number"})
    # A known field this segment does not hold stays absent here.
    columns = MetadataColumns.from_documents([{"y": 2}], known_types={"y": "number", "z": "bool"})
    assert columns.field_types == {"y": "number"}


# --- column access ----------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(10))
def test_column_access_matches_python(seed: int) -> None:
    rng = random.Random(seed)
    metadatas = random_metadatas(rng, 60)
    columns = MetadataColumns.from_documents(metadatas)

    def oracle(predicate: Callable[[Any], bool], field: str) -> list[bool]:
        values = [metadata.get(field) for metadata in metadatas]
        return [value is not None and predicate(value) for value in values]

    for field in ("lang", "doi"):
        for value in STRINGS:
            assert columns.equals(field, value).tolist() == oracle(lambda v, x=value: v == x, field)
        chosen = rng.sample(STRINGS, 3)
        assert columns.isin(field, chosen).tolist() == oracle(lambda v, x=chosen: v in x, field)
    for value in TAGS:
        assert columns.equals("tags", value).tolist() == oracle(lambda v, x=value: x in v, "tags")
    chosen = rng.sample(TAGS, 2)
    assert columns.isin("tags", chosen).tolist() == oracle(
        lambda v: any(c in v for c in chosen), "tags"
    )
    for number in (*NUMBERS, 2020, 2020.5, 2**53 - 1):
        assert columns.equals("year", number).tolist() == oracle(lambda v, x=number: v == x, "year")
        for op, compare in (
            ("gt", lambda a, b: a > b),
            ("gte", lambda a, b: a >= b),
            ("lt", lambda a, b: a < b),
            ("lte", lambda a, b: a <= b),
        ):
            assert columns.compare("year", op, number).tolist() == oracle(
                lambda v, f=compare, x=number: f(v, x), "year"
            ), (op, number)
    for flag in (True, False):
        assert columns.equals("open", flag).tolist() == oracle(lambda v, x=flag: v is x, "open")
    assert columns.isin("open", [True, False]).tolist() == oracle(lambda v: True, "open")
    for field in FIELDS:
        assert columns.exists(field).tolist() == oracle(lambda v: True, field)


def test_absent_field_matches_nothing_and_type_errors_are_named() -> None:
    columns = MetadataColumns.from_documents([{"lang": "en", "year": 2020}, {}])
    for mask in (
        columns.equals("ghost", "x"),
        columns.isin("ghost", [1, 2]),
        columns.compare("ghost", "gte", 0),
        columns.exists("ghost"),
    ):
        assert mask.tolist() == [False, False]
    assert columns.value(0, "ghost") is None
    with pytest.raises(InvalidInputError, match="'lang' is a string field; 'gte' compares numbers"):
        columns.compare("lang", "gte", 1)
    with pytest.raises(InvalidInputError, match="'year' is a number field; cannot match 'en'"):
        columns.equals("year", "en")
    with pytest.raises(InvalidInputError, match="'lang' is a string field; cannot match True"):
        columns.isin("lang", ["en", True])
    with pytest.raises(InvalidInputError, match="values for 'lang' must be a list"):
        columns.isin("lang", "en")
    with pytest.raises(InvalidInputError, match="unknown comparison 'ge'"):
        columns.compare("year", "ge", 1)
    with pytest.raises(InvalidInputError, match="the value is nan"):
        columns.compare("year", "lt", float("nan"))
    with pytest.raises(InvalidInputError, match="row 2 is out of range"):
        columns.value(2, "lang")


def test_vocabulary_binary_search_finds_every_entry_and_nothing_else() -> None:
    rng = random.Random(7)
    words = {"".join(rng.choice("ab\x00é") for _ in range(rng.randint(0, 5))) for _ in range(300)}
    columns = MetadataColumns.from_documents([{"w": w} for w in sorted(words)])
    for row, word in enumerate(sorted(words)):
        assert np.flatnonzero(columns.equals("w", word)).tolist() == [row]
    for missing in ("c", "ab\x00\x00\x00\x00\x00", "é" * 6):
        if missing not in words:
            assert not columns.equals("w", missing).any()
    # No document can hold a lone surrogate (issue 14), so a filter for one is refused.
    with pytest.raises(InvalidInputError, match=r"'w': the value holds a lone surrogate"):
        columns.equals("w", "\udcff")


# --- save and load ---------------------------------------------------------------------------


@pytest.mark.parametrize("mmap", [True, False])
@pytest.mark.parametrize("seed", range(4))
def test_save_load_round_trip(tmp_path: Path, seed: int, mmap: bool) -> None:
    rng = random.Random(seed)
    metadatas = random_metadatas(rng, rng.randint(1, 40))
    columns = MetadataColumns.from_documents(metadatas)
    names = columns.save(tmp_path)
    assert sorted(names) == sorted(p.name for p in tmp_path.iterdir())
    assert METADATA_FILE in names and all(n.endswith(".npy") for n in names if n != METADATA_FILE)
    loaded = MetadataColumns.load(tmp_path, mmap=mmap)
    assert loaded.field_types == columns.field_types
    assert_same_rows(loaded, metadatas)
    assert loaded.equals("lang", "en").tolist() == columns.equals("lang", "en").tolist()
    arrays = [a for c in loaded._columns.values() for a in c.values()]
    assert all(isinstance(a, np.memmap) == mmap for a in arrays if a.size)
    assert all(a.dtype != object for a in arrays)


def test_save_load_empty_segments(tmp_path: Path) -> None:
    for count, directory in ((0, tmp_path / "zero"), (3, tmp_path / "no-fields")):
        MetadataColumns.from_documents([{}] * count).save(directory)
        loaded = MetadataColumns.load(directory)
        assert (loaded.num_rows, loaded.field_types) == (count, {})
        assert loaded.exists("x").tolist() == [False] * count


def _damage_json(change: Callable[[dict[str, Any]], None]) -> Callable[[Path], str]:
    def damage(directory: Path) -> str:
        path = directory / METADATA_FILE
        description = json.loads(path.read_text(encoding="utf-8"))
        change(description)
        path.write_text(json.dumps(description), encoding="utf-8")
        return METADATA_FILE

    return damage


def _damage_array(name: str, array: np.ndarray) -> Callable[[Path], str]:
    def damage(directory: Path) -> str:
        # Fields are saved in sorted order: lang is 0, tags 1, year 2.
        np.save(directory / name, array, allow_pickle=False)
        return name

    return damage


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda d: (d / METADATA_FILE).unlink() or METADATA_FILE, "cannot read"),
        (lambda d: (d / METADATA_FILE).write_text("{") or METADATA_FILE, "cannot read"),
        (_damage_json(lambda j: j.update(extra=1)), "expected an object with keys"),
        (_damage_json(lambda j: j.update(num_rows=-1)), "num_rows must be"),
        (
            lambda d: _damage_json(lambda j: j.update(num_rows=4))(d) and "metadata.0.codes.npy",
            "expected 4 rows",
        ),
        (_damage_json(lambda j: j["fields"][0].update(type="date")), r"fields\[0\] must be"),
        (_damage_json(lambda j: j["fields"].append(j["fields"][0])), r"fields\[3\] must be"),
        (_damage_json(lambda j: j.update(fields={})), r"fields\[0\] must be"),
        (lambda d: (d / "metadata.1.codes.npy").unlink() or "metadata.1.codes.npy", "cannot read"),
        (_damage_array("metadata.0.codes.npy", np.array([0, 1, 9], np.int32)), "codes from -1"),
        (_damage_array("metadata.0.codes.npy", np.array([0, 1, 1], np.int64)), "1-D int32"),
        (_damage_array("metadata.0.codes.npy", np.zeros((3, 1), np.int32)), "1-D int32"),
        (_damage_array("metadata.0.vocab_offsets.npy", np.array([0, 5], np.int64)), "offsets"),
        (_damage_array("metadata.1.codes.npy", np.array([-1, 0], np.int32)), "codes from 0"),
        (_damage_array("metadata.1.indptr.npy", np.array([0, 2, 1, 2], np.int64)), "offsets"),
        (
            lambda d: (
                _damage_array("metadata.1.present.npy", np.array([0, 0, 1], bool))(d)
                and "metadata.1.indptr.npy"
            ),
            "empty where absent",
        ),
        (_damage_array("metadata.2.values.npy", np.array([1, np.inf, 2])), "non-finite"),
        (_damage_array("metadata.2.present.npy", np.array([1, 1], bool)), "expected 3 rows"),
    ],
)
def test_load_refuses_damaged_files_naming_them(
    tmp_path: Path, damage: Callable[[Path], str], message: str
) -> None:
    metadatas = [{"lang": "en", "tags": ["a"], "year": 1}, {"lang": "de", "year": 2}, {"tags": []}]
    MetadataColumns.from_documents(metadatas).save(tmp_path)
    MetadataColumns.load(tmp_path)
    file_name = damage(tmp_path)
    with pytest.raises(IndexFormatError, match=rf"{file_name}.*{message}"):
        MetadataColumns.load(tmp_path)


def test_load_refuses_another_format_version(tmp_path: Path) -> None:
    MetadataColumns.from_documents([{"a": True}]).save(tmp_path)
    _damage_json(lambda j: j.update(format_version=99))(tmp_path)
    with pytest.raises(IndexVersionError, match="metadata format version 99"):
        MetadataColumns.load(tmp_path)


# --- take and concatenate ---------------------------------------------------------------------


def test_take_gathers_rows_in_any_order() -> None:
    rng = random.Random(3)
    metadatas = random_metadatas(rng, 30)
    columns = MetadataColumns.from_documents(metadatas)
    rows = [rng.randrange(30) for _ in range(50)]
    assert_same_rows(columns.take(np.array(rows)), [metadatas[r] for r in rows])
    assert columns.take(np.array([], dtype=np.int64)).num_rows == 0
    with pytest.raises(InvalidInputError, match="out of range"):
        columns.take([30])
    with pytest.raises(InvalidInputError, match="1-D integer"):
        columns.take(np.array([0.5]))


@pytest.mark.parametrize("seed", range(8))
def test_concatenate_keeps_masked_rows_and_re_encodes_vocabularies(
    tmp_path: Path, seed: int
) -> None:
    rng = random.Random(seed)
    parts, kept = [], []
    for position in range(rng.randint(1, 4)):
        # Each part holds a random subset of the fields: a missing one is absent in its rows.
        fields = {f: t for f, t in FIELDS.items() if rng.random() < 0.7}
        metadatas = random_metadatas(rng, rng.randint(0, 25), fields)
        columns = MetadataColumns.from_documents(metadatas)
        if position % 2:  # merging loaded (memory-mapped) segments is the usual case
            columns.save(tmp_path / str(position))
            columns = MetadataColumns.load(tmp_path / str(position))
        keep = np.array([rng.random() < 0.6 for _ in metadatas], dtype=bool)
        parts.append((columns, keep))
        kept += [m for m, k in zip(metadatas, keep, strict=True) if k]
    merged = MetadataColumns.concatenate(parts)
    assert_same_rows(merged, kept)
    for field in ("lang", "doi", "tags"):
        if field in merged.field_types:
            values = [m.get(field) for m in kept]
            used = {v for x in values if x is not None for v in (x if field == "tags" else [x])}
            assert len(Vocabulary(merged._columns[field])) == len(used)
    merged.save(tmp_path / "merged")
    assert_same_rows(MetadataColumns.load(tmp_path / "merged"), kept)


def test_concatenate_refuses_conflicting_types_and_bad_masks() -> None:
    numbers = MetadataColumns.from_documents([{"y": 1}])
    strings = MetadataColumns.from_documents([{"y": "1"}, {}])
    with pytest.raises(
        InvalidInputError,
        match=r"'y' is a number field in an earlier part and a string field in parts\[1\]",
    ):
        MetadataColumns.concatenate([(numbers, np.ones(1, bool)), (strings, np.ones(2, bool))])
    with pytest.raises(InvalidInputError, match=r"parts\[0\]: keep must be a bool mask of 1 rows"):
        MetadataColumns.concatenate([(numbers, np.ones(2, bool))])
    with pytest.raises(InvalidInputError, match="bool mask"):
        MetadataColumns.concatenate([(numbers, np.ones(1, int))])
    assert MetadataColumns.concatenate([]).num_rows == 0
