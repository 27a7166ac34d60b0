"""Selecting values with FHIRPath, XPath and JSONPath (conformance.paths)."""

from __future__ import annotations

import pytest

from conformance.content import Content, serialize
from conformance.paths import PathError, evaluate_expression, evaluate_path, to_text
from tests.unit.conformance.helpers import PATIENT

BUNDLE = {
    "resourceType": "Bundle",
    "type": "searchset",
    "total": 2,
    "entry": [{"resource": PATIENT}, {"resource": dict(PATIENT, id="other")}],
}


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("fhir:Patient/fhir:name/fhir:family/@value", ["Chalmers"]),
        ("Patient/id", ["example"]),  # no prefix, no @value: the primitive itself
        ("/fhir:Patient/fhir:name[2]/fhir:given/@value", ["Jim"]),
        ("fhir:Patient/fhir:name/fhir:given/@value", ["Peter", "James", "Jim"]),
        ("fhir:Patient/fhir:active/@value", ["true"]),
        ("fhir:Patient/fhir:deceasedBoolean/@value", []),
        ("$.name[0].family", ["Chalmers"]),
        (".id", ["example"]),
        ("name[*].use", ["official", "usual"]),
        ("Patient.birthDate", ["1974-12-25"]),
    ],
)
def test_simple_paths_walk_the_json_form(path: str, expected: list[str]) -> None:
    assert evaluate_path(path, Content(PATIENT)) == expected


def test_xpath_steps_through_the_wrapper_of_a_nested_resource() -> None:
    path = "fhir:Bundle/fhir:entry[2]/fhir:resource/fhir:Patient/fhir:id/@value"
    assert evaluate_path(path, Content(BUNDLE)) == ["other"]


def test_complex_xpath_runs_on_the_xml_form() -> None:
    path = "fhir:Patient/fhir:name[fhir:use/@value='usual']/fhir:given/@value"
    assert evaluate_path(path, Content(PATIENT)) == ["Jim"]
    assert evaluate_path("count(//fhir:given)", Content(PATIENT)) == ["3"]


def test_complex_xpath_prefers_the_original_xml_bytes() -> None:
    xml = serialize(PATIENT, "application/fhir+xml")
    content = Content({"resourceType": "Patient"}, xml)  # the JSON form is deliberately thin
    assert evaluate_path("//fhir:family/@value", content) == ["Chalmers"]


def test_bad_paths_are_reported() -> None:
    with pytest.raises(PathError):
        evaluate_path("$..name{", Content(PATIENT))
    with pytest.raises(PathError):
        evaluate_path("//fhir:name[", Content(PATIENT))
    with pytest.raises(PathError):
        evaluate_path("  ", Content(PATIENT))


def test_fhirpath_uses_the_r4_model() -> None:
    observation = {"resourceType": "Observation", "valueQuantity": {"value": 6.3}}
    values = evaluate_expression("Observation.value.value", Content(observation))
    assert [to_text(v) for v in values] == ["6.3"]
    assert evaluate_expression("Bundle.total.toInteger() >= entry.count()", Content(BUNDLE)) == [
        True
    ]
    with pytest.raises(PathError):
        evaluate_expression("Patient.name.where(", Content(PATIENT))


def test_text_forms_follow_fhir_json() -> None:
    assert to_text(True) == "true"
    assert to_text(5) == "5"
    assert to_text(5.0) == "5.0"
    assert to_text({"b": 1, "a": [2]}) == '{"a":[2],"b":1}'
