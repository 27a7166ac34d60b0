"""Each kind of assert, holding and not holding, against a live stub server."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from conformance.runner import ScriptResult
from tests.unit.conformance.conformance_stub import StubFhirServer
from tests.unit.conformance.helpers import PATIENT, check, fixture, messages, op, results, scripted

Write = Callable[..., Path]
Run = Callable[..., ScriptResult]

US_CORE = "http://example.org/StructureDefinition/us-core-patient"
PROFILE_SD = {
    "resourceType": "StructureDefinition",
    "url": US_CORE,
    "type": "Patient",
    "snapshot": {
        "element": [
            {"id": "Patient", "path": "Patient", "min": 0, "max": "*"},
            {"id": "Patient.identifier", "path": "Patient.identifier", "min": 1, "max": "*"},
            {"id": "Patient.name", "path": "Patient.name", "min": 1, "max": "*"},
            {"id": "Patient.photo", "path": "Patient.photo", "min": 0, "max": "0"},
            {"id": "Patient.name.family", "path": "Patient.name.family", "min": 1, "max": "1"},
        ]
    },
}
FILES = {
    "patient.json": PATIENT,
    "minimum.json": {"resourceType": "Patient", "name": [{"family": "Chalmers"}]},
    "too-much.json": {"resourceType": "Patient", "name": [{"family": "Someone Else"}]},
    "bad-patient.json": {"resourceType": "Patient", "gender": 5},
    "sd.json": PROFILE_SD,
    "uscore.json": dict(PATIENT, identifier=[{"system": "urn:mrn", "value": "12345"}]),
    "bundle.json": {"resourceType": "Bundle", "type": "searchset", "total": 4, "link": []},
}
FIXTURES = [
    fixture("pat", "patient.json"),
    fixture("min", "minimum.json"),
    fixture("too-much", "too-much.json"),
    fixture("bad", "bad-patient.json"),
    fixture("bundle", "bundle.json"),
    fixture("uscore", "uscore.json"),
]
PROFILES = [
    {"id": "base-patient", "reference": "http://hl7.org/fhir/StructureDefinition/Patient"},
    {"id": "base-bundle", "reference": "http://hl7.org/fhir/StructureDefinition/Bundle"},
    {"id": "us-core", "reference": "sd.json"},
    {"id": "missing", "reference": "profiles/nowhere.json"},
]

# (assert that holds, assert on the same subject that does not), after reading Patient/example
PAIRS: list[tuple[dict[str, Any], dict[str, Any]]] = [
    (check(response="okay"), check(response="notFound")),
    (check(responseCode="200"), check(responseCode="201")),
    (check(responseCode="200,204", operator="in"), check(responseCode="400,404", operator="in")),
    (check(contentType="json"), check(contentType="xml")),
    (check(headerField="ETag", value='W/"1"'), check(headerField="ETag", value='W/"2"')),
    (
        check(headerField="Last-Modified", operator="notEmpty"),
        check(headerField="X-None", operator="notEmpty"),
    ),
    (check(headerField="Location", operator="empty"), check(headerField="ETag", operator="empty")),
    (check(resource="Patient"), check(resource="Observation")),
    (
        check(expression="Patient.name.first().family", value="Chalmers"),
        check(expression="Patient.name.first().family", value="Smith"),
    ),
    (check(expression="Patient.active"), check(expression="Patient.active.not()")),
    (
        check(expression="Patient.name.given.count() > 2", operator="eval"),
        check(expression="Patient.name.given.count() > 3", operator="eval"),
    ),
    (
        check(expression="Patient.birthDate", operator="greaterThan", value="1970-01-01"),
        check(expression="Patient.birthDate", operator="lessThan", value="1970-01-01"),
    ),
    (
        check(expression="Patient.gender", operator="in", value="male,female"),
        check(expression="Patient.gender", operator="notIn", value="male,female"),
    ),
    (
        check(expression="Patient.name.given", operator="contains", value="Jim"),
        check(expression="Patient.name.given", operator="notContains", value="Jim"),
    ),
    (
        check(expression="Patient.deceased", operator="empty"),
        check(expression="Patient.gender", operator="empty"),
    ),
    (
        check(path="fhir:Patient/fhir:gender/@value", value="male"),
        check(path="fhir:Patient/fhir:gender/@value", operator="notEquals", value="male"),
    ),
    (
        check(path="$.name[1].given[0]", value="Jim"),
        check(path="$.name[1].given[0]", value="Peter"),
    ),
    (check(minimumId="min"), check(minimumId="too-much")),
    (check(validateProfileId="base-patient"), check(validateProfileId="base-bundle")),
    (
        check(validateProfileId="us-core", sourceId="uscore"),
        check(validateProfileId="us-core", sourceId="too-much"),
    ),
    (
        check(
            compareToSourceId="pat",
            compareToSourceExpression="Patient.name",
            expression="Patient.name",
        ),
        check(
            compareToSourceId="too-much",
            compareToSourceExpression="Patient.name.family",
            expression="Patient.name.family",
        ),
    ),
    (
        check(
            compareToSourceId="pat",
            compareToSourcePath="fhir:Patient/fhir:gender/@value",
            path="fhir:Patient/fhir:gender/@value",
        ),
        check(
            compareToSourceId="too-much",
            compareToSourcePath="fhir:Patient/fhir:name/fhir:family/@value",
            path="fhir:Patient/fhir:name/fhir:family/@value",
        ),
    ),
    (check(requestMethod="get"), check(requestMethod="post")),
    (check(requestURL="Patient/example"), check(requestURL="Patient/other")),
    (
        check(direction="request", headerField="Accept", value="application/fhir+json"),
        check(direction="request", headerField="Content-Type", operator="notEmpty"),
    ),
    (
        check(responseCode="20", operator="contains"),
        check(responseCode="20", operator="notContains"),
    ),
]


def _run_pairs(
    stub: StubFhirServer, write: Write, run: Run, pairs: list[tuple[dict[str, Any], dict[str, Any]]]
) -> dict[str, Any]:
    stub.put(PATIENT)
    read = op("read", resource="Patient", params="/example")
    # One test per assert, so a failing one does not skip the next.
    tests = [[read, good] for good, _ in pairs] + [[read, bad] for _, bad in pairs]
    resource = scripted(tests=tests, fixture=FIXTURES, profile=PROFILES)
    return run(write(resource, FILES)).report


def test_every_kind_of_assert_passes_and_fails(
    stub: StubFhirServer, write: Write, run: Run
) -> None:
    report = _run_pairs(stub, write, run, PAIRS)
    count = len(PAIRS)
    for index in range(count):
        assert results(report, index) == ["pass", "pass"], messages(report, index)
        assert results(report, count + index) == ["pass", "fail"], messages(report, count + index)
    assert report["result"] == "fail"


def test_messages_say_what_was_expected_and_what_came(
    stub: StubFhirServer, write: Write, run: Run
) -> None:
    report = _run_pairs(stub, write, run, PAIRS)
    failures = [messages(report, len(PAIRS) + i)[1] for i in range(len(PAIRS))]
    assert "response: expected equals 'notFound', got 'okay' (HTTP 200)" in failures[0]
    assert "responseCode: expected equals '201', got '200'" in failures[1]
    assert "minimumId too-much: not contained; Patient.name[0]: no matching item" in failures[17]
    assert "is for Bundle, got Patient" in failures[18]
    assert "identifier is required" in failures[19] and "name is required" not in failures[19]


def test_structure_is_checked_for_base_profiles(
    stub: StubFhirServer, write: Write, run: Run
) -> None:
    pairs = [
        (
            check(validateProfileId="base-patient", sourceId="pat"),
            check(validateProfileId="base-patient", sourceId="bad"),
        )
    ]
    report = _run_pairs(stub, write, run, pairs)
    assert results(report, 0) == ["pass", "pass"]
    assert "checked: type and structure" in messages(report, 0)[1]
    assert results(report, 1) == ["pass", "fail"]
    assert "gender" in messages(report, 1)[1]


def test_navigation_links(stub: StubFhirServer, write: Write, run: Run) -> None:
    search = op("search", resource="Patient")
    tests = [
        [search, check(navigationLinks=True)],
        [search, check(navigationLinks=True, sourceId="bundle")],
        [search, check(navigationLinks=False, sourceId="bundle")],
    ]
    report = run(write(scripted(tests=tests, fixture=FIXTURES), FILES)).report
    assert [results(report, i) for i in range(3)] == [
        ["pass", "pass"],
        ["pass", "fail"],
        ["pass", "pass"],
    ]
    assert "no 'self' link" in messages(report, 1)[1]


@pytest.mark.parametrize(
    ("spec", "why"),
    [
        ({"label": "empty"}, "names nothing to check"),
        ({"response": "okay", "operator": "like"}, "unknown operator 'like'"),
        ({"minimumId": "unknown"}, "no fixture, responseId or requestId 'unknown'"),
        ({"validateProfileId": "nope"}, "no TestScript.profile with id 'nope'"),
        ({"validateProfileId": "missing"}, "not found"),
        ({"expression": "Patient.name.where("}, "is not well formed"),
        # fhirpathpy alone reads these as `Patient.gender`, and the assert passed
        ({"expression": "Patient.gender xyz", "value": "male"}, "unexpected 'xyz'"),
        ({"expression": "Patient.gender = = 'male'"}, "is not well formed"),
        ({"path": "$..family", "value": "Chalmers"}, "recursive descent (..) is not supported"),
        ({"path": "$.name[?(@.use=='usual')].given", "value": "Jim"}, "unsupported JSONPath"),
        (
            {"compareToSourceId": "pat", "expression": "Patient.id"},
            "needs compareToSourceExpression or compareToSourcePath",
        ),
        ({"compareToSourceId": "pat"}, "needs an expression, path or headerField"),
        ({"response": "okay", "sourceId": "pat"}, "is a fixture, not an HTTP exchange"),
        ({"value": "${nothing}", "expression": "Patient.id"}, "'nothing' is not defined"),
    ],
)
def test_asserts_that_cannot_be_evaluated_are_errors(
    stub: StubFhirServer, write: Write, run: Run, spec: dict[str, Any], why: str
) -> None:
    stub.put(PATIENT)
    tests = [[op("read", resource="Patient", params="/example"), check(**spec)]]
    report = run(write(scripted(tests=tests, fixture=FIXTURES, profile=PROFILES), FILES)).report
    assert results(report, 0) == ["pass", "error"]
    assert why in messages(report, 0)[1]


def test_an_assert_before_any_operation_is_an_error(write: Write, run: Run) -> None:
    report = run(write(scripted(tests=[[check(response="okay")]]))).report
    assert results(report, 0) == ["error"]
    assert "no operation has run yet" in messages(report, 0)[0]


def test_labels_and_descriptions_are_in_the_messages(
    stub: StubFhirServer, write: Write, run: Run
) -> None:
    tests = [
        [
            op("capabilities", label="GetMetadata", description="Read the capabilities."),
            check(label="IsOk", description="HTTP 200.", response="okay"),
        ]
    ]
    report = run(write(scripted(tests=tests))).report
    first, second = messages(report, 0)
    assert first.startswith("GetMetadata: GET ") and first.endswith("(Read the capabilities.)")
    assert second == "IsOk: response: expected equals 'okay', got 'okay' (HTTP 200) (HTTP 200.)"
