"""Element values to index entries, per search type (search.html#ptypes)."""

from __future__ import annotations

from typing import Any

import pytest

from fhir_server.search.convert import converter_for
from fhir_server.search.entries import (
    DATE_MAX,
    DATE_MIN,
    NUMBER_MAX,
    NUMBER_MIN,
    DateEntry,
    IndexEntry,
    NumberEntry,
    QuantityEntry,
    ReferenceEntry,
    StringEntry,
    TokenEntry,
    UriEntry,
)
from fhir_server.search.normalize import date_range

UCUM = "http://unitsofmeasure.org"


def entries(param_type: str, element_type: str, value: Any) -> list[IndexEntry]:
    convert = converter_for(param_type, element_type)
    assert convert is not None, (param_type, element_type)
    out: list[IndexEntry] = []
    convert("p", value, out)
    return out


def low(text: str) -> int:
    found = date_range(text)
    assert found is not None
    return found[0]


def high(text: str) -> int:
    found = date_range(text)
    assert found is not None
    return found[1]


class TestString:
    def test_primitive_keeps_exact_and_folds_value(self) -> None:
        assert entries("string", "string", "Zoë") == [StringEntry("p", "zoe", "Zoë")]

    def test_human_name_indexes_every_part(self) -> None:
        name = {"family": "Müller", "given": ["Jörg", "K"], "prefix": ["Dr."], "text": "Dr. J"}
        assert [e.exact for e in entries("string", "HumanName", name)] == [  # type: ignore[union-attr]
            "Müller",
            "Jörg",
            "K",
            "Dr.",
            "Dr. J",
        ]

    def test_address_parts(self) -> None:
        address = {"line": ["1 Main St"], "city": "Peabody", "postalCode": "01960", "use": "home"}
        assert [e.value for e in entries("string", "Address", address)] == [  # type: ignore[union-attr]
            "1 main st",
            "peabody",
            "01960",
        ]

    def test_code_is_a_string_subtype(self) -> None:
        assert entries("string", "code", "final") == [StringEntry("p", "final", "final")]


class TestToken:
    def test_codeable_concept_gives_codings_and_its_text(self) -> None:
        concept = {
            "coding": [{"system": "http://loinc.org", "code": "8480-6", "display": "Systolic"}],
            "text": "Blood Pressure",
        }
        assert entries("token", "CodeableConcept", concept) == [
            TokenEntry("p", "http://loinc.org", "8480-6", "systolic"),
            TokenEntry("p", None, None, "blood pressure"),
        ]

    def test_identifier_gives_system_value_and_type_text(self) -> None:
        identifier = {"system": "urn:oid:1.2", "value": "S99", "type": {"text": "Driver's License"}}
        assert entries("token", "Identifier", identifier) == [
            TokenEntry("p", "urn:oid:1.2", "S99", "driver's license")
        ]

    def test_contact_point_gives_its_value(self) -> None:
        point = {"system": "phone", "value": "555-969-2143", "use": "home"}
        assert entries("token", "ContactPoint", point) == [
            TokenEntry("p", None, "555-969-2143", None)
        ]

    @pytest.mark.parametrize(("value", "code"), [(True, "true"), (False, "false")])
    def test_boolean(self, value: bool, code: str) -> None:
        assert entries("token", "boolean", value) == [TokenEntry("p", None, code, None)]

    def test_code_has_no_system(self) -> None:
        assert entries("token", "code", "male") == [TokenEntry("p", None, "male", None)]

    def test_coding_without_system_or_code_gives_nothing(self) -> None:
        assert entries("token", "Coding", {"display": "just text"}) == []


class TestReference:
    def test_relative(self) -> None:
        assert entries("reference", "Reference", {"reference": "Patient/123"}) == [
            ReferenceEntry("p", "Patient", "123", None, None, None, None)
        ]

    def test_logical_identifier(self) -> None:
        ref = {"identifier": {"system": "http://hl7.org/fhir/sid/us-npi", "value": "9999"}}
        assert entries("reference", "Reference", ref) == [
            ReferenceEntry("p", None, None, None, None, "http://hl7.org/fhir/sid/us-npi", "9999")
        ]

    def test_urn_uuid_with_declared_type(self) -> None:
        ref = {"reference": "urn:uuid:abc", "type": "Patient"}
        assert entries("reference", "Reference", ref) == [
            ReferenceEntry("p", "Patient", None, "urn:uuid:abc", None, None, None)
        ]

    def test_contained_and_display_only_are_skipped(self) -> None:
        assert entries("reference", "Reference", {"reference": "#med1"}) == []
        assert entries("reference", "Reference", {"display": "Dr. Who"}) == []

    def test_canonical_with_version(self) -> None:
        assert entries("reference", "canonical", "http://x.org/fhir/Questionnaire/q|2") == [
            ReferenceEntry(
                "p", "Questionnaire", None, "http://x.org/fhir/Questionnaire/q", "2", None, None
            )
        ]

    def test_a_resource_is_its_own_target(self) -> None:
        assert entries("reference", "Resource", {"resourceType": "Composition", "id": "c1"}) == [
            ReferenceEntry("p", "Composition", "c1", None, None, None, None)
        ]


class TestDate:
    def test_date_keeps_precision(self) -> None:
        assert entries("date", "date", "2020") == [DateEntry("p", low("2020"), high("2020"))]

    def test_instant_is_exact(self) -> None:
        text = "2016-09-13T06:53:25.123+00:00"
        assert entries("date", "instant", text) == [DateEntry("p", low(text), low(text))]

    def test_period_spans_start_low_to_end_high(self) -> None:
        period = {"start": "2020-01-05", "end": "2020-02"}
        assert entries("date", "Period", period) == [
            DateEntry("p", low("2020-01-05"), high("2020-02"))
        ]

    def test_period_open_ends(self) -> None:
        assert entries("date", "Period", {"start": "2020"}) == [
            DateEntry("p", low("2020"), DATE_MAX)
        ]
        assert entries("date", "Period", {"end": "2020"}) == [
            DateEntry("p", DATE_MIN, high("2020"))
        ]
        assert entries("date", "Period", {}) == []

    def test_timing_spans_events_and_bounds(self) -> None:
        timing = {
            "event": ["2020-03-01T10:00:00Z", "2020-01-01"],
            "repeat": {"boundsPeriod": {"start": "2019-12-30", "end": "2020-02-01"}},
        }
        assert entries("date", "Timing", timing) == [
            DateEntry("p", low("2019-12-30"), high("2020-03-01T10:00:00Z"))
        ]

    def test_unparseable_date_gives_nothing(self) -> None:
        assert entries("date", "dateTime", "not a date") == []


class TestNumberAndQuantity:
    def test_number_precision(self) -> None:
        assert entries("number", "integer", 100) == [NumberEntry("p", 99.5, 100.5)]

    def test_positive_int_is_an_integer(self) -> None:
        assert entries("number", "positiveInt", 3) == [NumberEntry("p", 2.5, 3.5)]

    def test_quantity_is_canonicalized(self) -> None:
        quantity = {"value": 5.4, "unit": "mg/dL", "system": UCUM, "code": "mg/dL"}
        (entry,) = entries("quantity", "Quantity", quantity)
        assert isinstance(entry, QuantityEntry)
        assert (entry.low, entry.high) == pytest.approx((5.35, 5.45))
        assert (entry.system, entry.code, entry.unit) == (UCUM, "mg/dL", "mg/dL")
        assert entry.canonical_code == "g.m-3"
        assert (entry.canonical_low, entry.canonical_high) == pytest.approx((53.5, 54.5))

    def test_pounds_become_grams(self) -> None:
        quantity = {"value": 150, "system": UCUM, "code": "[lb_av]"}
        (entry,) = entries("quantity", "Quantity", quantity)
        assert isinstance(entry, QuantityEntry)
        assert entry.canonical_code == "g"
        assert entry.canonical_low == pytest.approx(149.5 * 453.59237)

    def test_celsius_becomes_kelvin(self) -> None:
        (entry,) = entries("quantity", "Quantity", {"value": 37, "system": UCUM, "code": "Cel"})
        assert isinstance(entry, QuantityEntry)
        assert entry.canonical_code == "K"
        assert entry.canonical_low == pytest.approx(309.65)

    def test_non_ucum_units_are_not_canonicalized(self) -> None:
        (entry,) = entries("quantity", "Quantity", {"value": 2, "unit": "tablets"})
        assert isinstance(entry, QuantityEntry)
        assert (entry.canonical_low, entry.canonical_code, entry.unit) == (None, None, "tablets")

    def test_comparator_opens_the_range(self) -> None:
        (entry,) = entries("quantity", "Quantity", {"value": 5, "comparator": "<"})
        assert isinstance(entry, QuantityEntry)
        assert (entry.low, entry.high) == (NUMBER_MIN, 5.0)
        assert entry.is_range  # prefixes meet its ends, not a middle at -1e308

    def test_age_is_a_quantity(self) -> None:
        (entry,) = entries("quantity", "Age", {"value": 30, "system": UCUM, "code": "a"})
        assert isinstance(entry, QuantityEntry)
        assert entry.canonical_code == "s"

    def test_range(self) -> None:
        value = {"low": {"value": 1, "system": UCUM, "code": "mg"}, "high": {"value": 2}}
        (entry,) = entries("quantity", "Range", value)
        assert isinstance(entry, QuantityEntry)
        assert (entry.low, entry.high, entry.code, entry.is_range) == (1.0, 2.0, "mg", True)
        (open_ended,) = entries("number", "Range", {"low": {"value": 1}})
        assert open_ended == NumberEntry("p", 1.0, NUMBER_MAX, is_range=True)
        (stated,) = entries("number", "decimal", 1)
        assert not stated.is_range

    def test_money_uses_the_currency(self) -> None:
        (entry,) = entries("quantity", "Money", {"value": 10.5, "currency": "USD"})
        assert isinstance(entry, QuantityEntry)
        assert (entry.system, entry.code) == ("urn:iso:std:iso:4217", "USD")


def test_uri() -> None:
    assert entries("uri", "canonical", "http://x.org/p") == [UriEntry("p", "http://x.org/p")]


@pytest.mark.parametrize(
    ("param_type", "element_type"),
    [("quantity", "SampledData"), ("token", "Reference"), ("date", "Quantity"), ("special", "x")],
)
def test_pairs_without_meaning_have_no_converter(param_type: str, element_type: str) -> None:
    assert converter_for(param_type, element_type) is None
