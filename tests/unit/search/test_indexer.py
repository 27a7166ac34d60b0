"""The write-time indexer over small resources (search.html, every search type)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from fhir_server.search.engine import SearchExpressionError
from fhir_server.search.entries import (
    QUANTITY_HIGH,
    CompositeEntry,
    DateEntry,
    IndexEntry,
    QuantityEntry,
    ReferenceEntry,
    StringEntry,
    TokenEntry,
    UriEntry,
    float_key,
)
from fhir_server.search.indexer import Indexer
from fhir_server.search.normalize import date_range
from fhir_server.search.registry import SearchRegistry, default_registry

LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"


@pytest.fixture(scope="module")
def registry() -> SearchRegistry:
    return default_registry()


@pytest.fixture(scope="module")
def fast(registry: SearchRegistry) -> Indexer:
    return Indexer(registry)


@pytest.fixture(scope="module")
def engine(registry: SearchRegistry) -> Indexer:
    return Indexer(registry, fast_path=False)


PATIENT: dict[str, Any] = {
    "resourceType": "Patient",
    "id": "p1",
    "meta": {
        "lastUpdated": "2024-01-01T00:00:00Z",
        "tag": [{"system": "http://example.org/tags", "code": "vip"}],
        "profile": ["http://hl7.org/fhir/us/core/StructureDefinition/us-core-patient"],
        "security": [
            {"system": "http://terminology.hl7.org/CodeSystem/v3-Confidentiality", "code": "R"}
        ],
        "source": "http://example.org/ehr",
    },
    "name": [{"family": "Müller", "given": ["Zoë"]}],
    "telecom": [
        {"system": "phone", "value": "555-1234"},
        {"system": "email", "value": "zoe@example.org"},
    ],
    "gender": "female",
    "birthDate": "1970-06",
    "deceasedDateTime": "2020-01-02T03:04:05+01:00",
    "generalPractitioner": [{"reference": "Practitioner/d1"}],
    "managingOrganization": {"reference": "#org1"},
}


def by_param(entries: list[IndexEntry], param: str) -> list[IndexEntry]:
    return [e for e in entries if e.param == param]


class TestPatient:
    def test_strings_are_folded_and_exact(self, fast: Indexer) -> None:
        entries = fast.index(PATIENT)
        assert by_param(entries, "family") == [StringEntry("family", "muller", "Müller")]
        assert StringEntry("name", "zoe", "Zoë") in by_param(entries, "name")

    def test_telecom_filters(self, fast: Indexer) -> None:
        entries = fast.index(PATIENT)
        assert by_param(entries, "email") == [TokenEntry("email", None, "zoe@example.org", None)]
        assert by_param(entries, "phone") == [TokenEntry("phone", None, "555-1234", None)]
        assert len(by_param(entries, "telecom")) == 2

    def test_dates_and_booleans(self, fast: Indexer) -> None:
        entries = fast.index(PATIENT)
        low, high = date_range("1970-06") or (0, 0)
        assert by_param(entries, "birthdate") == [DateEntry("birthdate", low, high)]
        assert by_param(entries, "deceased") == [TokenEntry("deceased", None, "true", None)]
        (death,) = by_param(entries, "death-date")
        assert isinstance(death, DateEntry)
        assert death.low == (date_range("2020-01-02T02:04:05Z") or (0, 0))[0]

    def test_common_parameters_but_not_the_columns(self, fast: Indexer) -> None:
        entries = fast.index(PATIENT)
        assert by_param(entries, "_tag") == [
            TokenEntry("_tag", "http://example.org/tags", "vip", None)
        ]
        assert by_param(entries, "_profile") == [
            UriEntry("_profile", "http://hl7.org/fhir/us/core/StructureDefinition/us-core-patient")
        ]
        assert len(by_param(entries, "_security")) == 1
        assert by_param(entries, "_source") == [UriEntry("_source", "http://example.org/ehr")]
        assert by_param(entries, "_id") == []
        assert by_param(entries, "_lastUpdated") == []

    def test_references(self, fast: Indexer) -> None:
        entries = fast.index(PATIENT)
        assert by_param(entries, "general-practitioner") == [
            ReferenceEntry("general-practitioner", "Practitioner", "d1", None, None, None, None)
        ]
        assert by_param(entries, "organization") == []  # a contained reference

    def test_indexing_does_not_change_the_resource(self, fast: Indexer) -> None:
        before = copy.deepcopy(PATIENT)
        fast.index(PATIENT)
        assert before == PATIENT


def systolic(value: float, code: str = "8480-6") -> dict[str, Any]:
    return {
        "code": {"coding": [{"system": LOINC, "code": code}]},
        "valueQuantity": {"value": value, "unit": "mm[Hg]", "system": UCUM, "code": "mm[Hg]"},
    }


OBSERVATION: dict[str, Any] = {
    "resourceType": "Observation",
    "status": "final",
    "code": {"coding": [{"system": LOINC, "code": "85354-9"}], "text": "Blood pressure"},
    "subject": {"reference": "Patient/p1"},
    "performer": [{"reference": "Group/g1"}],
    "effectiveDateTime": "2020-05-01T10:00:00Z",
    "component": [systolic(120), systolic(80, "8462-4")],
}


class TestObservation:
    def test_where_resolve_is_patient(self, fast: Indexer) -> None:
        entries = fast.index(OBSERVATION)
        assert by_param(entries, "patient") == [
            ReferenceEntry("patient", "Patient", "p1", None, None, None, None)
        ]
        group = {**OBSERVATION, "subject": {"reference": "Group/g1"}}
        assert by_param(fast.index(group), "patient") == []

    def test_component_composites_pair_values_of_the_same_component(self, fast: Indexer) -> None:
        composites = [
            e
            for e in by_param(fast.index(OBSERVATION), "component-code-value-quantity")
            if isinstance(e, CompositeEntry)
        ]
        pairs = {(c.components[0][1], c.components[1][2:4]) for c in composites}
        assert pairs == {("8480-6", (UCUM, "mm[Hg]")), ("8462-4", (UCUM, "mm[Hg]"))}
        assert len(composites) == 2  # no systolic code with the diastolic value

    def test_composite_query_can_be_answered_from_the_keys(self, fast: Indexer) -> None:
        # component-code-value-quantity=http://loinc.org|8480-6$gt100: the value 100 is
        # [99.5, 100.5], so "gt" asks for a stored range reaching above 100.5.
        entries = fast.index(OBSERVATION)

        def matches(threshold: float) -> bool:
            return any(
                isinstance(e, CompositeEntry)
                and e.param == "component-code-value-quantity"
                and e.components[0] == (LOINC, "8480-6")
                and e.components[1][QUANTITY_HIGH] > float_key(threshold)
                for e in entries
            )

        assert matches(100.5)
        assert not matches(120.5)

    def test_top_level_value_composite_needs_a_value(self, fast: Indexer) -> None:
        entries = fast.index(OBSERVATION)
        assert by_param(entries, "code-value-quantity") == []
        with_value = {**OBSERVATION, "valueQuantity": {"value": 7, "system": UCUM, "code": "kg"}}
        (entry,) = by_param(fast.index(with_value), "code-value-quantity")
        assert isinstance(entry, CompositeEntry)
        assert entry.components[0] == (LOINC, "85354-9")

    def test_combo_code_includes_component_codes(self, fast: Indexer) -> None:
        codes = {
            e.code
            for e in by_param(fast.index(OBSERVATION), "combo-code")
            if isinstance(e, TokenEntry)
        }
        assert codes == {"85354-9", "8480-6", "8462-4", None}

    def test_duplicates_are_removed(self, fast: Indexer) -> None:
        twice = {**OBSERVATION, "category": [OBSERVATION["code"], OBSERVATION["code"]]}
        entries = fast.index(twice)
        assert len(entries) == len(set(entries))
        assert len(by_param(entries, "category")) == 2  # one coding, one text


def test_bundle_first_entry_is_the_composition(fast: Indexer) -> None:
    bundle = {
        "resourceType": "Bundle",
        "type": "document",
        "entry": [
            {"resource": {"resourceType": "Composition", "id": "c1"}},
            {"resource": {"resourceType": "Patient", "id": "p1"}},
        ],
    }
    assert by_param(fast.index(bundle), "composition") == [
        ReferenceEntry("composition", "Composition", "c1", None, None, None, None)
    ]
    # R4 defines "message" with the very same expression (the bundle type is not checked).
    (message,) = by_param(fast.index(bundle), "message")
    assert isinstance(message, ReferenceEntry) and message.target_id == "c1"


def test_percent_resource_in_a_composite_component(fast: Indexer, engine: Indexer) -> None:
    sequence = {
        "resourceType": "MolecularSequence",
        "coordinateSystem": 0,
        "referenceSeq": {"chromosome": {"coding": [{"code": "1"}]}, "windowStart": 10},
        "variant": [{"start": 22125500, "end": 22125510}],
    }
    entries = fast.index(sequence)
    (variant,) = by_param(entries, "chromosome-variant-coordinate")
    assert isinstance(variant, CompositeEntry)
    assert variant.components[0] == ("", "1")
    assert set(entries) == set(engine.index(sequence))


def test_money_is_indexed_as_a_quantity_in_its_currency(fast: Indexer) -> None:
    charge = {
        "resourceType": "ChargeItem",
        "priceOverride": {"value": 12.5, "currency": "EUR"},
        "quantity": {"value": 2},
    }
    entries = fast.index(charge)
    (price,) = by_param(entries, "price-override")
    assert isinstance(price, QuantityEntry)
    assert (price.code, price.low, price.high) == ("EUR", 12.45, 12.55)


@pytest.mark.parametrize("resource", [PATIENT, OBSERVATION])
def test_walkers_agree_with_the_engine(
    fast: Indexer, engine: Indexer, resource: dict[str, Any]
) -> None:
    assert set(fast.index(resource)) == set(engine.index(resource))


def test_every_r4_expression_compiles_to_walkers(fast: Indexer, registry: SearchRegistry) -> None:
    for resource_type in registry.resource_types:
        coverage = fast.coverage(resource_type)
        assert coverage.engine_branches == 0, (resource_type, coverage.engine_params)
        assert coverage.walker_branches > 0


def test_custom_parameter_outside_the_subset_runs_on_the_engine(registry: SearchRegistry) -> None:
    custom = registry.with_custom(
        [
            {
                "url": "http://example.org/SearchParameter/first-given",
                "code": "first-given",
                "base": ["Patient"],
                "type": "string",
                "expression": "Patient.name.given.first() | Patient.nickname",
            }
        ]
    )
    indexer = Indexer(custom)
    coverage = indexer.coverage("Patient")
    assert coverage.engine_params == ("first-given",)
    assert coverage.engine_branches == 2
    patient = {"resourceType": "Patient", "name": [{"given": ["Ann", "Bo"]}, {"given": ["Cy"]}]}
    assert by_param(indexer.index(patient), "first-given") == [
        StringEntry("first-given", "ann", "Ann")
    ]


def test_resource_without_type_is_refused(fast: Indexer) -> None:
    with pytest.raises(ValueError, match="resourceType"):
        fast.index({"id": "x"})


def _custom(registry: SearchRegistry, expression: str) -> Indexer:
    param = {
        "url": "http://example.org/SearchParameter/x",
        "code": "x",
        "base": ["Patient"],
        "type": "string",
        "expression": expression,
    }
    return Indexer(registry.with_custom([param]))


def test_broken_custom_expression_is_a_422_naming_it(registry: SearchRegistry) -> None:
    indexer = _custom(registry, "Patient.name.where(")
    with pytest.raises(SearchExpressionError, match=r"Patient\.name\.where\(") as caught:
        indexer.index({"resourceType": "Patient", "name": [{"given": ["A"]}]})
    assert caught.value.status == 422


def test_custom_expression_that_fails_on_some_resources(registry: SearchRegistry) -> None:
    indexer = _custom(registry, "Patient.name.given.single()")
    one = indexer.index({"resourceType": "Patient", "name": [{"given": ["Ann"]}]})
    assert by_param(one, "x") == [StringEntry("x", "ann", "Ann")]
    with pytest.raises(SearchExpressionError, match="single"):
        indexer.index({"resourceType": "Patient", "name": [{"given": ["A", "B"]}]})
