"""Tests for hybridsearch.search.filters: parsing, type checks and masks against a Python oracle.

The oracle reads the filter spec (the JSON form, not the parsed tree) and a document's metadata
dict directly, as the language is documented; random filters over random documents must give
exactly its answers, before and after a save/load and a concatenation of segments.
"""

from __future__ import annotations

import json
import operator
import random
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from hybridsearch.corpus.metadata import MetadataColumns
from hybridsearch.errors import InvalidInputError
from hybridsearch.search.filters import Filter, check_filter, evaluate_filter, parse_filter
from tests.corpus.test_metadata import (
    FIELDS,
    NUMBERS,
    STRINGS,
    TAGS,
    random_metadatas,
    random_value,
)

_COMPARISONS = {"gt": operator.gt, "gte": operator.ge, "lt": operator.lt, "lte": operator.le}

# --- the oracle ---------------------------------------------------------------------------------


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    return "string" if isinstance(value, str) else "number"


def _equal(value: Any, target: Any) -> bool:
    if value is None:
        return False
    if isinstance(value, list):
        return target in value
    return _kind(value) == _kind(target) and value == target


def _condition(op: str, operand: Any, value: Any) -> bool:
    if op == "exists":
        return (value is not None) == operand
    if op == "in":
        return any(_equal(value, target) for target in operand)
    is_number = value is not None and _kind(value) == "number" and not isinstance(value, list)
    return is_number and _COMPARISONS[op](value, operand)


def oracle(spec: dict[str, Any], metadata: dict[str, Any]) -> bool:
    """Does a document with ``metadata`` pass ``spec``, read as the module docstring says."""
    for key, value in spec.items():
        if key == "and":
            passed = all(oracle(item, metadata) for item in value)
        elif key == "or":
            passed = any(oracle(item, metadata) for item in value)
        elif key == "not":
            passed = not oracle(value, metadata)
        elif isinstance(value, dict):
            passed = all(_condition(op, arg, metadata.get(key)) for op, arg in value.items())
        else:
            passed = _equal(metadata.get(key), value)
        if not passed:
            return False
    return True


# --- random filters (always well typed for FIELDS; "ghost" is a field no document has) ---------


def _random_condition(rng: random.Random) -> dict[str, Any]:
    field = rng.choice([*FIELDS, "ghost"])
    field_type = FIELDS.get(field) or rng.choice(["string", "number", "bool"])
    draw = rng.random()
    if draw < 0.15:
        return {field: {"exists": rng.random() < 0.5}}
    scalar_type = "string" if field_type == "string_list" else field_type
    pool = {"string": [*STRINGS, *TAGS], "number": [*NUMBERS, 2018, 2021.0], "bool": [True, False]}
    if draw < 0.5:
        return {field: rng.choice(pool[scalar_type])}
    if draw < 0.7 or scalar_type != "number":
        values = pool[scalar_type]
        return {field: {"in": rng.sample(values, rng.randint(0, min(3, len(values))))}}
    ops = rng.sample(list(_COMPARISONS), rng.randint(1, 2))
    return {field: {op: random_value(rng, "number") for op in ops}}


def random_filter(rng: random.Random, depth: int = 0) -> dict[str, Any]:
    draw = rng.random() if depth < 3 else 0.0
    if draw < 0.45:
        return _random_condition(rng)
    if draw < 0.6:  # several keys in one object: and
        return {**_random_condition(rng), **_random_condition(rng)}
    if draw < 0.75:
        return {"not": random_filter(rng, depth + 1)}
    items = [random_filter(rng, depth + 1) for _ in range(rng.randint(1, 3))]
    return {rng.choice(["and", "or"]): items}


# --- property tests -------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(40))
def test_evaluate_filter_equals_python_oracle(seed: int) -> None:
    rng = random.Random(seed)
    metadatas = random_metadatas(rng, rng.randint(0, 50))
    columns = MetadataColumns.from_documents(metadatas)
    for _ in range(25):
        spec = random_filter(rng)
        mask = evaluate_filter(parse_filter(spec), columns)
        assert mask.dtype == bool and mask.shape == (len(metadatas),)
        assert mask.tolist() == [oracle(spec, m) for m in metadatas], spec


@pytest.mark.parametrize("seed", range(6))
def test_filters_agree_after_save_load_and_concatenate(tmp_path: Path, seed: int) -> None:
    rng = random.Random(1000 + seed)
    parts, kept = [], []
    for position in range(3):
        fields = {f: t for f, t in FIELDS.items() if rng.random() < 0.8}
        metadatas = random_metadatas(rng, rng.randint(0, 30), fields)
        MetadataColumns.from_documents(metadatas).save(tmp_path / str(position))
        keep = np.array([rng.random() < 0.7 for _ in metadatas], dtype=bool)
        parts.append((MetadataColumns.load(tmp_path / str(position)), keep))
        kept += [m for m, k in zip(metadatas, keep, strict=True) if k]
    merged = MetadataColumns.concatenate(parts)
    for _ in range(30):
        spec = random_filter(rng)
        assert evaluate_filter(parse_filter(spec), merged).tolist() == [
            oracle(spec, m) for m in kept
        ], spec


@pytest.mark.parametrize("seed", range(10))
def test_to_dict_round_trips_through_json(seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(30):
        parsed = parse_filter(random_filter(rng))
        assert parse_filter(parsed.to_dict()) == parsed
        assert parse_filter(json.loads(json.dumps(parsed.to_dict()))) == parsed
        assert hash(parse_filter(parsed.to_dict())) == hash(parsed)
        assert isinstance(parsed.describe(), str)


# --- parsing --------------------------------------------------------------------------------------


def test_parse_builds_the_tree() -> None:
    assert parse_filter({"lang": "en"}) == Filter("eq", "lang", "en")
    assert parse_filter({"lang": "en", "year": {"gte": 2020, "lt": 2024}}) == Filter(
        "and",
        children=(
            Filter("eq", "lang", "en"),
            Filter("gte", "year", 2020),
            Filter("lt", "year", 2024),
        ),
    )
    assert parse_filter({"lang": {"in": ["en", "de"]}}) == Filter("in", "lang", ("en", "de"))
    assert parse_filter({"doi": {"exists": True}}) == Filter("exists", "doi", True)
    parsed = parse_filter({"or": [{"a": 1}, {"not": {"b": False}}]})
    assert parsed == Filter(
        "or", children=(Filter("eq", "a", 1), Filter("not", children=(Filter("eq", "b", False),)))
    )
    assert parse_filter(parsed) is parsed
    # Numpy scalars are accepted and stored as Python values.
    assert parse_filter({"y": np.int64(3), "f": np.bool_(True)}).children[0].value == 3
    # True and 1 are different filters, although True == 1 in Python.
    assert parse_filter({"x": True}) != parse_filter({"x": 1})
    assert parse_filter({"x": {"in": [True]}}) != parse_filter({"x": {"in": [1]}})


def test_describe_and_fields() -> None:
    parsed = parse_filter(
        {
            "lang": "en",
            "or": [{"year": {"gte": 2020}}, {"not": {"tags": {"in": ["a", "b"]}}}],
            "doi": {"exists": False},
        }
    )
    assert parsed.describe() == (
        'lang = "en" AND (year >= 2020 OR NOT tags in ["a", "b"]) AND doi is missing'
    )
    assert parsed.fields() == {"lang", "year", "tags", "doi"}
    assert parse_filter({"not": {"a": 1, "b": 2}}).describe() == "NOT (a = 1 AND b = 2)"


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ([{"a": 1}], r"^filter: expected an object .* got a list"),
        ({}, r"^filter: expected at least one condition, got an empty object"),
        (
            {"and": [{"a": 1}, {"year": {"gte": "x"}}]},
            r"^filter\.and\[1\]\.year\.gte: expected a number, got a str 'x'",
        ),
        ({"or": []}, r"^filter\.or: expected a non-empty list of filters"),
        ({"and": {"a": 1}}, r"^filter\.and: expected a non-empty list of filters, got a dict"),
        ({"not": [{"a": 1}]}, r"^filter\.not: expected an object"),
        ({"a": [1, 2]}, r'^filter\.a: a list is not a value to match; use \{"in": \[\.\.\.\]\}'),
        ({"a": None}, r'^filter\.a: null matches nothing; use \{"exists": false\}'),
        ({"a": {}}, r"^filter\.a: expected one or more operators"),
        ({"a": {"eq": 1}}, r"^filter\.a: unknown operator 'eq'; expected one of: in, gt, gte"),
        ({"a": {"in": "en"}}, r"^filter\.a\.in: expected a list of strings, numbers or bools"),
        (
            {"a": {"in": ["en", 1]}},
            r"^filter\.a\.in: expected values of one type, got number and string",
        ),
        (
            {"a": {"in": ["en", ["x"]]}},
            r"^filter\.a\.in\[1\]: expected a string, a number or a bool",
        ),
        ({"a": {"exists": 1}}, r"^filter\.a\.exists: expected true or false, got a int 1"),
        ({"a": {"lt": True}}, r"^filter\.a\.lt: expected a number, got a bool True"),
        (
            {"a": {"lt": float("inf")}},
            r"^filter\.a\.lt: the value is inf; expected a finite number",
        ),
        ({"a": 2**60}, r"^filter\.a: the value is the integer 1152921504606846976, beyond"),
        ({"a": {"gte": 1, "bad": 2}}, r"^filter\.a: unknown operator 'bad'"),
        ({"not": {"or": [{"b": {"x": 1}}]}}, r"^filter\.not\.or\[0\]\.b: unknown operator 'x'"),
        ({"": 1}, r"^filter: keys must be field names"),
        ({3: 1}, r"^filter: keys must be field names"),
        ({"d": {1, 2}}, r"^filter\.d: expected a string, a number or a bool, got a set"),
    ],
)
def test_parse_errors_name_the_path(spec: Any, message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        parse_filter(spec)


def test_filter_nodes_are_checked_when_made() -> None:
    with pytest.raises(InvalidInputError, match="unknown filter operator 'like'"):
        Filter("like", "a", "x")
    with pytest.raises(InvalidInputError, match="'not' takes exactly one Filter"):
        Filter("not", children=(Filter("eq", "a", 1), Filter("eq", "b", 1)))
    with pytest.raises(InvalidInputError, match="'and' takes one or more Filters"):
        Filter("and", children=())
    with pytest.raises(InvalidInputError, match="field must be a non-empty str other than"):
        Filter("eq", "or", 1)
    with pytest.raises(InvalidInputError, match="filter on 'a': expected a number"):
        Filter("gt", "a", "1")
    with pytest.raises(InvalidInputError, match="takes no children"):
        Filter("eq", "a", 1, children=(Filter("eq", "b", 1),))
    assert Filter("in", "a", ["x"]).value == ("x",)  # stored immutable


# --- type checks ----------------------------------------------------------------------------------

TYPES = {"lang": "string", "year": "number", "open": "bool", "tags": "string_list"}


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (
            {"lang": {"gte": 1}},
            r"'lang >= 1': 'gte' compares numbers, but 'lang' is a string field",
        ),
        ({"tags": {"lt": 3}}, "'lt' compares numbers, but 'tags' is a string_list field"),
        ({"open": {"gt": 0}}, "'gt' compares numbers, but 'open' is a bool field"),
        (
            {"year": "en"},
            r"'year = \"en\"': 'year' is a number field, so it is matched against number values, "
            "not string",
        ),
        ({"year": True}, "'year' is a number field, .* not bool values"),
        ({"open": 1}, "'open' is a bool field, so it is matched against bool values, not number"),
        ({"lang": {"in": [1, 2]}}, "'lang' is a string field, .* not number values"),
        ({"tags": False}, "'tags' is a string_list field, so it is matched against string values"),
        ({"or": [{"lang": "en"}, {"not": {"year": "x"}}]}, "'year' is a number field"),
    ],
)
def test_check_filter_refuses_a_type_mismatch(spec: dict[str, Any], message: str) -> None:
    parsed = parse_filter(spec)
    with pytest.raises(InvalidInputError, match=message):
        check_filter(parsed, TYPES)
    columns = MetadataColumns.from_documents(
        [{"lang": "en", "year": 2020, "open": True, "tags": ["x"]}]
    )
    with pytest.raises(InvalidInputError, match=message):
        evaluate_filter(parsed, columns)


def test_unknown_fields_match_nothing_and_well_typed_filters_pass() -> None:
    for spec in (
        {"lang": "en", "year": {"gte": 1, "lt": 2.5}, "open": False, "tags": "x"},
        {"tags": {"in": ["a"]}, "lang": {"exists": True}, "year": {"in": [1, 2.5]}},
        {"ghost": {"gte": 1}, "lang": {"in": []}},
    ):
        check_filter(parse_filter(spec), TYPES)
    columns = MetadataColumns.from_documents([{"lang": "en"}, {}])
    assert evaluate_filter(parse_filter({"ghost": "x"}), columns).tolist() == [False, False]
    assert evaluate_filter(parse_filter({"ghost": {"gt": 1}}), columns).tolist() == [False, False]
    assert evaluate_filter(parse_filter({"not": {"ghost": 1}}), columns).tolist() == [True, True]
    exists_false = parse_filter({"ghost": {"exists": False}})
    assert evaluate_filter(exists_false, columns).tolist() == [True, True]
    # A document without the field fails the condition and passes its negation.
    assert evaluate_filter(parse_filter({"not": {"lang": "en"}}), columns).tolist() == [False, True]
