"""Index entry types: frozen, slotted, hashable, and order-preserving composite keys."""

from __future__ import annotations

import dataclasses
import random

import pytest

from fhir_server.search.entries import (
    DATE_MAX,
    DATE_MIN,
    CompositeEntry,
    DateEntry,
    NumberEntry,
    QuantityEntry,
    ReferenceEntry,
    StringEntry,
    TokenEntry,
    UriEntry,
    float_key,
    int_key,
)

ALL = (
    StringEntry,
    TokenEntry,
    ReferenceEntry,
    DateEntry,
    NumberEntry,
    QuantityEntry,
    UriEntry,
    CompositeEntry,
)


@pytest.mark.parametrize("kind", ALL)
def test_entries_are_frozen_slotted_and_start_with_param(kind: type) -> None:
    assert hasattr(kind, "__slots__")
    fields = dataclasses.fields(kind)
    assert fields[0].name == "param"
    entry = kind(*(["p"] + [None] * (len(fields) - 1)))
    with pytest.raises(dataclasses.FrozenInstanceError):
        entry.param = "q"
    assert hash(entry) == hash(kind(*(["p"] + [None] * (len(fields) - 1))))


def test_field_order_is_the_contract_adapters_match_on() -> None:
    assert [f.name for f in dataclasses.fields(ReferenceEntry)] == [
        "param",
        "target_type",
        "target_id",
        "url",
        "version",
        "identifier_system",
        "identifier_value",
    ]
    assert [f.name for f in dataclasses.fields(QuantityEntry)] == [
        "param",
        "low",
        "high",
        "system",
        "code",
        "unit",
        "canonical_low",
        "canonical_high",
        "canonical_code",
        "is_range",
    ]


def test_float_key_sorts_like_the_numbers() -> None:
    values = [-1e300, -100.5, -1.0, -1e-9, 0.0, -0.0, 1e-9, 1.0, 99.5, 100.0, 100.5, 1e300]
    random.Random(4).shuffle(values)
    by_key = sorted(values, key=float_key)
    assert by_key == sorted(values)
    assert float_key(-0.0) == float_key(0.0)
    assert all(len(float_key(v)) == 16 for v in values)


def test_int_key_sorts_like_the_numbers_over_the_whole_int64_range() -> None:
    values = [DATE_MIN, -(10**15), -1, 0, 1, 1_473_749_605_000_000, DATE_MAX]
    assert sorted(values, key=int_key) == sorted(values)
    assert int_key(DATE_MIN) == "0" * 16
    assert int_key(DATE_MAX) == "f" * 16
