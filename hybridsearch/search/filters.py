"""Metadata filters: a small JSON-like language, parsed and checked once, evaluated as masks.

The language (the CLI's ``--filter`` takes the same JSON)::

    {"lang": "en"}                          equality; several keys in one object = and
    {"year": {"gte": 2020, "lt": 2024}}     ranges: gt, gte, lt, lte (numbers only)
    {"lang": {"in": ["en", "de"]}}          any of
    {"tags": "biology"}                     on a string_list field: contains
    {"doi": {"exists": true}}               the field holds a value (not null / missing)
    {"and": [f, ...]}, {"or": [f, ...]}, {"not": f}

``and``, ``or`` and ``not`` are reserved: a metadata field of that name cannot be filtered on.
A field no document holds is not an error: it matches nothing (so ``{"not": ...}`` of it, or
``{"exists": false}``, matches everything). A document without the field fails every
condition on it, and so passes ``not`` of one, as Elasticsearch's ``must_not`` does.

:func:`parse_filter` turns a spec into a :class:`Filter` (errors name the place in the spec,
``filter.and[1].year``); :func:`check_filter` checks it against an index's field types;
:func:`evaluate_filter` gives the bool mask of one segment's document rows.
"""

from __future__ import annotations

import dataclasses
import json
import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import reduce
from typing import Any

import numpy as np

from hybridsearch.corpus.documents import check_metadata_value, metadata_type
from hybridsearch.corpus.metadata import RANGE_OPERATORS, VALUE_KIND, MetadataColumns
from hybridsearch.errors import InvalidInputError

__all__ = [
    "FIELD_OPERATORS",
    "LOGICAL_OPERATORS",
    "OPERATORS",
    "Filter",
    "check_filter",
    "evaluate_filter",
    "parse_filter",
]

#: Operators that combine filters.
LOGICAL_OPERATORS = ("and", "or", "not")
#: Operators written inside a field's object (equality is the field's plain value).
FIELD_OPERATORS = ("in", *RANGE_OPERATORS, "exists")
#: Every :attr:`Filter.op`.
OPERATORS = ("eq", *FIELD_OPERATORS, *LOGICAL_OPERATORS)

_SYMBOLS = {"gt": ">", "gte": ">=", "lt": "<", "lte": "<="}


@dataclass(frozen=True)
class Filter:
    """One node of a filter tree, immutable and checked when made.

    Attributes:
        op: One of :data:`OPERATORS`.
        field: The metadata field of a condition; ``None`` for and/or/not.
        value: ``eq``: a string, number or bool; ``in``: a tuple of those, of one kind;
            ``gt``/``gte``/``lt``/``lte``: a number; ``exists``: a bool; else ``None``.
        children: The operands of and/or (one or more) and not (exactly one).
        kind: The kind of value an ``eq`` or ``in`` compares with (``"string"``,
            ``"number"``, ``"bool"``; ``None`` for an empty ``in`` and other operators).
            Derived, so ``{"x": true}`` and ``{"x": 1}`` never compare equal.
    """

    op: str
    field: str | None = None
    value: Any = None
    children: tuple[Filter, ...] = ()
    kind: str | None = dataclasses.field(init=False, default=None)

    def __post_init__(self) -> None:
        if self.op not in OPERATORS:
            raise InvalidInputError(
                f"unknown filter operator {self.op!r}; expected one of: {', '.join(OPERATORS)}"
            )
        if self.op in LOGICAL_OPERATORS:
            children = self.children
            if (
                self.field is not None
                or self.value is not None
                or not isinstance(children, tuple)
                or not all(isinstance(child, Filter) for child in children)
                or not (len(children) == 1 if self.op == "not" else len(children) >= 1)
            ):
                count = "exactly one Filter" if self.op == "not" else "one or more Filters"
                raise InvalidInputError(
                    f"filter {self.op!r} takes {count} as children and no field or value"
                )
            return
        if not isinstance(self.field, str) or not self.field or self.field in LOGICAL_OPERATORS:
            raise InvalidInputError(
                f"filter {self.op!r}: field must be a non-empty str other than and/or/not, got "
                f"{self.field!r}"
            )
        if self.children:
            raise InvalidInputError(f"filter {self.op!r} on {self.field!r} takes no children")
        value = _operand(self.op, self.value, f"filter on {self.field!r}")
        object.__setattr__(self, "value", value)
        kinds = [metadata_type(item) for item in (value if self.op == "in" else [value])]
        kind = kinds[0] if self.op in ("eq", "in") and kinds else None
        object.__setattr__(self, "kind", kind)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form, which :func:`parse_filter` reads back to an equal Filter."""
        if self.op in ("and", "or"):
            return {self.op: [child.to_dict() for child in self.children]}
        if self.op == "not":
            return {"not": self.children[0].to_dict()}
        assert self.field is not None
        if self.op == "eq":
            return {self.field: self.value}
        return {self.field: {self.op: list(self.value) if self.op == "in" else self.value}}

    def describe(self) -> str:
        """A readable one-liner: ``lang = "en" AND (year >= 2020 OR NOT tags = "x")``."""
        if self.op in ("and", "or"):
            return f" {self.op.upper()} ".join(child._nested() for child in self.children)
        if self.op == "not":
            return f"NOT {self.children[0]._nested()}"
        if self.op == "exists":
            return f"{self.field} {'exists' if self.value else 'is missing'}"
        shown = list(self.value) if self.op == "in" else self.value
        symbol = {"eq": "=", "in": "in"}.get(self.op) or _SYMBOLS[self.op]
        return f"{self.field} {symbol} {json.dumps(shown, ensure_ascii=False)}"

    def fields(self) -> frozenset[str]:
        """The metadata fields the filter reads."""
        if self.field is not None:
            return frozenset([self.field])
        return frozenset().union(*(child.fields() for child in self.children))

    def _nested(self) -> str:
        text = self.describe()
        return f"({text})" if self.op in ("and", "or") and len(self.children) > 1 else text


def parse_filter(spec: Any) -> Filter:
    """The :class:`Filter` of a JSON-like spec (see the module docstring); a Filter passes.

    Raises:
        InvalidInputError: The spec is malformed; the message names the place in it
            (``filter.and[1].year.gte``) and what was expected there.
    """
    if isinstance(spec, Filter):
        return spec
    return _parse(spec, "filter")


def check_filter(flt: Filter, field_types: Mapping[str, str]) -> None:
    """Check that each condition suits its field's type (field name -> a FIELD_TYPES entry).

    An unknown field is not an error (it matches nothing).

    Raises:
        InvalidInputError: A range on a field that is not a number field, or an equality /
            ``in`` value of another type than the field's; the message names the field, its
            type and the condition.
    """
    if flt.op in LOGICAL_OPERATORS:
        for child in flt.children:
            check_filter(child, field_types)
        return
    field_type = field_types.get(flt.field or "")
    if field_type is None or flt.op == "exists":
        return
    if flt.op in RANGE_OPERATORS and field_type != "number":
        raise InvalidInputError(
            f"filter {flt.describe()!r}: {flt.op!r} compares numbers, but {flt.field!r} is a "
            f"{field_type} field"
        )
    expected = VALUE_KIND[field_type]
    if flt.kind is not None and flt.kind != expected:
        raise InvalidInputError(
            f"filter {flt.describe()!r}: {flt.field!r} is a {field_type} field, so it is matched "
            f"against {expected} values, not {flt.kind} values"
        )


def evaluate_filter(flt: Filter, columns: MetadataColumns) -> np.ndarray:
    """The rows of ``columns`` that pass ``flt`` (a bool array of ``columns.num_rows``).

    Raises:
        InvalidInputError: ``flt`` does not suit the columns' field types (:func:`check_filter`).
    """
    check_filter(flt, columns.field_types)
    return _mask(flt, columns)


def _mask(flt: Filter, columns: MetadataColumns) -> np.ndarray:
    if flt.op == "and":
        return reduce(np.logical_and, (_mask(child, columns) for child in flt.children))
    if flt.op == "or":
        return reduce(np.logical_or, (_mask(child, columns) for child in flt.children))
    if flt.op == "not":
        return ~_mask(flt.children[0], columns)
    assert flt.field is not None
    if flt.op == "eq":
        return columns.equals(flt.field, flt.value)
    if flt.op == "in":
        return columns.isin(flt.field, flt.value)
    if flt.op == "exists":
        present = columns.exists(flt.field)
        return present if flt.value else ~present
    return columns.compare(flt.field, flt.op, flt.value)


# --- parsing --------------------------------------------------------------------------------


def _parse(spec: Any, path: str) -> Filter:
    if not isinstance(spec, Mapping):
        raise InvalidInputError(
            f"{path}: expected an object (field conditions, and, or, not), got {_shown(spec)}"
        )
    if not spec:
        raise InvalidInputError(f"{path}: expected at least one condition, got an empty object")
    conditions: list[Filter] = []
    for key, value in spec.items():
        if not isinstance(key, str) or not key:
            raise InvalidInputError(
                f"{path}: keys must be field names or and/or/not (non-empty strings), got {key!r}"
            )
        here = f"{path}.{key}"
        if key in ("and", "or"):
            if not _is_list(value) or not value:
                raise InvalidInputError(
                    f"{here}: expected a non-empty list of filters, got {_shown(value)}"
                )
            items = tuple(_parse(item, f"{here}[{i}]") for i, item in enumerate(value))
            conditions.append(Filter(key, children=items))
        elif key == "not":
            conditions.append(Filter("not", children=(_parse(value, here),)))
        else:
            conditions.extend(_parse_field(key, value, here))
    return conditions[0] if len(conditions) == 1 else Filter("and", children=tuple(conditions))


def _parse_field(name: str, spec: Any, path: str) -> list[Filter]:
    if not isinstance(spec, Mapping):
        if spec is None:
            raise InvalidInputError(
                f'{path}: null matches nothing; use {{"exists": false}} for documents without '
                "the field"
            )
        if _is_list(spec):
            raise InvalidInputError(
                f'{path}: a list is not a value to match; use {{"in": [...]}} for any of them'
            )
        return [Filter("eq", name, _operand("eq", spec, path))]
    if not spec:
        raise InvalidInputError(
            f"{path}: expected one or more operators ({', '.join(FIELD_OPERATORS)}), got an "
            "empty object"
        )
    conditions = []
    for op, operand in spec.items():
        if op not in FIELD_OPERATORS:
            raise InvalidInputError(
                f"{path}: unknown operator {op!r}; expected one of: {', '.join(FIELD_OPERATORS)} "
                "(equality is the plain value)"
            )
        conditions.append(Filter(op, name, _operand(op, operand, f"{path}.{op}")))
    return conditions


def _operand(op: str, value: Any, where: str) -> Any:
    """The checked operand of a field condition, in its stored form (tuples for ``in``)."""
    if op == "exists":
        if not isinstance(value, bool | np.bool_):
            raise InvalidInputError(f"{where}: expected true or false, got {_shown(value)}")
        return bool(value)
    if op == "in":
        if not _is_list(value):
            raise InvalidInputError(
                f"{where}: expected a list of strings, numbers or bools, got {_shown(value)}"
            )
        items = tuple(_scalar(item, f"{where}[{i}]") for i, item in enumerate(value))
        kinds = sorted({str(metadata_type(item)) for item in items})
        if len(kinds) > 1:
            raise InvalidInputError(
                f"{where}: expected values of one type, got {' and '.join(kinds)} values"
            )
        return items
    scalar = _scalar(value, where)
    if op in RANGE_OPERATORS and metadata_type(scalar) != "number":
        raise InvalidInputError(f"{where}: expected a number, got {_shown(value)}")
    return scalar


def _scalar(value: Any, where: str) -> Any:
    if isinstance(value, str | bool | np.bool_ | numbers.Real):
        try:
            return check_metadata_value(value)
        except InvalidInputError as error:
            raise InvalidInputError(f"{where}: the value {error}") from None
    raise InvalidInputError(f"{where}: expected a string, a number or a bool, got {_shown(value)}")


def _is_list(value: Any) -> bool:
    return isinstance(value, Sequence) and not isinstance(value, str | bytes)


def _shown(value: Any) -> str:
    text = repr(value)
    return f"a {type(value).__name__} {text if len(text) <= 60 else text[:57] + '...'}"
