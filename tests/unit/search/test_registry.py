"""The SearchParameter registry and the Patient compartment tables."""

from __future__ import annotations

import pytest

from fhir_server.search.compartment import default_patient_compartment
from fhir_server.search.entries import IndexEntry, ReferenceEntry, TokenEntry
from fhir_server.search.registry import (
    ComponentDef,
    InvalidSearchParameter,
    SearchParameterDef,
    SearchRegistry,
    default_registry,
)

SP = "http://hl7.org/fhir/SearchParameter/"


@pytest.fixture(scope="module")
def registry() -> SearchRegistry:
    return default_registry()


def test_all_r4_parameters_are_present(registry: SearchRegistry) -> None:
    assert len(registry) == 1378
    assert len({p.url for p in registry}) == 1378
    assert sum(1 for p in registry if p.type == "composite") == 46
    assert len(registry.resource_types) == 147


def test_get_own_and_common_parameters(registry: SearchRegistry) -> None:
    family = registry.get("Patient", "family")
    assert family is not None
    assert (family.type, family.expression) == (
        "string",
        "Patient.name.family | Practitioner.name.family",
    )
    for code in ("_id", "_lastUpdated", "_tag", "_profile", "_security", "_source", "_text"):
        assert registry.get("Observation", code) is not None, code
    assert registry.get("Patient", "no-such-param") is None


def test_for_type_includes_common_parameters_but_bundle_has_no_text(
    registry: SearchRegistry,
) -> None:
    patient = {p.code for p in registry.for_type("Patient")}
    assert {"_id", "_tag", "_profile", "_text", "family", "birthdate"} <= patient
    bundle = {p.code for p in registry.for_type("Bundle")}
    assert "_tag" in bundle
    assert "_text" not in bundle  # Bundle is a Resource, not a DomainResource


def test_multi_base_parameter(registry: SearchRegistry) -> None:
    patient_name = registry.get("Patient", "phonetic")
    person_name = registry.get("Person", "phonetic")
    assert patient_name is person_name
    assert patient_name is not None
    assert {"Patient", "Person", "Practitioner", "RelatedPerson"} <= set(patient_name.base)


def test_reference_targets_and_comparators(registry: SearchRegistry) -> None:
    subject = registry.get("Observation", "subject")
    assert subject is not None
    assert "Patient" in subject.target
    date = registry.get("Observation", "date")
    assert date is not None
    assert "ge" in date.comparators


def test_composite_components(registry: SearchRegistry) -> None:
    param = registry.get("Observation", "code-value-quantity")
    assert param is not None
    assert param.type == "composite"
    assert param.multiple_or is False
    assert param.components == (
        ComponentDef(SP + "clinical-code", "code"),
        ComponentDef(SP + "Observation-value-quantity", "value.ofType(Quantity)"),
    )
    parts = [registry.by_url(c.definition) for c in param.components]
    assert [p.type for p in parts if p is not None] == ["token", "quantity"]


def test_erratum_is_applied(registry: SearchRegistry) -> None:
    param = registry.get("Observation", "code-value-date")
    assert param is not None
    assert param.components[1].expression == "value.ofType(dateTime) | value.ofType(Period)"


CUSTOM = {
    "resourceType": "SearchParameter",
    "url": "http://example.org/SearchParameter/patient-nickname",
    "code": "nickname",
    "base": ["Patient"],
    "type": "string",
    "expression": "Patient.name.where(use='nickname').given",
}


def test_with_custom_adds_without_changing_the_original(registry: SearchRegistry) -> None:
    custom = registry.with_custom([CUSTOM])
    added = custom.get("Patient", "nickname")
    assert added is not None and added.expression == CUSTOM["expression"]
    assert registry.get("Patient", "nickname") is None
    assert len(custom) == len(registry) + 1


def test_with_custom_replaces_same_url_and_shadows_same_code(registry: SearchRegistry) -> None:
    family = registry.get("Patient", "family")
    assert family is not None
    replacement = SearchParameterDef(
        code="family", url=family.url, type="string", base=("Patient",), expression="Patient.name"
    )
    custom = registry.with_custom([replacement])
    assert custom.get("Patient", "family") == replacement
    assert custom.get("Practitioner", "family") is None  # the replaced one had both bases
    assert len(custom) == len(registry)


@pytest.mark.parametrize(
    "change",
    [
        {"type": "fuzzy"},
        {"base": ["NotAType"]},
        {"code": ""},
        {"url": None},
        {"type": "composite"},
    ],
)
def test_invalid_custom_parameters_are_refused(
    registry: SearchRegistry, change: dict[str, object]
) -> None:
    with pytest.raises(InvalidSearchParameter):
        registry.with_custom([{**CUSTOM, **change}])


class TestPatientCompartment:
    def test_params_per_type(self) -> None:
        compartment = default_patient_compartment()
        assert compartment.params_for("Observation") == ("subject", "performer")
        assert compartment.params_for("Organization") == ()
        assert "Encounter" in compartment.resource_types

    def test_compartment_params_exist_in_the_registry(self, registry: SearchRegistry) -> None:
        compartment = default_patient_compartment()
        for resource_type in compartment.resource_types:
            for code in compartment.params_for(resource_type):
                assert registry.get(resource_type, code) is not None, (resource_type, code)

    def test_patient_ids_from_entries(self) -> None:
        compartment = default_patient_compartment()
        entries: list[IndexEntry] = [
            ReferenceEntry("subject", "Patient", "p1", None, None, None, None),
            ReferenceEntry("performer", "Patient", "p2", None, None, None, None),
            ReferenceEntry("performer", "Practitioner", "d1", None, None, None, None),
            ReferenceEntry("encounter", "Patient", "p3", None, None, None, None),  # not linking
            TokenEntry("subject", None, "p4", None),
        ]
        assert compartment.patient_ids("Observation", "o1", entries) == {"p1", "p2"}
        assert compartment.patient_ids("Patient", "p9", []) == {"p9"}
